import type { NodeReport, SyncRequest, SyncResponse } from '../../protocol/agent-protocol.ts';
import { compoundKey } from '../../storage/keys.ts';
import type { NodeRecord } from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { preemptNodes } from './preemption.ts';
import { findVmSize } from './vm-sizes.ts';

/**
 * The cluster-scheduler port (ADR 0030): each Batch node is one allocation of a cluster scheduler (a Slurm job; a
 * Kubernetes pod on paper) whose process is the node's host agent. The domain asks for allocations, cancels them
 * and reads where they stand; it never runs anything itself.
 */
export interface Allocation {
  /** The scheduler's id (Slurm job id). */
  id: string;
  accountName: string;
  poolId: string;
  nodeId: string;
  /** pending: queued, no host yet; running: on `host`; ended: finished, failed, cancelled or lost with its host. */
  state: 'pending' | 'running' | 'ended';
  /** The scheduler's own state name (e.g. NODE_FAIL), for error messages. */
  detail: string;
  host?: string;
  /** Ended because the scheduler preempted it for higher-priority work (Slurm PREEMPTED). */
  preempted?: boolean;
}

export interface AllocationRequest {
  accountName: string;
  poolId: string;
  nodeId: string;
  cores: number;
  memoryMB: number;
  isDedicated: boolean;
}

export interface NodeAllocator {
  /** Every allocation of this server the scheduler still knows, live or recently ended. */
  list(): Promise<Allocation[]>;
  submit(request: AllocationRequest): Promise<void>;
  cancel(ids: string[]): Promise<void>;
}

/** The host id every node of a cluster-scheduler backend has: its agents speak for their own node only. */
export const CLUSTER_HOST_ID = 'cluster';

type Sync = (request: SyncRequest) => Promise<SyncResponse>;

const isRemoving = (n: NodeRecord) => n.goal === 'remove' || n.state === 'leavingpool';

/**
 * A level-triggered loop body: compares the scheduler's allocations with the store's nodes and closes the gap.
 * - a `creating` node without an allocation gets one (submitted);
 * - a node leaving whose allocation has no running agent (pending, ended or none) is cancelled and reported gone;
 *   a running agent removes its node itself and reports gone, after which its allocation is cancelled;
 * - a live allocation no node record wants is cancelled;
 * - a node whose allocation ended, vanished, or went back to pending after it ran becomes `unusable` with an
 *   error saying why (its running tasks are requeued by the same sync that reports it);
 * - a low-priority node whose allocation the scheduler preempted becomes `preempted` instead (preemptNodes, as
 *   `lazurite pools preempt`: tasks requeued, the pool resizing); once the sizer brings it back (goal reimage) it
 *   gets a new allocation, which may wait in the queue while the higher-priority work holds the hosts.
 * Other node state changes go through the agent protocol as reports of the cluster host, so the node state machine
 * and the task requeue logic are the ones every host agent uses.
 */
export class AllocationReconciler {
  private readonly ctx: DomainContext;
  private readonly allocator: NodeAllocator;
  private readonly sync: Sync;

  constructor(ctx: DomainContext, allocator: NodeAllocator, sync: Sync) {
    this.ctx = ctx;
    this.allocator = allocator;
    this.sync = sync;
  }

  async tick(): Promise<boolean> {
    const allocations = await this.allocator.list();
    const { nodes, sizes } = await this.load();
    // Nodes no host has taken yet become the cluster host's (with their addresses) before anything reports them.
    if (nodes.some((n) => n.hostId === null)) {
      await this.sync({ hostId: CLUSTER_HOST_ID, kind: 'cluster', reports: [] });
      return true;
    }
    const byNode = new Map<string, Allocation[]>();
    for (const a of allocations) {
      const k = compoundKey(a.accountName, a.poolId, a.nodeId);
      byNode.set(k, [...(byNode.get(k) ?? []), a]);
    }
    const cancel: string[] = [];
    const reports: NodeReport[] = [];
    const report = (n: NodeRecord, fields: Partial<NodeReport>) =>
      reports.push({
        accountName: n.accountName,
        poolId: n.poolId,
        nodeId: n.id,
        generation: n.generation,
        ...fields,
      });
    const wanted = new Set<string>();
    let submitted = 0;
    const submit = async (n: NodeRecord) => {
      const size = sizes.get(compoundKey(n.accountName, n.poolId)) ?? { cores: 1, memoryMB: 2048 };
      await this.allocator.submit({
        accountName: n.accountName,
        poolId: n.poolId,
        nodeId: n.id,
        ...size,
        isDedicated: n.isDedicated,
      });
      submitted++;
    };
    const preempt: NodeRecord[] = [];
    for (const n of nodes) {
      const k = compoundKey(n.accountName, n.poolId, n.id);
      wanted.add(k);
      const all = byNode.get(k) ?? [];
      const live = all.filter((a) => a.state !== 'ended');
      // Only one live allocation per node: extras (never expected) go.
      for (const extra of live.slice(1)) cancel.push(extra.id);
      const current = live[0];
      if (isRemoving(n)) {
        if (current?.state === 'running') continue;
        if (current) cancel.push(current.id);
        report(n, { state: 'gone' });
        continue;
      }
      if (n.state === 'unusable') continue;
      if (n.state === 'preempted') {
        // Waiting for capacity: back (goal reimage) it needs a new allocation, which may queue for a while.
        if (n.goal === 'reimage' && current === undefined) await submit(n);
        continue;
      }
      const why = lost(n, current, all);
      if (why === 'submit') await submit(n);
      else if (why !== undefined) {
        if (current) cancel.push(current.id);
        if (current === undefined && !n.isDedicated && lastEnded(all)?.preempted === true) preempt.push(n);
        else report(n, { state: 'unusable', errors: [{ code: 'NodeAllocationLost', message: why }] });
      }
    }
    for (const n of preempt) {
      const why = await this.preempt(n);
      if (why !== undefined)
        report(n, { state: 'unusable', errors: [{ code: 'NodeAllocationLost', message: why }] });
    }
    for (const a of allocations) {
      if (a.state !== 'ended' && !wanted.has(compoundKey(a.accountName, a.poolId, a.nodeId)))
        cancel.push(a.id);
    }
    if (cancel.length > 0) await this.allocator.cancel(cancel);
    if (reports.length > 0) await this.sync({ hostId: CLUSTER_HOST_ID, kind: 'cluster', reports });
    return submitted > 0 || reports.length > 0 || cancel.length > 0 || preempt.length > 0;
  }

  /** The cluster host's nodes and each pool's allocation size (cores and memory of its VM size). */
  private load(): Promise<{ nodes: NodeRecord[]; sizes: Map<string, { cores: number; memoryMB: number }> }> {
    return this.ctx.store.transaction(async (tx) => {
      const listed = await tx.listNodesForHost(CLUSTER_HOST_ID, true);
      const found = new Map<string, { cores: number; memoryMB: number }>();
      for (const n of listed) {
        const k = compoundKey(n.accountName, n.poolId);
        if (found.has(k)) continue;
        const pool = await tx.findPool(n.accountName, n.poolId);
        const size = findVmSize(typeof pool?.spec.vmSize === 'string' ? pool.spec.vmSize : '');
        found.set(k, { cores: size?.cores ?? 1, memoryMB: size?.memoryMB ?? 2048 });
      }
      return { nodes: listed, sizes: found };
    });
  }

  /** A low-priority node the scheduler preempted goes `preempted`; if it cannot (its state), says why not. */
  private async preempt(n: NodeRecord): Promise<string | undefined> {
    try {
      await this.ctx.store.transaction((tx) =>
        preemptNodes(tx, n.accountName, n.poolId, { nodeIds: [n.id] }, this.ctx.clock.now()),
      );
      return undefined;
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      return `The node's cluster allocation was preempted while it was ${n.state}: ${err.message}`;
    }
  }
}

/**
 * What a node's allocation says about it: `submit` (a creating node without one), why it is lost (a message), or
 * undefined (all well: pending while creating, or running).
 */
function lost(n: NodeRecord, current: Allocation | undefined, all: Allocation[]): string | undefined {
  if (current === undefined) {
    const ended = lastEnded(all);
    if (ended !== undefined)
      return `The node's cluster allocation ${ended.id} ended (${ended.detail}${ended.host === undefined ? '' : ` on host ${ended.host}`}).`;
    return n.state === 'creating' ? 'submit' : "The node's cluster allocation is gone.";
  }
  if (current.state === 'pending' && n.state !== 'creating')
    return `The node's cluster allocation ${current.id} went back to the queue (${current.detail}) after it ran.`;
  return undefined;
}

/** The most recent of a node's ended allocations (a node brought back after a preemption has had several). */
function lastEnded(all: Allocation[]): Allocation | undefined {
  const order = (a: Allocation) => (/^\d+$/.test(a.id) ? Number(a.id) : -1);
  return all.filter((a) => a.state === 'ended').sort((a, b) => order(b) - order(a))[0];
}
