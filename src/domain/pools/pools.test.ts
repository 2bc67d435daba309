import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { DomainError } from '../errors.ts';
import { preemptNodes } from './preemption.ts';

import { AgentService } from './agent-service.ts';
import { T0, tinyPool, world } from './pools.fixture.ts';

const codeOf = (err: unknown) => (err instanceof DomainError ? err.code : String(err));

describe('pools, the sizer and a host agent (simulated executor)', () => {
  test('a pool of 3 reaches steady with 3 idle nodes whose start task succeeded; resize to 1 removes 2', async () => {
    const w = await world();
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p1', 3));
    await w.settle();
    const { pool, nodes } = await w.pools.get(w.account, 'P1');
    assert.equal(pool.allocationState, 'steady');
    assert.deepEqual(
      nodes.map((n) => n.state),
      ['idle', 'idle', 'idle'],
    );
    assert.equal(nodes[0]?.startTaskInfo?.result, 'success');
    const out = await w.nodes.readFile(w.account, 'p1', nodes[0].id, 'startup/stdout.txt');
    assert.match(await text(out.body), /simulated/);
    await w.pools.resize(w.account, 'p1', { targetDedicatedNodes: 4 });
    await w.sizer.tick();
    assert.equal((await w.pools.get(w.account, 'p1')).pool.allocationState, 'resizing');
    await w.settle();
    assert.equal((await w.pools.get(w.account, 'p1')).nodes.length, 4);
    await w.pools.resize(w.account, 'p1', { targetDedicatedNodes: 1 });
    await assert.rejects(
      w.pools.resize(w.account, 'p1', { targetDedicatedNodes: 2 }),
      (e) => codeOf(e) === 'PoolBeingResized',
    );
    await w.settle();
    const after = await w.pools.get(w.account, 'p1');
    assert.equal(after.pool.allocationState, 'steady');
    assert.equal(after.nodes.length, 1);
    assert.deepEqual(await w.executor.list(), [after.nodes[0]?.id]);
  });

  test("a host's reports about another host's nodes are ignored and named, whatever they claim", async () => {
    const w = await world();
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p1', 1));
    await w.settle();
    const node = (await w.pools.get(w.account, 'p1')).nodes[0];
    assert.ok(node);
    assert.equal(node.state, 'idle');
    const foreign: string[][] = [];
    const other = new AgentService(
      w.ctx,
      (a) => `https://x/batch/${a}`,
      undefined,
      undefined,
      (host, ids) => {
        foreign.push([host, ...ids]);
      },
    );
    const nodeId = node.id;
    const claim = { accountName: w.account.name, poolId: 'p1', nodeId, generation: node.generation };
    const answer = await other.sync({
      hostId: 'h2',
      kind: 'simulated',
      reports: [{ ...claim, state: 'unusable', errors: [{ code: 'X', message: 'forged' }] }],
      taskReports: [
        { ...claim, jobId: 'j', taskId: 't', attempt: 1, state: 'running', startTime: T0 } as never,
      ],
    });
    assert.deepEqual(answer.nodes, [], 'h2 is given none of h1’s nodes');
    assert.deepEqual(foreign, [['h2', nodeId]]);
    const after = (await w.pools.get(w.account, 'p1')).nodes[0];
    assert.equal(after?.state, 'idle', 'the forged report changed nothing');
  });

  test('preempted low-priority nodes lose their sandbox, keep counting, and come back fresh after the delay', async () => {
    const w = await world();
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('lp', 1, { targetLowPriorityNodes: 2 }));
    await w.settle();
    const before = (await w.pools.get(w.account, 'lp')).nodes;
    const low = before.filter((n) => !n.isDedicated).map((n) => n.id);
    const dedicated = before.find((n) => n.isDedicated)?.id ?? '';
    await assert.rejects(
      w.ctx.store.transaction((tx) =>
        preemptNodes(tx, 'lazurite', 'lp', { nodeIds: [dedicated] }, w.clock.now()),
      ),
      (e) => e instanceof DomainError && e.code === 'InvalidPropertyValue',
    );
    const taken = await w.ctx.store.transaction((tx) =>
      preemptNodes(tx, 'lazurite', 'lp', { count: 1 }, w.clock.now()),
    );
    assert.equal(taken.length, 1);
    await w.settle();
    let view = await w.pools.get(w.account, 'lp');
    assert.equal(view.pool.allocationState, 'resizing');
    assert.equal(view.nodes.length, 3);
    assert.equal(view.nodes.find((n) => n.id === taken[0]?.id)?.state, 'preempted');
    assert.ok(!(await w.executor.list()).includes(taken[0]?.id ?? ''), 'its sandbox is gone');
    w.clock.advance(60_000);
    await w.settle();
    view = await w.pools.get(w.account, 'lp');
    assert.equal(view.pool.allocationState, 'steady');
    assert.deepEqual(
      view.nodes.map((n) => n.state),
      ['idle', 'idle', 'idle'],
    );
    const back = view.nodes.find((n) => n.id === taken[0]?.id);
    assert.deepEqual([back?.previousState, back?.startTaskInfo?.result], ['waitingforstarttask', 'success']);
    assert.deepEqual((await w.executor.list()).sort(), [...low, dedicated].sort());
  });

  test('bad input: duplicate id, short resize timeout, unknown VM size, unknown node agent SKU', async () => {
    const w = await world();
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('dup', 0));
    await assert.rejects(
      w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('DUP', 0)),
      (e) => codeOf(e) === 'PoolExists',
    );
    await assert.rejects(
      w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('t', 1, { resizeTimeout: 'PT4M' })),
      (e) => e instanceof DomainError && e.code === 'InvalidPropertyValue' && e.target === 'resizeTimeout',
    );
    await assert.rejects(
      w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('v', 1, { vmSize: 'standard_huge' })),
      (e) => e instanceof DomainError && e.target === 'vmSize',
    );
    const bad = tinyPool('s', 1);
    bad.virtualMachineConfiguration.nodeAgentSKUId = 'batch.node.nothing';
    await assert.rejects(
      w.pools.add(w.account, { scheme: 'SharedKey' }, bad),
      (e) => codeOf(e) === 'NodeAgentSKUNotFound',
    );
    assert.deepEqual(
      (await w.pools.list(w.account)).map((v) => v.pool.id),
      ['dup'],
    );
  });

  test('a resize that outlasts its timeout ends AllocationTimedout, steady, keeping the nodes allocated', async () => {
    const w = await world(1);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('slow', 3));
    await w.sizer.tick(); // creates 3, grants 1
    await w.agent.syncOnce(); // takes them, starts the granted one
    await new Promise((r) => setImmediate(r));
    await w.agent.syncOnce(); // reports: the first node is starting (its slot is free again)
    await w.sizer.tick(); // grants the second
    w.clock.advance(16 * 60_000);
    await w.sizer.tick();
    const { pool, nodes } = await w.pools.get(w.account, 'slow');
    assert.equal(pool.allocationState, 'steady');
    assert.equal(pool.resizeErrors[0]?.code, 'AllocationTimedout');
    const kept = nodes.filter((n) => n.state !== 'leavingpool');
    assert.equal(kept.length, 1);
    await w.settle();
    assert.equal((await w.pools.get(w.account, 'slow')).nodes.length, 1);
  });

  test('stopresize records ResizeStopped; delete removes nodes, then the pool', async () => {
    const w = await world(1);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('stop', 4));
    await w.sizer.tick();
    await w.pools.stopResize(w.account, 'stop');
    await w.settle();
    const { pool } = await w.pools.get(w.account, 'stop');
    assert.equal(pool.allocationState, 'steady');
    assert.equal(pool.resizeErrors[0]?.code, 'ResizeStopped');
    await w.pools.delete(w.account, 'stop');
    await assert.rejects(
      w.pools.resize(w.account, 'stop', { targetDedicatedNodes: 1 }),
      (e) => codeOf(e) === 'PoolBeingDeleted',
    );
    await w.settle();
    await assert.rejects(w.pools.get(w.account, 'stop'), (e) => codeOf(e) === 'PoolNotFound');
    assert.deepEqual(await w.executor.list(), []);
  });

  test('reboot and reimage go through rebooting/reimaging back to idle; a creating node refuses with 409', async () => {
    const w = await world(1);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('r', 2));
    await w.sizer.tick();
    const creating = (await w.pools.get(w.account, 'r')).nodes[0];
    await assert.rejects(
      w.nodes.reboot(w.account, 'r', creating?.id ?? ''),
      (e) => codeOf(e) === 'NodeBeingCreated',
    );
    await w.settle();
    const [a, b] = (await w.pools.get(w.account, 'r')).nodes;
    await w.nodes.reboot(w.account, 'r', a?.id ?? '');
    await w.nodes.reimage(w.account, 'r', b?.id ?? '');
    const mid = (await w.pools.get(w.account, 'r')).nodes;
    assert.deepEqual(
      mid.map((n) => n.state),
      ['rebooting', 'reimaging'],
    );
    await w.settle();
    const end = (await w.pools.get(w.account, 'r')).nodes;
    assert.deepEqual(
      end.map((n) => [n.state, n.previousState, n.generation]),
      [
        ['idle', 'waitingforstarttask', 1],
        ['idle', 'waitingforstarttask', 1],
      ],
    );
    await assert.rejects(w.nodes.reboot(w.account, 'r', 'tvmps_nope'), (e) => codeOf(e) === 'NodeNotFound');
  });

  test('a pool whose image has no replica in the region ends steady with AllocationFailed and no nodes', async () => {
    const w = await world();
    const added = await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('noimg', 2));
    await w.ctx.store.transaction((tx) =>
      tx.putPool({ ...added, image: { ...added.image, available: false } }),
    );
    await w.settle(3);
    const { pool, nodes } = await w.pools.get(w.account, 'noimg');
    assert.equal(pool.allocationState, 'steady');
    assert.equal(pool.resizeErrors[0]?.code, 'AllocationFailed');
    assert.match(pool.resizeErrors[0].message, /image is not found/);
    assert.equal(nodes.length, 0);
  });

  test('a failing start task with waitForSuccess leaves the node starttaskfailed after its retries', async () => {
    const w = await world();
    await w.pools.add(
      w.account,
      { scheme: 'SharedKey' },
      tinyPool('fail', 1, { startTask: { commandLine: 'exit 3', maxTaskRetryCount: 2 } }),
    );
    await w.settle();
    const [node] = (await w.pools.get(w.account, 'fail')).nodes;
    assert.equal(node?.state, 'starttaskfailed');
    assert.equal(node.startTaskInfo?.exitCode, 3);
    assert.equal(node.startTaskInfo.retryCount, 2);
    assert.equal(node.startTaskInfo.failureInfo?.category, 'usererror');
  });
});
