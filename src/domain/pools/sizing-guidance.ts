import type { PoolRecord } from '../../storage/records.ts';

/** The seeds' large-pool guidance: at least one replica per 300 nodes, 15 minutes of resize timeout per 1,000 nodes. */
export const NODES_PER_REPLICA = 300;
export const TIMEOUT_MS_PER_1000_NODES = 15 * 60_000;

export function recommendedReplicas(nodes: number): number {
  return Math.max(1, Math.ceil(nodes / NODES_PER_REPLICA));
}

export function recommendedResizeTimeoutMs(nodes: number): number {
  return Math.max(15 * 60_000, Math.ceil(nodes / 1000) * TIMEOUT_MS_PER_1000_NODES);
}

/** Warnings for a pool whose size breaks the guidance (logged by the server, shown by the CLI). */
export function sizingWarnings(pool: PoolRecord): string[] {
  const nodes = pool.targetDedicatedNodes + pool.targetLowPriorityNodes;
  const out: string[] = [];
  if (pool.image.kind === 'gallery' && pool.image.replicaCount < recommendedReplicas(nodes)) {
    out.push(
      `Pool '${pool.id}' targets ${String(nodes)} nodes from ${String(pool.image.replicaCount)} replica(s) in ${pool.image.region}; the guidance is at least one replica per ${String(NODES_PER_REPLICA)} nodes (${String(recommendedReplicas(nodes))}).`,
    );
  }
  if (nodes > 0 && pool.resizeTimeoutMs < (nodes / 1000) * TIMEOUT_MS_PER_1000_NODES) {
    out.push(
      `Pool '${pool.id}' targets ${String(nodes)} nodes with a resize timeout of ${String(Math.round(pool.resizeTimeoutMs / 60_000))} min; the guidance is 15 minutes per 1,000 nodes (${String(Math.round(recommendedResizeTimeoutMs(nodes) / 60_000))} min).`,
    );
  }
  return out;
}
