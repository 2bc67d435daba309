import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HostAgent } from '../../backends/agent.ts';
import { ImagePullError } from '../../backends/image-pull.ts';
import {
  AllocationReconciler,
  CLUSTER_HOST_ID,
  type Allocation,
  type AllocationRequest,
  type NodeAllocator,
} from './allocations.ts';
import { tinyPool, world } from './pools.fixture.ts';

/** A cluster scheduler in memory: `capacity` allocations run, the rest wait; the test ends them at will. */
class FakeScheduler implements NodeAllocator {
  readonly jobs: Allocation[] = [];
  readonly requests: AllocationRequest[] = [];
  cancelled: string[] = [];
  private next = 1;
  private readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = capacity;
  }
  list(): Promise<Allocation[]> {
    return Promise.resolve(this.jobs.map((j) => ({ ...j })));
  }
  submit(r: AllocationRequest): Promise<void> {
    this.requests.push(r);
    const running = this.jobs.filter((j) => j.state === 'running').length;
    const run = running < this.capacity;
    this.jobs.push({
      id: String(this.next++),
      accountName: r.accountName,
      poolId: r.poolId,
      nodeId: r.nodeId,
      state: run ? 'running' : 'pending',
      detail: run ? 'RUNNING' : 'PENDING, Resources',
      ...(run ? { host: 'h1' } : {}),
    });
    return Promise.resolve();
  }
  cancel(ids: string[]): Promise<void> {
    this.cancelled.push(...ids);
    for (const j of this.jobs) if (ids.includes(j.id)) j.state = 'ended';
    return Promise.resolve();
  }
}

/** A pool world whose nodes come from the fake scheduler; each running allocation gets its own one-node agent. */
async function clusterWorld(capacity: number) {
  const w = await world();
  const scheduler = new FakeScheduler(capacity);
  const reconciler = new AllocationReconciler(w.ctx, scheduler, (r) => w.agents.sync(r));
  const agents = new Map<string, HostAgent>();
  const settle = async (rounds = 20) => {
    for (let i = 0; i < rounds; i++) {
      await w.sizer.tick();
      await reconciler.tick();
      for (const j of scheduler.jobs) {
        if (j.state !== 'running' || agents.has(j.nodeId)) continue;
        agents.set(
          j.nodeId,
          new HostAgent({
            hostId: CLUSTER_HOST_ID,
            onlyNode: j.nodeId,
            executor: w.executor,
            link: { sync: (r) => w.agents.sync(r) },
            concurrency: 2,
            pollMs: 1000,
            now: () => w.clock.now(),
          }),
        );
      }
      for (const [id, a] of agents) {
        if (scheduler.jobs.some((j) => j.nodeId === id && j.state === 'running')) await a.syncOnce();
      }
      await new Promise((r) => setImmediate(r));
    }
  };
  const nodes = () => w.ctx.store.transaction((tx) => tx.listNodes('lazurite', 'p'));
  return { ...w, scheduler, settle, nodes };
}

describe('the allocation reconciler (cluster-scheduler node backends)', () => {
  test('each node is one allocation sized from the VM size; running ones come up idle', async () => {
    const w = await clusterWorld(10);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 3));
    await w.settle();
    assert.deepEqual(
      w.scheduler.requests.map((r) => [r.poolId, r.cores, r.memoryMB, r.isDedicated]),
      [
        ['p', 1, 2048, true],
        ['p', 1, 2048, true],
        ['p', 1, 2048, true],
      ],
    );
    const nodes = await w.nodes();
    assert.deepEqual(
      nodes.map((n) => n.state),
      ['idle', 'idle', 'idle'],
    );
    assert.ok(nodes.every((n) => n.hostId === CLUSTER_HOST_ID));
  });

  test('a pending allocation is a creating node; the resize timeout cancels it and keeps the running nodes', async () => {
    const w = await clusterWorld(2);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 3, { resizeTimeout: 'PT5M' }));
    await w.settle();
    let nodes = await w.nodes();
    assert.deepEqual(nodes.map((n) => n.state).sort(), ['creating', 'idle', 'idle']);
    const pending = w.scheduler.jobs.find((j) => j.state === 'pending');
    assert.ok(pending);
    w.clock.advance(6 * 60_000);
    await w.settle();
    nodes = await w.nodes();
    assert.deepEqual(
      nodes.map((n) => n.state),
      ['idle', 'idle'],
    );
    assert.deepEqual(w.scheduler.cancelled, [pending.id]);
    const pool = await w.ctx.store.transaction((tx) => tx.findPool('lazurite', 'p'));
    assert.deepEqual(
      pool?.resizeErrors.map((e) => e.code),
      ['AllocationTimedout'],
    );
  });

  test('an allocation that ends makes its node unusable with an error saying why', async () => {
    const w = await clusterWorld(10);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 2));
    await w.settle();
    const lost = w.scheduler.jobs[0];
    assert.ok(lost);
    lost.state = 'ended';
    lost.detail = 'NODE_FAIL';
    await w.settle(3);
    const node = (await w.nodes()).find((n) => n.id === lost.nodeId);
    assert.equal(node?.state, 'unusable');
    assert.match(node.errors[0]?.message ?? '', /allocation 1 ended \(NODE_FAIL on host h1\)/);
    assert.equal(node.errors[0]?.code, 'NodeAllocationLost');
  });

  test('an allocation back in the queue after it ran is a lost node too, and is cancelled', async () => {
    const w = await clusterWorld(10);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 1));
    await w.settle();
    const job = w.scheduler.jobs[0];
    assert.ok(job);
    job.state = 'pending';
    job.detail = 'PENDING, BeginTime';
    await w.settle(3);
    const [node] = await w.nodes();
    assert.equal(node?.state, 'unusable');
    assert.match(node.errors[0]?.message ?? '', /went back to the queue/);
    assert.deepEqual(w.scheduler.cancelled, [job.id]);
  });

  test('a preempted low-priority allocation makes its node preempted, not unusable; it comes back later', async () => {
    const w = await clusterWorld(10);
    await w.pools.add(
      w.account,
      { scheme: 'SharedKey' },
      tinyPool('p', 0, { targetLowPriorityNodes: 2, resizeTimeout: 'PT15M' }),
    );
    await w.settle();
    const job = w.scheduler.jobs[0];
    assert.ok(job);
    assert.deepEqual(
      w.scheduler.requests.map((r) => r.isDedicated),
      [false, false],
    );
    job.state = 'ended';
    job.detail = 'PREEMPTED';
    job.preempted = true;
    await w.settle(3);
    let node = (await w.nodes()).find((n) => n.id === job.nodeId);
    assert.equal(node?.state, 'preempted');
    assert.deepEqual(node.errors, []);
    assert.equal(w.scheduler.requests.length, 2, 'no new allocation before the capacity is back');
    // The sizer brings the node back after the recovery delay: a new allocation, and the node idle again.
    w.clock.advance(61_000);
    await w.settle();
    assert.equal(w.scheduler.requests.length, 3);
    assert.equal(w.scheduler.requests[2]?.nodeId, job.nodeId);
    node = (await w.nodes()).find((n) => n.id === job.nodeId);
    assert.equal(node?.state, 'idle');
  });

  test('a preempted dedicated allocation is a lost node (dedicated nodes are never preempted)', async () => {
    const w = await clusterWorld(10);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 1));
    await w.settle();
    const job = w.scheduler.jobs[0];
    assert.ok(job);
    Object.assign(job, { state: 'ended', detail: 'PREEMPTED', preempted: true });
    await w.settle(3);
    const [node] = await w.nodes();
    assert.equal(node?.state, 'unusable');
    assert.match(node.errors[0]?.message ?? '', /ended \(PREEMPTED/);
  });

  test('a host that cannot pull the image makes its node unusable with a pull error; the others come up', async () => {
    const w = await clusterWorld(10);
    const hydrate = w.executor.hydrate.bind(w.executor);
    let calls = 0;
    w.executor.hydrate = (image) =>
      ++calls === 1
        ? Promise.reject(
            new ImagePullError(
              `The node's image could not be pulled from the replica in region '${image.region}': connect ECONNREFUSED`,
            ),
          )
        : hydrate(image);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 2));
    await w.settle();
    const nodes = await w.nodes();
    assert.deepEqual(nodes.map((n) => n.state).sort(), ['idle', 'unusable']);
    const bad = nodes.find((n) => n.state === 'unusable');
    assert.deepEqual(
      bad?.errors.map((e) => e.code),
      ['ContainerInvalidImage'],
    );
    assert.match(bad.errors[0]?.message ?? '', /could not be pulled from the replica in region '\w+'/);
  });

  test('shrinking and deleting the pool cancel the allocations; one no node wants is cancelled', async () => {
    const w = await clusterWorld(10);
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 3));
    await w.settle();
    w.scheduler.jobs.push({
      id: '99',
      accountName: 'lazurite',
      poolId: 'gone',
      nodeId: 'tvmps_stray_d',
      state: 'running',
      detail: 'RUNNING',
    });
    await w.pools.delete(w.account, 'p');
    await w.settle();
    assert.deepEqual(await w.nodes(), []);
    assert.deepEqual(
      w.scheduler.jobs.filter((j) => j.state !== 'ended'),
      [],
    );
    assert.ok(w.scheduler.cancelled.includes('99'));
  });
});
