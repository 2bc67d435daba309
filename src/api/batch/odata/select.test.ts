import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueryError } from './errors.ts';
import { applySelect, parseSelect } from './select.ts';

const poolProps = ['id', 'displayName', 'state', 'vmSize', 'stats', 'executionInfo'];

const refusal = (text: string): QueryError => {
  try {
    parseSelect(text, poolProps);
  } catch (e) {
    assert.ok(e instanceof QueryError);
    assert.equal(e.parameter, '$select');
    assert.equal(e.kind, 'invalid');
    return e;
  }
  return assert.fail(`expected ${text} to be refused`);
};

test('parseSelect returns canonical names, trimmed and deduplicated', () => {
  assert.deepEqual(parseSelect('id,state', poolProps), ['id', 'state']);
  assert.deepEqual(parseSelect(' ID , DisplayName,vmsize ', poolProps), ['id', 'displayName', 'vmSize']);
  assert.deepEqual(parseSelect('state,id,STATE', poolProps), ['state', 'id']);
});

test('parseSelect: absent, blank and * select everything', () => {
  assert.equal(parseSelect(undefined, poolProps), undefined);
  assert.equal(parseSelect('', poolProps), undefined);
  assert.equal(parseSelect('  ', poolProps), undefined);
  assert.equal(parseSelect('*', poolProps), undefined);
});

test("parseSelect refuses unknown names (also as a path's first segment), bad segments and empty names", () => {
  assert.equal(refusal('id,foo').reason, "The property 'foo' cannot be selected.");
  assert.equal(refusal('nodeInfo/nodeId').reason, "The property 'nodeInfo/nodeId' cannot be selected.");
  assert.equal(refusal('stats/').reason, "The property 'stats/' cannot be selected.");
  assert.equal(refusal('id,').reason, 'The select list contains an empty property name.');
  assert.equal(refusal(',id').reason, 'The select list contains an empty property name.');
});

test('applySelect keeps only the selected keys, as a shallow copy', () => {
  const pool = {
    id: 'p',
    state: 'active',
    vmSize: 'standard_d2s_v3',
    stats: { usage: 1 },
    displayName: undefined,
  };
  const selected = applySelect(pool, ['id', 'stats', 'displayName', 'executionInfo']);
  assert.deepEqual(selected, { id: 'p', stats: { usage: 1 } });
  assert.equal(selected.stats, pool.stats);
  assert.deepEqual(Object.keys(selected), ['id', 'stats']);
});

test('applySelect with nothing selected copies every key', () => {
  const pool = { id: 'p', state: 'active' };
  const copy = applySelect(pool, undefined);
  assert.deepEqual(copy, pool);
  assert.notEqual(copy, pool);
});

test('applySelect does not read inherited keys', () => {
  const entity = Object.create({ inherited: 1 }) as Record<string, unknown>;
  entity.id = 'x';
  assert.deepEqual(applySelect(entity, ['id', 'inherited', 'toString']), { id: 'x' });
});

test('parseSelect and applySelect together', () => {
  const wire: Record<string, unknown> = {
    id: 'job-1',
    state: 'active',
    priority: 0,
    url: 'https://x/jobs/job-1',
  };
  const sel = parseSelect('Id,Priority', ['id', 'state', 'priority', 'url']);
  assert.deepEqual(applySelect(wire, sel), { id: 'job-1', priority: 0 });
});

test('nested paths: executionInfo/exitCode keeps that one property of executionInfo', () => {
  const taskProps = ['id', 'state', 'executionInfo', 'nodeInfo'];
  assert.deepEqual(parseSelect('ID, executionInfo/exitCode,executioninfo/result', taskProps), [
    'id',
    'executionInfo/exitCode',
    'executionInfo/result',
  ]);
  const task = {
    id: 't',
    state: 'completed',
    executionInfo: { exitCode: 3, result: 'failure', retryCount: 0 },
    nodeInfo: { nodeId: 'n' },
  };
  assert.deepEqual(applySelect(task, ['id', 'executionInfo/exitCode', 'executionInfo/result']), {
    id: 't',
    executionInfo: { exitCode: 3, result: 'failure' },
  });
  assert.deepEqual(applySelect(task, ['executionInfo', 'executionInfo/exitCode']), {
    executionInfo: task.executionInfo,
  });
  assert.deepEqual(applySelect(task, ['nodeInfo/poolId', 'id']), { id: 't' }, 'a missing leaf is left out');
});
