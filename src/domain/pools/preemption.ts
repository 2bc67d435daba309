import type { StoreTx } from '../../storage/port.ts';
import type { NodeRecord } from '../../storage/records.ts';
import { requeueNodeTasks } from '../jobs/dispatch.ts';
import { DomainError } from '../errors.ts';
import { moveNode } from './node-states.ts';
import { poolNotFound } from './pools.ts';
import { nodeNotFound } from './nodes.ts';

export interface PreemptRequest {
  /** Exactly these low-priority nodes … */
  nodeIds?: string[];
  /** … or this many of the pool's low-priority nodes (all of them when neither is given). */
  count?: number;
}

/**
 * Low-priority capacity taken back, as Azure does with Spot/low-priority VMs: the nodes go to `preempted`
 * (still counted in the pool's low-priority nodes), their running tasks are requeued (requeueCount, not retries),
 * and the pool goes back to `resizing` while Batch waits for capacity; the pool sizer brings each node back
 * afresh after the recovery delay. Lazurite has no capacity market, so an operator (or a test) says when.
 */
export async function preemptNodes(
  tx: StoreTx,
  account: string,
  poolId: string,
  request: PreemptRequest,
  now: Date,
): Promise<NodeRecord[]> {
  const pool = await tx.findPool(account, poolId);
  if (!pool) throw poolNotFound(poolId);
  if (pool.state !== 'active') {
    throw new DomainError('conflict', 'PoolBeingDeleted', 'The specified pool is being deleted.');
  }
  const nodes = await tx.listNodes(account, pool.id);
  const movable = (n: NodeRecord) => !n.isDedicated && moveNode(n, 'preempted', now) !== undefined;
  let chosen: NodeRecord[];
  if (request.nodeIds !== undefined) {
    chosen = request.nodeIds.map((id) => {
      const n = nodes.find((x) => x.id.toLowerCase() === id.toLowerCase());
      if (!n) throw nodeNotFound(id);
      if (!movable(n)) {
        throw new DomainError(
          'invalid-input',
          'InvalidPropertyValue',
          `Node '${n.id}' cannot be preempted: it is ${n.isDedicated ? 'a dedicated node' : n.state}; only low-priority nodes that are starting or running can.`,
          { values: { PropertyName: 'nodeIds', NodeId: n.id } },
        );
      }
      return n;
    });
  } else {
    chosen = nodes.filter(movable).slice(0, request.count ?? nodes.length);
  }
  const stamp = now.toISOString();
  const preempted = chosen.map((n) => ({
    ...(moveNode(n, 'preempted', now) ?? n),
    goal: 'run' as const,
    generation: n.generation + 1,
    granted: false,
    startTaskInfo: null,
  }));
  await tx.putNodes(preempted);
  await requeueNodeTasks(
    tx,
    account,
    pool.id,
    preempted.map((n) => n.id),
    now,
  );
  if (preempted.length > 0) {
    await tx.putPool({
      ...pool,
      allocationState: 'resizing',
      allocationStateTransitionTime: stamp,
      resizeStartedAt: stamp,
    });
  }
  return preempted;
}
