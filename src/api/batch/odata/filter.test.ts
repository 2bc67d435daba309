import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FilterError, QueryError } from './errors.ts';
import { evaluateFilter, parseFilter, parseIsoDate, type FilterSchema } from './filter.ts';

const schema: FilterSchema = {
  id: 'string',
  state: 'enum',
  'executionInfo/exitCode': 'number',
  'startTaskInfo/state': 'enum',
  creationTime: 'date',
  isDedicated: 'boolean',
  priority: 'number',
};

const entities = [
  {
    id: 'pool-a',
    state: 'active',
    creationTime: '2024-01-01T00:00:00Z',
    isDedicated: true,
    priority: 100,
    startTaskInfo: { state: 'completed' },
  },
  {
    id: 'pool-b',
    state: 'completed',
    executionInfo: { exitCode: 3 },
    creationTime: '2024-02-01T00:00:00.1234567Z',
    isDedicated: false,
    priority: -10,
  },
  {
    id: "o'brien",
    state: 'Running',
    executionInfo: { exitCode: 0 },
    creationTime: '2024-03-01T12:30:00Z',
    priority: 0.5,
    startTaskInfo: { state: 'running' },
  },
  { id: 'Pool-C', state: 'idle', executionInfo: { exitCode: null }, creationTime: 'not a date' },
];

const ids = (text: string) => {
  const f = parseFilter(text, schema);
  return entities.filter((e) => evaluateFilter(f, e)).map((e) => e.id);
};

const failure = (text: string): FilterError => {
  try {
    parseFilter(text, schema);
  } catch (e) {
    assert.ok(e instanceof FilterError, `expected FilterError, got ${String(e)}`);
    assert.ok(e instanceof QueryError);
    assert.equal(e.parameter, '$filter');
    assert.equal(e.kind, 'invalid');
    return e;
  }
  return assert.fail(`expected ${text} to be refused`);
};

describe('parseFilter / evaluateFilter', () => {
  test('equality on enums is case-insensitive', () => {
    assert.deepEqual(ids("state eq 'active'"), ['pool-a']);
    assert.deepEqual(ids("state eq 'ACTIVE'"), ['pool-a']);
    assert.deepEqual(ids("state eq 'running'"), ["o'brien"]);
    assert.deepEqual(ids("state ne 'active'"), ['pool-b', "o'brien", 'Pool-C']);
  });

  test('equality on strings is case-sensitive', () => {
    assert.deepEqual(ids("id eq 'pool-a'"), ['pool-a']);
    assert.deepEqual(ids("id eq 'POOL-A'"), []);
  });

  test('keywords, operators and property names are case-insensitive', () => {
    assert.deepEqual(ids("STATE EQ 'idle' OR Id Eq 'pool-a'"), ['pool-a', 'Pool-C']);
    assert.deepEqual(ids("NOT (state eq 'idle') AND StartsWith(ID,'pool')"), ['pool-a', 'pool-b']);
  });

  test('or with parentheses', () => {
    assert.deepEqual(ids("(state eq 'idle') or (state eq 'running')"), ["o'brien", 'Pool-C']);
  });

  test('and binds tighter than or', () => {
    assert.deepEqual(ids("state eq 'idle' or state eq 'active' and isDedicated eq false"), ['Pool-C']);
    assert.deepEqual(ids("(state eq 'idle' or state eq 'active') and isDedicated eq true"), ['pool-a']);
  });

  test('startswith, with and without a boolean comparison', () => {
    assert.deepEqual(ids("startswith(id,'pool-')"), ['pool-a', 'pool-b']);
    assert.deepEqual(ids("startswith(id, 'pool-') eq true"), ['pool-a', 'pool-b']);
    assert.deepEqual(ids("startswith(id, 'pool-') eq false"), ["o'brien", 'Pool-C']);
    assert.deepEqual(ids("startswith(id, 'pool-') ne true"), ["o'brien", 'Pool-C']);
    assert.deepEqual(ids("startswith(state,'RUN')"), ["o'brien"]);
    assert.deepEqual(ids("startswith(id,'')"), ['pool-a', 'pool-b', "o'brien", 'Pool-C']);
  });

  test('nested paths', () => {
    assert.deepEqual(ids("executionInfo/exitCode ne 0 and state eq 'completed'"), ['pool-b']);
    assert.deepEqual(ids('executionInfo/exitCode eq 0'), ["o'brien"]);
    assert.deepEqual(ids("startTaskInfo/state eq 'Completed'"), ['pool-a']);
    assert.deepEqual(ids('ExecutionInfo/ExitCode gt 0'), ['pool-b']);
  });

  test('not', () => {
    assert.deepEqual(ids("not (state eq 'active')"), ['pool-b', "o'brien", 'Pool-C']);
    assert.deepEqual(ids("not(state eq 'active')"), ['pool-b', "o'brien", 'Pool-C']);
    assert.deepEqual(ids("not not (state eq 'active')"), ['pool-a']);
    assert.deepEqual(ids("not state eq 'active'"), ['pool-b', "o'brien", 'Pool-C']);
  });

  test('missing values compare as null', () => {
    assert.deepEqual(ids('executionInfo/exitCode eq null'), ['pool-a', 'Pool-C']);
    assert.deepEqual(ids('executionInfo/exitCode ne null'), ['pool-b', "o'brien"]);
    assert.deepEqual(ids('executionInfo/exitCode lt 100'), ['pool-b', "o'brien"]);
    assert.deepEqual(ids('executionInfo/exitCode ge null'), []);
    assert.deepEqual(ids('not (executionInfo/exitCode gt 0)'), ['pool-a', "o'brien", 'Pool-C']);
  });

  test('numbers: negative, decimal, type suffixes', () => {
    assert.deepEqual(ids('priority lt 0'), ['pool-b']);
    assert.deepEqual(ids('priority ge -10 and priority le 0.5'), ['pool-b', "o'brien"]);
    assert.deepEqual(ids('priority eq 0.5'), ["o'brien"]);
    assert.deepEqual(ids('priority eq 100L'), ['pool-a']);
    assert.deepEqual(ids('priority gt 1e1'), ['pool-a']);
  });

  test('booleans, including a bare boolean property', () => {
    assert.deepEqual(ids('isDedicated eq true'), ['pool-a']);
    assert.deepEqual(ids('isDedicated eq FALSE'), ['pool-b']);
    assert.deepEqual(ids('isDedicated ne true'), ['pool-b', "o'brien", 'Pool-C']);
    assert.deepEqual(ids('isDedicated'), ['pool-a']);
    assert.deepEqual(ids('not isDedicated'), ['pool-b', "o'brien", 'Pool-C']);
  });

  test('dates: datetime literals and quoted ISO strings', () => {
    assert.deepEqual(ids("creationTime ge datetime'2024-02-01T00:00:00Z'"), ['pool-b', "o'brien"]);
    assert.deepEqual(ids("creationTime gt '2024-02-01T00:00:00Z'"), ['pool-b', "o'brien"]);
    assert.deepEqual(ids("creationTime lt '2024-02-01'"), ['pool-a']);
    assert.deepEqual(ids("creationTime eq datetime'2024-01-01T00:00:00.000Z'"), ['pool-a']);
    assert.deepEqual(ids("creationTime eq datetimeoffset'2024-03-01T13:30:00+01:00'"), ["o'brien"]);
    assert.deepEqual(ids("creationTime eq '2024-03-01T12:30:00'"), ["o'brien"]);
    assert.deepEqual(ids("creationTime gt '2024-02-01T00:00:00.123Z'"), ["o'brien"]);
    // An unparseable stored date is null.
    assert.deepEqual(ids('creationTime eq null'), ['Pool-C']);
  });

  test('escaped quotes in strings', () => {
    assert.deepEqual(ids("id eq 'o''brien'"), ["o'brien"]);
    assert.deepEqual(ids("startswith(id,'o''')"), ["o'brien"]);
    assert.deepEqual(ids("id eq ''''"), []);
  });

  test('whitespace is free-form', () => {
    assert.deepEqual(ids("  ( state   eq\t'active' )  "), ['pool-a']);
  });

  test('evaluates entities that are not objects as all-null', () => {
    const f = parseFilter('executionInfo/exitCode eq null', schema);
    assert.equal(evaluateFilter(f, null), true);
    assert.equal(evaluateFilter(f, 42), true);
    assert.equal(evaluateFilter(f, { executionInfo: 'x' }), true);
  });
});

describe('parseFilter errors', () => {
  test('unknown properties', () => {
    assert.equal(failure("foo eq 'x'").reason, "The property 'foo' cannot be used in a filter.");
    assert.equal(
      failure('executionInfo/foo eq 1').reason,
      "The property 'executionInfo/foo' cannot be used in a filter.",
    );
    assert.equal(failure("endswith(id,'x')").reason, "The function 'endswith' is not supported in a filter.");
  });

  test('type mismatches', () => {
    assert.match(
      failure('state eq 5').reason,
      /value 5 at position 9 cannot be compared with the property 'state'/,
    );
    assert.match(failure("executionInfo/exitCode eq '0'").reason, /'0' at position 26 cannot be compared/);
    assert.match(
      failure("isDedicated eq 'true'").reason,
      /cannot be compared with the property 'isDedicated'/,
    );
    assert.match(failure("id eq datetime'2024-01-01T00:00:00Z'").reason, /cannot be compared/);
    assert.match(failure('creationTime gt 5').reason, /cannot be compared/);
    assert.match(
      failure("startswith(priority,'1')").reason,
      /startswith cannot be used with the property 'priority'/,
    );
  });

  test('invalid dates', () => {
    assert.match(
      failure("creationTime gt 'yesterday'").reason,
      /'yesterday' at position 16 is not a valid datetime/,
    );
    assert.match(failure("creationTime gt datetime'2024-13-01'").reason, /not a valid datetime/);
  });

  test('syntax errors carry 0-based positions', () => {
    assert.equal(
      failure("state xx 'a'").reason,
      'Syntax error at position 6: expected one of eq, ne, gt, ge, lt, le.',
    );
    assert.equal(failure('state eq and').reason, 'Syntax error at position 9: expected a literal.');
    assert.equal(
      failure("state eq 'a' and").reason,
      'Syntax error at the end of the filter: expected a property name.',
    );
    assert.equal(failure("state eq 'a").reason, 'Syntax error at position 9: unterminated string literal.');
    assert.equal(failure("state eq 'a')").reason, 'Syntax error at position 12: unexpected ).');
    assert.equal(failure("(state eq 'a'").reason, "Syntax error at the end of the filter: expected ')'.");
    assert.equal(failure("state eq 'a' 'b'").reason, "Syntax error at position 13: unexpected 'b'.");
    assert.equal(failure("state eq 'a' # x").reason, "Syntax error at position 13: unexpected '#'.");
    assert.equal(failure('priority eq 12abc').reason, 'Syntax error at position 12: invalid number literal.');
    assert.equal(failure('priority eq -').reason, "Syntax error at position 12: unexpected '-'.");
    assert.equal(
      failure('executionInfo/ eq 1').reason,
      "Syntax error at position 14: expected a property name after '/'.",
    );
    assert.equal(failure("startswith(id 'a')").reason, "Syntax error at position 14: expected ','.");
    assert.equal(
      failure('startswith(id,5)').reason,
      'Syntax error at position 14: expected a string literal.',
    );
    assert.equal(
      failure("startswith(id,'a') eq 1").reason,
      'Syntax error at position 22: expected true or false.',
    );
    assert.equal(failure("eq eq 'a'").reason, 'Syntax error at position 0: expected a property name.');
    assert.equal(
      failure("() or state eq 'a'").reason,
      'Syntax error at position 1: expected a property name.',
    );
    assert.equal(
      failure('state').reason,
      'Syntax error at the end of the filter: expected a comparison operator (eq, ne, gt, ge, lt, le).',
    );
  });

  test('empty filters', () => {
    assert.equal(failure('').reason, 'The filter is empty.');
    assert.equal(failure('   ').reason, 'The filter is empty.');
  });

  test('over-long input', () => {
    assert.equal(failure('x'.repeat(4097)).reason, 'The filter is longer than 4096 bytes.');
    // 4096 characters but more than 4096 bytes of UTF-8.
    assert.match(failure(`id eq '${'é'.repeat(3000)}'`).reason, /longer than 4096 bytes/);
    const atLimit = `id eq '${'a'.repeat(4096 - 8)}'`;
    assert.equal(atLimit.length, 4096);
    assert.doesNotThrow(() => parseFilter(atLimit, schema));
  });

  test('nesting deeper than 32', () => {
    const nested = (n: number) => `${'('.repeat(n)}state eq 'a'${')'.repeat(n)}`;
    assert.doesNotThrow(() => parseFilter(nested(31), schema));
    assert.equal(failure(nested(40)).reason, 'The filter is nested more than 32 levels deep.');
    assert.match(failure(`${'not '.repeat(40)}isDedicated`).reason, /nested more than 32/);
    assert.match(failure('('.repeat(2000)).reason, /nested more than 32/);
  });

  test('long flat chains parse and evaluate', () => {
    const chain = Array.from({ length: 150 }, (_, i) => `priority eq ${i}`).join(' or ');
    assert.ok(chain.length < 4096);
    const f = parseFilter(chain, schema);
    assert.equal(evaluateFilter(f, { priority: 149 }), true);
    assert.equal(evaluateFilter(f, { priority: 150 }), false);
  });
});

test('parseIsoDate', () => {
  assert.equal(parseIsoDate('2024-01-01T00:00:00Z'), Date.UTC(2024, 0, 1));
  assert.equal(parseIsoDate('2024-01-01'), Date.UTC(2024, 0, 1));
  assert.equal(parseIsoDate('2024-01-01T01:02:03.4567891Z'), Date.UTC(2024, 0, 1, 1, 2, 3, 456));
  assert.equal(parseIsoDate('2024-01-01T01:00:00+01:00'), Date.UTC(2024, 0, 1));
  assert.equal(parseIsoDate('2024-01-01T00:00'), Date.UTC(2024, 0, 1));
  assert.equal(parseIsoDate('1'), undefined);
  assert.equal(parseIsoDate('Jan 1 2024'), undefined);
});
