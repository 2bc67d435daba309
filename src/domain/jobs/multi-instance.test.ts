import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from '../pools/pools.fixture.ts';

const SHARED_KEY = { scheme: 'SharedKey' } as const;
const refusal = (e: unknown) =>
  e instanceof DomainError ? `${e.code} ${e.values.PropertyName ?? e.target ?? ''}` : String(e);
const mpi = (id: string, numberOfInstances: number) => ({
  id,
  commandLine: '/bin/true',
  multiInstanceSettings: { numberOfInstances, coordinationCommandLine: '/bin/true' },
});

/** A world with a 3-node pool (inter-node communication unless told otherwise, one slot per node) and job `j`. */
async function mpiWorld(extra: Record<string, unknown> = { enableInterNodeCommunication: true }) {
  const w = await world();
  await w.pools.add(w.account, SHARED_KEY, tinyPool('p', 3, { startTask: undefined, ...extra }));
  await w.settle();
  await w.jobs.add(w.account, SHARED_KEY, { id: 'j', poolInfo: { poolId: 'p' } });
  return w;
}

describe('multi-instance tasks (simulated nodes)', () => {
  test('a 3-instance task takes the three nodes at once and completes with its primary', async () => {
    const w = await mpiWorld();
    await w.tasks.add(w.account.name, 'j', mpi('m', 3));
    await w.agent.syncOnce();
    const claimed = await w.tasks.get(w.account.name, 'j', 'm');
    assert.equal(claimed.state, 'preparing');
    const subtasks = await w.tasks.subtasks(w.account.name, 'j', 'm');
    const nodes = (await w.pools.get(w.account, 'p')).nodes.map((n) => n.id).sort();
    assert.deepEqual(
      [claimed.nodeInfo?.nodeId, ...subtasks.map((s) => s.nodeId)].sort(),
      nodes,
      'primary and two subtasks on three different nodes',
    );
    assert.deepEqual(
      subtasks.map((s) => s.id),
      [1, 2],
    );
    await w.settle();
    const done = await w.tasks.get(w.account.name, 'j', 'm');
    assert.deepEqual([done.state, done.executionInfo.result], ['completed', 'success']);
    const ended = await w.tasks.subtasks(w.account.name, 'j', 'm');
    assert.deepEqual(
      ended.map((s) => [s.state, s.exitCode]),
      [
        ['completed', 0],
        ['completed', 0],
      ],
    );
    const states = (await w.pools.get(w.account, 'p')).nodes.map((n) => n.state);
    assert.deepEqual(states, ['idle', 'idle', 'idle'], 'every node is free again');
  });

  test('gang scheduling: two 2-instance tasks on three nodes never hold nodes half-way', async () => {
    const w = await mpiWorld();
    await w.tasks.addCollection(w.account.name, 'j', [mpi('a', 2), mpi('b', 2)]);
    await w.agent.syncOnce();
    const [a, b] = await Promise.all(['a', 'b'].map((id) => w.tasks.get(w.account.name, 'j', id)));
    assert.deepEqual([a?.state, b?.state], ['preparing', 'active']);
    assert.equal((await w.tasks.subtasks(w.account.name, 'j', 'b')).length, 0, 'b holds no node');
    await w.settle();
    for (const id of ['a', 'b'])
      assert.equal((await w.tasks.get(w.account.name, 'j', id)).executionInfo.result, 'success');
  });

  test('without inter-node communication, or with more instances than nodes, the task stays active', async () => {
    const w = await mpiWorld({});
    await w.tasks.add(w.account.name, 'j', mpi('no-inc', 2));
    await w.tasks.add(w.account.name, 'j', { id: 'plain', commandLine: '/bin/true' });
    await w.settle();
    assert.equal((await w.tasks.get(w.account.name, 'j', 'plain')).state, 'completed');
    assert.equal((await w.tasks.get(w.account.name, 'j', 'no-inc')).state, 'active');

    const v = await mpiWorld();
    await v.tasks.add(v.account.name, 'j', mpi('four', 4));
    await v.settle();
    assert.equal((await v.tasks.get(v.account.name, 'j', 'four')).state, 'active');
    assert.deepEqual(await v.tasks.subtasks(v.account.name, 'j', 'four'), []);
  });

  test('bad settings are refused with the property named', async () => {
    const w = await mpiWorld();
    const add = (body: Record<string, unknown>) => w.tasks.add(w.account.name, 'j', body);
    await assert.rejects(
      add(mpi('zero', 0)),
      (e) => refusal(e) === 'InvalidPropertyValue multiInstanceSettings.numberOfInstances',
    );
    await assert.rejects(
      add({ ...mpi('slots', 2), requiredSlots: 2 }),
      (e) => refusal(e) === 'InvalidPropertyValue requiredSlots',
    );
    await assert.rejects(
      add({ id: 'none', commandLine: 'true', multiInstanceSettings: { numberOfInstances: 2 } }),
      (e) => refusal(e) === 'MissingRequiredProperty multiInstanceSettings.coordinationCommandLine',
    );
    await assert.rejects(
      add({
        ...mpi('files', 2),
        multiInstanceSettings: {
          coordinationCommandLine: 'true',
          commonResourceFiles: [{ httpUrl: 'ftp://x/y', filePath: 'y' }],
        },
      }),
      (e) => refusal(e) === 'InvalidPropertyValue multiInstanceSettings.commonResourceFiles[0].httpUrl',
    );
  });
});
