import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { tinyPoolSpec, waitFor, simulatedBatchServer } from './pool-image.ts';

const seconds = (iso: string) => {
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(iso);
  assert.ok(m, `an ISO 8601 duration: ${iso}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
};

/** `$expand=stats` on pool get and list (issue 4: "$expand"), through @azure/batch. */
describe('pool statistics', () => {
  const env = simulatedBatchServer();

  test('usage stats count dedicated core time, kept when nodes leave; other expansions are refused', async () => {
    // standard_d2s_v3: 2 cores per node
    await env.batch.pool.add({ ...tinyPoolSpec('stats', 2), vmSize: 'standard_d2s_v3' });
    await waitFor(
      () => env.batch.pool.get('stats'),
      (p) => p.allocationState === 'steady' && p.currentDedicatedNodes === 2,
      'two nodes',
    );
    const plain = await env.batch.pool.get('stats');
    assert.equal(plain.stats, undefined);
    const first = await env.batch.pool.get('stats', { poolGetOptions: { expand: 'stats' } });
    const used = seconds(first.stats?.usageStats?.dedicatedCoreTime ?? '');
    assert.ok(used > 0, `core time ${String(used)} s`);
    assert.equal(first.stats?.startTime.toISOString(), first.creationTime?.toISOString());
    await env.batch.pool.resize('stats', { targetDedicatedNodes: 0 });
    await waitFor(
      () => env.batch.pool.get('stats'),
      (p) => p.allocationState === 'steady' && p.currentDedicatedNodes === 0,
      'no nodes',
    );
    const later = await env.batch.pool.get('stats', { poolGetOptions: { expand: 'stats' } });
    assert.ok(seconds(later.stats?.usageStats?.dedicatedCoreTime ?? '') >= used, 'kept after the nodes left');
    const listed = await env.batch.pool.list({ poolListOptions: { expand: 'stats' } });
    assert.ok(listed.length > 0 && listed.every((p) => p.stats?.usageStats !== undefined));
    await assert.rejects(
      env.batch.pool.get('stats', { poolGetOptions: { expand: 'nodes' } }),
      (e: { statusCode?: number; body?: { code?: string } }) =>
        e.statusCode === 400 && e.body?.code === 'InvalidQueryParameterValue',
    );
  });
});
