import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { failsWith, tinyPoolSpec, waitFor, type BatchFailure, simulatedBatchServer } from './pool-image.ts';

/** Pool_ListUsageMetrics through @azure/batch: core hours per pool and hour. */
describe('pool usage metrics', () => {
  const env = simulatedBatchServer();

  test('core hours of current and removed nodes, by hour; $filter on poolId; a bad $filter is 400', async () => {
    // standard_d2s_v3: 2 cores per node
    for (const id of ['usage', 'other']) {
      await env.batch.pool.add({ ...tinyPoolSpec(id, 2), vmSize: 'standard_d2s_v3' });
      await waitFor(
        () => env.batch.pool.get(id),
        (p) => p.allocationState === 'steady' && p.currentDedicatedNodes === 2,
        `${id}: two nodes`,
      );
    }
    const startTime = new Date(Date.now() - 3 * 3600_000);
    const options = { poolListUsageMetricsOptions: { startTime } };
    const first = await env.batch.pool.listUsageMetrics(options);
    const mine = first.filter((m) => m.poolId === 'usage');
    assert.ok(mine.length >= 1, 'the current hour at least');
    const hours = (ms: typeof mine) => ms.reduce((sum, m) => sum + m.totalCoreHours, 0);
    const used = hours(mine);
    assert.ok(used > 0, `core hours ${String(used)}`);
    for (const m of mine) {
      assert.equal(m.vmSize, 'standard_d2s_v3');
      assert.equal(m.endTime.getTime() - m.startTime.getTime(), 3600_000);
      assert.equal(m.startTime.getUTCMinutes(), 0);
    }
    assert.ok(first.some((m) => m.poolId === 'other'));
    await env.batch.pool.resize('usage', { targetDedicatedNodes: 0 });
    await waitFor(
      () => env.batch.pool.get('usage'),
      (p) => p.allocationState === 'steady' && p.currentDedicatedNodes === 0,
      'no nodes',
    );
    const filtered = await env.batch.pool.listUsageMetrics({
      poolListUsageMetricsOptions: { startTime, filter: "poolId eq 'usage'" },
    });
    assert.ok(filtered.length >= 1 && filtered.every((m) => m.poolId === 'usage'));
    assert.ok(hours(filtered) >= used, 'kept after the nodes left');
    const future = await env.batch.pool.listUsageMetrics({
      poolListUsageMetricsOptions: { startTime: new Date(Date.now() + 3 * 3600_000) },
    });
    assert.equal(future.length, 0);
    await assert.rejects(
      env.batch.pool.listUsageMetrics({ poolListUsageMetricsOptions: { filter: 'poolId eq' } }),
      (e: BatchFailure) => failsWith(400, 'InvalidQueryParameterValue')(e),
    );
  });
});
