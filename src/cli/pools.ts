import type { Config } from '../config/config.ts';
import { sizingWarnings } from '../domain/pools/sizing-guidance.ts';
import { formatDuration } from '../domain/pools/pool-spec.ts';
import { poolOsLabel } from '../domain/pools/image-binding.ts';
import { DomainError } from '../domain/errors.ts';
import { preemptNodes, type PreemptRequest } from '../domain/pools/preemption.ts';
import { CliError } from './client.ts';
import { withStore } from './store.ts';

export interface PoolSummary {
  id: string;
  state: string;
  allocationState: string;
  targetNodes: number;
  currentNodes: number;
  nodesByState: Record<string, number>;
  image: string;
  /** The OS as the portal's pool summary shows it ("Custom VM image" for managed and gallery images). */
  os: string;
  replicas: number;
  resizeTimeout: string;
  warnings: string[];
}

/**
 * `lazurite pools list`: the pools of a Batch account, read from the data dir's store (the server may be
 * running), each with the large-pool guidance it breaks (one replica per 300 nodes, 15 minutes of resize timeout
 * per 1,000 nodes) — the warnings the server logs when the pool is added.
 */
export async function listPools(config: Config, account: string): Promise<PoolSummary[]> {
  return withStore(config, 'pools list', (store) =>
    store.transaction(async (tx) => {
      const out: PoolSummary[] = [];
      for (const pool of await tx.listPools(account)) {
        const nodes = await tx.listNodes(account, pool.id);
        const byState: Record<string, number> = {};
        for (const n of nodes) byState[n.state] = (byState[n.state] ?? 0) + 1;
        out.push({
          id: pool.id,
          state: pool.state,
          allocationState: pool.allocationState,
          targetNodes: pool.targetDedicatedNodes + pool.targetLowPriorityNodes,
          currentNodes: nodes.filter((n) => n.state !== 'leavingpool').length,
          nodesByState: byState,
          image: `${pool.image.kind} ${pool.image.source}`,
          os: poolOsLabel(pool.image),
          replicas: pool.image.replicaCount,
          resizeTimeout: formatDuration(pool.resizeTimeoutMs),
          warnings: sizingWarnings(pool),
        });
      }
      return out;
    }),
  );
}

/** The human form: one block per pool, warnings marked. */
export function formatPools(pools: PoolSummary[]): string {
  if (pools.length === 0) return 'no pools\n';
  return pools
    .map((p) => {
      const states = Object.entries(p.nodesByState)
        .map(([s, n]) => `${s} ${String(n)}`)
        .join(', ');
      const lines = [
        `${p.id}  ${p.state}/${p.allocationState}  nodes ${String(p.currentNodes)}/${String(p.targetNodes)}${states === '' ? '' : ` (${states})`}  OS ${p.os}`,
        `  image ${p.image}, ${String(p.replicas)} replica(s), resize timeout ${p.resizeTimeout}`,
        ...p.warnings.map((w) => `  warning: ${w}`),
      ];
      return `${lines.join('\n')}\n`;
    })
    .join('');
}

/**
 * `lazurite pools preempt`: takes low-priority capacity back, as Azure does with Spot/low-priority VMs — the
 * nodes go to `preempted`, their tasks are requeued, and the server brings them back after the recovery delay
 * (LAZURITE_PREEMPTION_RECOVERY_SECONDS). Writes through the store; a running server picks it up on its next loop.
 */
export async function preemptPool(
  config: Config,
  account: string,
  poolId: string,
  request: PreemptRequest,
): Promise<string[]> {
  try {
    const taken = await withStore(config, 'pools preempt', (store) =>
      store.transaction((tx) => preemptNodes(tx, account, poolId, request, new Date())),
    );
    return taken.map((n) => n.id);
  } catch (err) {
    if (err instanceof DomainError)
      throw new CliError(`${err.message} (${err.code})`, 'see: lazurite pools list');
    throw err;
  }
}
