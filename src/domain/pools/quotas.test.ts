import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../errors.ts';
import { JobScheduleService } from '../jobs/schedules.ts';
import { tinyPool, world } from './pools.fixture.ts';

const codeOf = (err: unknown) => (err instanceof DomainError ? `${err.category} ${err.code}` : String(err));
const resizeCodes = (p: { resizeErrors: { code: string }[] }) => p.resizeErrors.map((e) => e.code);

describe('account quotas and a bounded sizer', () => {
  test('a billion-node pool is accepted, grows by a bounded number of nodes per tick and stops at the core quota', async () => {
    const w = await world(100, { quotas: { dedicatedCores: 24 }, maxNewNodesPerTick: 5 });
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('huge', 1_000_000_000));
    await w.sizer.tick();
    let view = await w.pools.get(w.account, 'huge');
    assert.equal(view.nodes.length, 5, 'one tick makes at most maxNewNodesPerTick nodes');
    assert.equal(view.pool.allocationState, 'resizing');
    await w.settle();
    view = await w.pools.get(w.account, 'huge');
    assert.equal(view.pool.allocationState, 'steady');
    assert.equal(view.pool.targetDedicatedNodes, 1_000_000_000, 'the target stays as asked');
    assert.equal(view.nodes.length, 24, '24 one-core nodes fill a 24-core quota');
    assert.ok(view.nodes.every((n) => n.state === 'idle'));
    assert.deepEqual(resizeCodes(view.pool), ['AccountCoreQuotaReached']);
  });

  test('cores are the VM size cores times the nodes, over every pool of the account; low priority has its own quota', async () => {
    const w = await world(100, { quotas: { dedicatedCores: 10, lowPriorityCores: 4 } });
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('one', 3));
    await w.settle();
    await w.pools.add(
      w.account,
      { scheme: 'SharedKey' },
      tinyPool('two', 100, { vmSize: 'standard_d2s_v3', targetLowPriorityNodes: 5 }),
    );
    await w.settle();
    const two = await w.pools.get(w.account, 'two');
    assert.equal(two.nodes.filter((n) => n.isDedicated).length, 3, '(10 - 3) cores hold three 2-core nodes');
    assert.equal(two.nodes.filter((n) => !n.isDedicated).length, 2);
    assert.deepEqual(resizeCodes(two.pool), [
      'AccountCoreQuotaReached',
      'AccountLowPriorityCoreQuotaReached',
    ]);
    assert.equal((await w.pools.get(w.account, 'one')).pool.resizeErrors.length, 0);
  });

  test('a resize over the quota is accepted and ends steady with a resize error; within it, none', async () => {
    const w = await world(100, { quotas: { dedicatedCores: 6 } });
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('r', 2));
    await w.settle();
    await w.pools.resize(w.account, 'r', { targetDedicatedNodes: 1_000_000_000 });
    await w.settle();
    let view = await w.pools.get(w.account, 'r');
    assert.equal(view.pool.allocationState, 'steady');
    assert.equal(view.nodes.length, 6);
    assert.deepEqual(resizeCodes(view.pool), ['AccountCoreQuotaReached']);
    await w.pools.resize(w.account, 'r', { targetDedicatedNodes: 3 });
    await w.settle();
    view = await w.pools.get(w.account, 'r');
    assert.equal(view.nodes.length, 3);
    assert.deepEqual(resizeCodes(view.pool), []);
  });

  test('an autoscale formula asking for a billion nodes gets the quota', async () => {
    const w = await world(100, { quotas: { dedicatedCores: 4 } });
    const spec: Record<string, unknown> = {
      ...tinyPool('auto', 0),
      enableAutoScale: true,
      autoScaleFormula: '$TargetDedicatedNodes = 1000000000;',
    };
    delete spec.targetDedicatedNodes;
    await w.pools.add(w.account, { scheme: 'SharedKey' }, spec);
    await w.settle();
    const view = await w.pools.get(w.account, 'auto');
    assert.equal(view.nodes.length, 4);
    assert.deepEqual(resizeCodes(view.pool), ['AccountCoreQuotaReached']);
  });

  test('PoolQuotaReached past the pool quota; a deleted pool frees its place', async () => {
    const w = await world(100, { quotas: { pools: 2 } });
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('a', 0));
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('b', 0));
    await assert.rejects(
      w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('c', 0)),
      (e) => codeOf(e) === 'conflict PoolQuotaReached',
    );
    await assert.rejects(
      w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('a', 0)),
      (e) => codeOf(e) === 'conflict PoolExists',
      'a duplicate is still PoolExists',
    );
    await w.pools.delete(w.account, 'b');
    await w.settle();
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('c', 0));
  });

  test('ActiveJobAndScheduleQuotaReached counts active jobs and schedules; completed ones do not count', async () => {
    const w = await world(100, { quotas: { activeJobsAndSchedules: 2 } });
    const schedules = new JobScheduleService(w.ctx, w.jobs);
    await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j1', poolInfo: { poolId: 'p' } });
    await schedules.add(
      w.account.name,
      { scheme: 'SharedKey' },
      {
        id: 's1',
        schedule: { recurrenceInterval: 'PT1H' },
        jobSpecification: { poolInfo: { poolId: 'p' } },
      },
    );
    const full = (e: unknown) => codeOf(e) === 'conflict ActiveJobAndScheduleQuotaReached';
    await assert.rejects(
      w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j2', poolInfo: { poolId: 'p' } }),
      full,
    );
    await assert.rejects(
      schedules.add(
        w.account.name,
        { scheme: 'SharedKey' },
        {
          id: 's2',
          schedule: { recurrenceInterval: 'PT1H' },
          jobSpecification: { poolInfo: { poolId: 'p' } },
        },
      ),
      full,
    );
    await w.jobs.terminate(w.account.name, 'j1', undefined, {});
    await w.settle(2);
    assert.equal((await w.jobs.get(w.account.name, 'j1')).state, 'completed');
    await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j2', poolInfo: { poolId: 'p' } });
  });

  test('a pool past the node network gets what fits and AllocationFailed naming the network; nodes leaving free room', async () => {
    const w = await world(100, { nodeAddresses: { capacity: 5, range: '10.9.0.0/29' } });
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('first', 3));
    await w.settle();
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('second', 4));
    await w.settle();
    const second = await w.pools.get(w.account, 'second');
    assert.equal(second.nodes.length, 2, 'five addresses: three taken, two left');
    assert.equal(second.pool.allocationState, 'steady');
    assert.deepEqual(resizeCodes(second.pool), ['AllocationFailed']);
    assert.match(second.pool.resizeErrors[0]?.message ?? '', /10\.9\.0\.0\/29/);
    await w.pools.delete(w.account, 'first');
    await w.settle();
    await w.pools.resize(w.account, 'second', { targetDedicatedNodes: 4 });
    await w.settle();
    const again = await w.pools.get(w.account, 'second');
    assert.equal(again.nodes.length, 4, 'the deleted pool gave its addresses back');
    assert.deepEqual(resizeCodes(again.pool), []);
  });
});
