import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from './pools.fixture.ts';

const SHARED_KEY = { scheme: 'SharedKey' } as const;
const codeOf = (err: unknown) => (err instanceof DomainError ? err.code : String(err));

describe('node scheduling (disablescheduling / enablescheduling)', () => {
  test('a disabled node is offline, takes no task, gives its running task back; enabled, it runs it', async () => {
    const w = await world();
    await w.pools.add(w.account, SHARED_KEY, tinyPool('p', 1, { startTask: undefined }));
    await w.settle();
    const [node] = (await w.pools.get(w.account, 'p')).nodes;
    assert.ok(node);
    await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j', poolInfo: { poolId: 'p' } });
    await w.tasks.add(w.account.name, 'j', { id: 't', commandLine: '/bin/true' });
    await w.agent.syncOnce(); // the task is handed to the node, not yet reported back
    assert.notEqual((await w.tasks.get(w.account.name, 'j', 't')).state, 'active');

    await w.nodes.disableScheduling(w.account, 'p', node.id, 'requeue');
    const requeued = await w.tasks.get(w.account.name, 'j', 't');
    assert.equal(requeued.state, 'active');
    assert.equal(requeued.executionInfo.requeueCount, 1);
    let after = (await w.nodes.get(w.account, 'p', node.id)).node;
    assert.deepEqual([after.state, after.schedulingState], ['offline', 'disabled']);
    await assert.rejects(
      w.nodes.disableScheduling(w.account, 'p', node.id),
      (e) => codeOf(e) === 'NodeAlreadyInTargetSchedulingState',
    );
    await w.settle();
    assert.equal(
      (await w.tasks.get(w.account.name, 'j', 't')).state,
      'active',
      'not scheduled while disabled',
    );
    assert.equal((await w.nodes.get(w.account, 'p', node.id)).node.state, 'offline');

    await w.nodes.enableScheduling(w.account, 'p', node.id);
    await assert.rejects(
      w.nodes.enableScheduling(w.account, 'p', node.id),
      (e) => codeOf(e) === 'NodeAlreadyInTargetSchedulingState',
    );
    await w.settle();
    assert.equal((await w.tasks.get(w.account.name, 'j', 't')).state, 'completed');
    after = (await w.nodes.get(w.account, 'p', node.id)).node;
    assert.deepEqual([after.state, after.schedulingState], ['idle', 'enabled']);
  });

  test('terminate ends the running task; taskcompletion lets it finish, then the node goes offline', async () => {
    const w = await world();
    await w.pools.add(w.account, SHARED_KEY, tinyPool('p', 1, { startTask: undefined }));
    await w.settle();
    const id = (await w.pools.get(w.account, 'p')).nodes[0]?.id ?? '';
    await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j', poolInfo: { poolId: 'p' } });
    await w.tasks.add(w.account.name, 'j', { id: 'a', commandLine: '/bin/true' });
    await w.agent.syncOnce();
    await w.nodes.disableScheduling(w.account, 'p', id, 'terminate');
    const ended = await w.tasks.get(w.account.name, 'j', 'a');
    assert.deepEqual([ended.state, ended.executionInfo.failureInfo?.code], ['completed', 'TaskEnded']);
    await w.nodes.enableScheduling(w.account, 'p', id);

    await w.tasks.add(w.account.name, 'j', { id: 'b', commandLine: '/bin/true' });
    await w.agent.syncOnce();
    await w.nodes.disableScheduling(w.account, 'p', id, 'taskcompletion');
    assert.equal((await w.nodes.get(w.account, 'p', id)).node.state, 'running', 'still running its task');
    await w.settle();
    assert.equal((await w.tasks.get(w.account.name, 'j', 'b')).executionInfo.result, 'success');
    assert.equal((await w.nodes.get(w.account, 'p', id)).node.state, 'offline');
    await assert.rejects(w.nodes.disableScheduling(w.account, 'q', id), (e) => codeOf(e) === 'PoolNotFound');
  });
});
