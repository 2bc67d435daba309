import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueryError } from './errors.ts';
import { evaluateFilter, parseFilter, type FilterSchema } from './filter.ts';
import { decodeSkipToken, encodeSkipToken, nextLink, pageOf, parseMaxResults } from './paging.ts';

const schema: FilterSchema = {
  id: 'string',
  state: 'enum',
  'executionInfo/exitCode': 'number',
  creationTime: 'date',
  isDedicated: 'boolean',
};
const tasks = [
  { id: 'pool-a', state: 'active', creationTime: '2024-01-01T00:00:00Z', isDedicated: true },
  { id: 'pool-b', state: 'completed', executionInfo: { exitCode: 3 }, creationTime: '2024-02-01T00:00:00Z' },
  { id: "o'brien", state: 'Running', executionInfo: { exitCode: 0 }, creationTime: '2024-03-01T00:00:00Z' },
];
const ids = (text: string) => {
  const f = parseFilter(text, schema);
  return tasks.filter((t) => evaluateFilter(f, t)).map((t) => t.id);
};
const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof QueryError);
    return e.reason;
  }
  return 'no error';
};

test('comparisons, boolean logic, functions and literals', () => {
  assert.deepEqual(ids("state eq 'active'"), ['pool-a']);
  assert.deepEqual(ids("(state eq 'ACTIVE') or (state eq 'running')"), ['pool-a', "o'brien"]);
  assert.deepEqual(ids("startswith(id,'pool-')"), ['pool-a', 'pool-b']);
  assert.deepEqual(ids("startswith(id, 'pool-') eq false"), ["o'brien"]);
  assert.deepEqual(ids("executionInfo/exitCode ne 0 and state eq 'completed'"), ['pool-b']);
  assert.deepEqual(ids("not (state eq 'active')"), ['pool-b', "o'brien"]);
  assert.deepEqual(ids("creationTime ge datetime'2024-02-01T00:00:00Z'"), ['pool-b', "o'brien"]);
  assert.deepEqual(ids("id eq 'o''brien'"), ["o'brien"]);
  assert.deepEqual(ids('executionInfo/exitCode eq null'), ['pool-a']);
  assert.deepEqual(ids('executionInfo/exitCode gt -1 and isDedicated ne true'), ['pool-b', "o'brien"]);
});

test('errors name the problem', () => {
  assert.match(
    reason(() => parseFilter("foo eq 'x'", schema)),
    /'foo' cannot be used/,
  );
  assert.match(
    reason(() => parseFilter('state eq 5', schema)),
    /does not match the type/,
  );
  assert.match(
    reason(() => parseFilter("state eq 'a' and", schema)),
    /end of the filter/,
  );
  assert.match(
    reason(() => parseFilter("state xx 'a'", schema)),
    /position 6/,
  );
  assert.match(
    reason(() => parseFilter("state eq 'a", schema)),
    /unterminated/,
  );
  assert.match(
    reason(() => parseFilter('x'.repeat(5000), schema)),
    /longer than/,
  );
  assert.match(
    reason(() => parseFilter(`${'('.repeat(40)}state eq 'a'${')'.repeat(40)}`, schema)),
    /nested too deeply/,
  );
});

test('maxresults, skip tokens and next links', () => {
  assert.equal(parseMaxResults(undefined, { max: 10, default: 10 }), 10);
  assert.equal(parseMaxResults('3', { max: 10, default: 10 }), 3);
  assert.throws(
    () => parseMaxResults('11', { max: 10, default: 10 }),
    (e: QueryError) => e.kind === 'out-of-range',
  );
  assert.throws(
    () => parseMaxResults('x', { max: 10, default: 10 }),
    (e: QueryError) => e.kind === 'invalid',
  );
  assert.throws(() => decodeSkipToken('garbage!'), QueryError);
  const items = ['a', 'b', 'c', 'd', 'e'];
  const seen: string[] = [];
  let after: string | undefined;
  let pages = 0;
  const url = new URL("https://h/batch/acct/pools?api-version=1&$filter=state eq 'x'&maxresults=2");
  do {
    const { page, nextAfter } = pageOf(items, (s) => s, 2, after);
    seen.push(...page);
    pages++;
    if (nextAfter === undefined) break;
    const link = new URL(nextLink(url, encodeSkipToken(nextAfter)));
    assert.equal(link.searchParams.get('api-version'), '1');
    assert.equal(link.searchParams.get('$filter'), "state eq 'x'");
    after = decodeSkipToken(link.searchParams.get('$skiptoken') ?? '');
  } while (pages < 10);
  assert.deepEqual(seen, items);
  assert.equal(pages, 3);
});
