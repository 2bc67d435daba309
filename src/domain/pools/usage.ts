import type { NodeRecord, PoolRecord } from '../../storage/records.ts';
import { findVmSize } from './vm-sizes.ts';

const HOUR_MS = 3600 * 1000;
/** How far back usage by hour is kept for nodes that left (Batch keeps usage metrics for a limited time too). */
export const USAGE_RETENTION_HOURS = 24 * 31;

const coresOf = (pool: PoolRecord) => findVmSize(String(pool.spec.vmSize))?.cores ?? 1;

/** Core-milliseconds a dedicated node has used since it was allocated (Batch's `dedicatedCoreTime`). */
function coreMs(pool: PoolRecord, node: NodeRecord, now: Date): number {
  if (!node.isDedicated) return 0;
  return Math.max(0, now.getTime() - Date.parse(node.allocationTime)) * coresOf(pool);
}

/** Adds a node's core time from its allocation until `now` to `into`, split over the hours it spans. */
function addByHour(into: Map<number, number>, pool: PoolRecord, node: NodeRecord, now: Date): void {
  const cores = coresOf(pool);
  const end = now.getTime();
  let from = Date.parse(node.allocationTime);
  while (from < end) {
    const hour = Math.floor(from / HOUR_MS) * HOUR_MS;
    const to = Math.min(end, hour + HOUR_MS);
    into.set(hour, (into.get(hour) ?? 0) + (to - from) * cores);
    from = to;
  }
}

/** The pool with the core time of nodes that are leaving for good added to what it keeps for them. */
export function retireNodes(pool: PoolRecord, removed: NodeRecord[], now: Date): PoolRecord {
  const used = removed.reduce((sum, n) => sum + coreMs(pool, n, now), 0);
  const byHour = new Map(Object.entries(pool.retiredCoreMsByHour ?? {}).map(([k, v]) => [Number(k), v]));
  for (const n of removed) addByHour(byHour, pool, n, now);
  const oldest = now.getTime() - USAGE_RETENTION_HOURS * HOUR_MS;
  const kept = [...byHour].filter(([hour, ms]) => hour >= oldest && ms > 0);
  return {
    ...pool,
    ...(used === 0 ? {} : { retiredDedicatedCoreMs: (pool.retiredDedicatedCoreMs ?? 0) + used }),
    ...(kept.length === 0
      ? {}
      : { retiredCoreMsByHour: Object.fromEntries(kept.map(([h, ms]) => [String(h), ms])) }),
  };
}

/** Dedicated core time of the pool so far: nodes gone plus nodes it has now. */
export function dedicatedCoreMs(pool: PoolRecord, nodes: NodeRecord[], now: Date): number {
  return nodes.reduce((sum, n) => sum + coreMs(pool, n, now), pool.retiredDedicatedCoreMs ?? 0);
}

/** One pool's usage in one hour (BatchService.json PoolUsageMetrics, times in ms since the epoch). */
export interface PoolUsageInterval {
  poolId: string;
  startMs: number;
  endMs: number;
  vmSize: string;
  totalCoreHours: number;
}

/**
 * Usage of a pool by hour, for the hours that start in [fromMs, toMs): nodes that left plus the nodes it has now,
 * every node counted (dedicated and Spot). The hour in progress is included with the core time used so far.
 */
export function usageByHour(
  pool: PoolRecord,
  nodes: NodeRecord[],
  now: Date,
  fromMs: number,
  toMs: number,
): PoolUsageInterval[] {
  const byHour = new Map(Object.entries(pool.retiredCoreMsByHour ?? {}).map(([k, v]) => [Number(k), v]));
  for (const n of nodes) addByHour(byHour, pool, n, now);
  return [...byHour]
    .filter(([hour, ms]) => ms > 0 && hour >= fromMs && hour < toMs)
    .sort(([a], [b]) => a - b)
    .map(([hour, ms]) => ({
      poolId: pool.id,
      startMs: hour,
      endMs: hour + HOUR_MS,
      vmSize: String(pool.spec.vmSize).toLowerCase(),
      totalCoreHours: ms / HOUR_MS,
    }));
}
