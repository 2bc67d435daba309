import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeRecord, PoolRecord } from '../../storage/records.ts';
import { USAGE_RETENTION_HOURS, dedicatedCoreMs, retireNodes, usageByHour } from './usage.ts';

const HOUR = 3600_000;
const pool = { id: 'p', spec: { vmSize: 'standard_d2s_v3' } } as unknown as PoolRecord; // 2 cores
const node = (allocated: number, isDedicated = true) =>
  ({
    id: `n${String(allocated)}`,
    allocationTime: new Date(allocated).toISOString(),
    isDedicated,
  }) as NodeRecord;
const t0 = Date.parse('2026-01-01T10:30:00Z');

test('usage by hour splits a node over the hours it spans, Spot nodes included', () => {
  const now = new Date(t0 + 2 * HOUR); // 10:30 → 12:30
  const rows = usageByHour(pool, [node(t0), node(t0 + HOUR, false)], now, 0, now.getTime());
  assert.deepEqual(
    rows.map((r) => [new Date(r.startMs).toISOString(), r.totalCoreHours, r.vmSize]),
    [
      ['2026-01-01T10:00:00.000Z', 1, 'standard_d2s_v3'], // half an hour × 2 cores
      ['2026-01-01T11:00:00.000Z', 3, 'standard_d2s_v3'], // 2 cores + the Spot node's half hour × 2
      ['2026-01-01T12:00:00.000Z', 2, 'standard_d2s_v3'],
    ],
  );
  assert.equal(
    usageByHour(pool, [node(t0)], now, t0 + HOUR, now.getTime()).length,
    1,
    'only hours from 11:30',
  );
});

test('nodes that retire keep their hours; dedicated time still counts only dedicated nodes', () => {
  const now = new Date(t0 + HOUR);
  const retired = retireNodes(pool, [node(t0), node(t0, false)], now);
  assert.equal(dedicatedCoreMs(retired, [], now), 2 * HOUR);
  const rows = usageByHour(retired, [], new Date(t0 + 5 * HOUR), 0, Infinity);
  assert.deepEqual(
    rows.map((r) => r.totalCoreHours),
    [2, 2],
  );
  const muchLater = new Date(t0 + (USAGE_RETENTION_HOURS + 5) * HOUR);
  const pruned = retireNodes(retired, [node(muchLater.getTime() - HOUR)], muchLater);
  assert.deepEqual(
    usageByHour(pruned, [], muchLater, 0, Infinity).map((r) => r.totalCoreHours),
    [1, 1],
    'old hours dropped',
  );
});
