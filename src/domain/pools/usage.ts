import type { NodeRecord, PoolRecord } from '../../storage/records.ts';
import { findVmSize } from './vm-sizes.ts';

/** Core-milliseconds a dedicated node has used since it was allocated (Batch's `dedicatedCoreTime`). */
function coreMs(pool: PoolRecord, node: NodeRecord, now: Date): number {
  if (!node.isDedicated) return 0;
  const cores = findVmSize(String(pool.spec.vmSize))?.cores ?? 1;
  return Math.max(0, now.getTime() - Date.parse(node.allocationTime)) * cores;
}

/** The pool with the core time of nodes that are leaving for good added to what it keeps for them. */
export function retireNodes(pool: PoolRecord, removed: NodeRecord[], now: Date): PoolRecord {
  const used = removed.reduce((sum, n) => sum + coreMs(pool, n, now), 0);
  return used === 0 ? pool : { ...pool, retiredDedicatedCoreMs: (pool.retiredDedicatedCoreMs ?? 0) + used };
}

/** Dedicated core time of the pool so far: nodes gone plus nodes it has now. */
export function dedicatedCoreMs(pool: PoolRecord, nodes: NodeRecord[], now: Date): number {
  return nodes.reduce((sum, n) => sum + coreMs(pool, n, now), pool.retiredDedicatedCoreMs ?? 0);
}
