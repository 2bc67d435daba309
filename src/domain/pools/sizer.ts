import { caseKey, compoundKey } from '../../storage/keys.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { NodeRecord, NodeState, PoolRecord, ResizeErrorRecord } from '../../storage/records.ts';
import { accountQuotas, coresPerNode, coreUsage, type CoreUsage } from '../accounts/quotas.ts';
import type { DomainContext } from '../context.ts';
import { formatDuration } from './pool-spec.ts';

/** Which nodes go first when a pool shrinks: those that never started, then broken ones, then busy last. */
const REMOVAL_ORDER: readonly NodeState[] = [
  'creating',
  'unusable',
  'starttaskfailed',
  'offline',
  'unknown',
  'preempted',
  'waitingforstarttask',
  'starting',
  'rebooting',
  'reimaging',
  'idle',
  'running',
];

export interface SizerOptions {
  /** Concurrent node hydrations one replica serves (R15/R16). */
  capacityPerReplica: number;
  /** Capacity for marketplace base images, which Azure serves at platform scale. */
  marketplaceCapacity: number;
  /** How long preempted low-priority capacity stays away before the node is brought back (fresh). */
  preemptionRecoveryMs: number;
  /** Prefix of new node ids (`tvmps_`), followed by a random hex id. */
  newNodeId: (dedicated: boolean) => string;
  /** Node records one tick creates at most, over all pools (the next tick goes on): bounded work per tick. */
  maxNewNodesPerTick?: number;
  /**
   * Addresses in the node network (`--node-network`, ADR 0021), when nodes take one: the server holds at most this
   * many nodes; a resize past it allocates what fits and ends with an AllocationFailed resize error.
   */
  nodeAddresses?: { capacity: number; range: string };
}

const DEFAULT_MAX_NEW_NODES_PER_TICK = 1000;

/** What one tick shares between the pools it steps: each account's cores in use, and new nodes left to make. */
interface TickBudget {
  usage: Map<string, CoreUsage>;
  newNodesLeft: number;
  /** Free addresses of the node network, read once a tick when a pool grows (undefined: not read yet). */
  addressesLeft?: number;
}

/** Room for new nodes of one kind in one pool this tick, and the quota error when the quota is what stops it. */
interface Room {
  count: number;
  quotaError?: ResizeErrorRecord;
}

const leave = (n: NodeRecord, now: string): NodeRecord =>
  n.state === 'leavingpool'
    ? n
    : { ...n, state: 'leavingpool', previousState: n.state, stateTransitionTime: now, goal: 'remove' };

function resizeError(code: string, message: string, values?: Record<string, string>): ResizeErrorRecord {
  return {
    code,
    message,
    ...(values ? { values: Object.entries(values).map(([name, value]) => ({ name, value })) } : {}),
  };
}

/** Whether the pool lacks live nodes of either kind. */
function growing(pool: PoolRecord, nodes: NodeRecord[]): boolean {
  const live = (dedicated: boolean) =>
    nodes.filter((n) => n.isDedicated === dedicated && n.state !== 'leavingpool').length;
  return live(true) < pool.targetDedicatedNodes || live(false) < pool.targetLowPriorityNodes;
}

/** The resize error of a pool the node network has no addresses left for (Batch's error for a full subnet). */
function addressPlanFull(plan: { capacity: number; range: string }): ResizeErrorRecord {
  return resizeError(
    'AllocationFailed',
    `Desired number of nodes could not be allocated: the node network ${plan.range} has no free address left (it holds ${String(plan.capacity)} nodes; see --node-network).`,
    { NodeNetwork: plan.range, Capacity: String(plan.capacity) },
  );
}

const hasCode = (pool: PoolRecord, code: string) => pool.resizeErrors.some((e) => e.code === code);

/**
 * The pool sizer: a level-triggered loop body. Each tick looks at every pool whose allocation is not steady
 * (or that is being deleted) and moves it one step toward its target: creates node records, picks nodes to
 * leave, hands out replica hydration slots, enforces the resize timeout, and settles the pool to steady.
 * Node records are created here; host agents make them real.
 */
export class PoolSizer {
  private readonly ctx: DomainContext;
  private readonly options: SizerOptions;

  constructor(ctx: DomainContext, options: SizerOptions) {
    this.ctx = ctx;
    this.options = options;
  }

  /** One pass; resolves to whether anything changed. */
  tick(): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now();
      const pools = await tx.listPoolsInMotion();
      let changed = false;
      const creating: NodeRecord[] = [];
      const byPool = new Map<string, PoolRecord>();
      const budget: TickBudget = {
        usage: new Map(),
        newNodesLeft: this.options.maxNewNodesPerTick ?? DEFAULT_MAX_NEW_NODES_PER_TICK,
      };
      for (const pool of pools) {
        const result = await this.step(tx, pool, now, budget);
        changed ||= result.changed;
        if (result.pool) {
          byPool.set(compoundKey(pool.accountName, pool.id), result.pool);
          creating.push(...result.nodes.filter((n) => n.state === 'creating'));
        }
      }
      return (await this.grant(tx, creating, byPool)) || changed;
    });
  }

  private async step(tx: StoreTx, pool: PoolRecord, now: Date, budget: TickBudget) {
    const stamp = now.toISOString();
    let nodes = await tx.listNodes(pool.accountName, pool.id);
    const changedNodes: NodeRecord[] = [];
    const mark = (n: NodeRecord) => {
      const next = leave(n, stamp);
      if (next !== n) changedNodes.push(next);
      return next;
    };
    let next = pool;
    if (pool.state === 'deleting') {
      nodes = nodes.map(mark);
    } else if (pool.allocationState === 'stopping') {
      nodes = nodes.map((n) => (n.state === 'creating' ? mark(n) : n));
      next = this.settle(pool, stamp, [
        resizeError(
          'ResizeStopped',
          'Desired number of dedicated nodes could not be allocated due to a stop resize operation.',
        ),
      ]);
    } else {
      // The account's core usage is read only when the pool has nodes to gain.
      const room = growing(pool, nodes) ? await this.roomFor(tx, pool, budget) : () => ({ count: 0 });
      ({ nodes, pool: next } = this.resize(pool, nodes, now, mark, changedNodes, room));
    }
    // Nodes no host ever took need no clean-up: drop them now.
    const orphans = new Set(
      nodes.filter((n) => n.state === 'leavingpool' && n.hostId === null).map((n) => n.id),
    );
    await tx.putNodes(changedNodes.filter((n) => !orphans.has(n.id)));
    await tx.deleteNodes(pool.accountName, pool.id, [...orphans]);
    nodes = nodes.filter((n) => !orphans.has(n.id));
    if (next.state === 'deleting' && nodes.length === 0) {
      await tx.deletePool(pool.accountName, pool.id);
      return { changed: true, pool: undefined, nodes: [] };
    }
    if (next !== pool) await tx.putPool(next);
    return { changed: next !== pool || changedNodes.length > 0 || orphans.size > 0, pool: next, nodes };
  }

  /**
   * How many nodes of each kind the pool may gain this tick: what it lacks, within the account's core quota (the
   * cores its nodes already hold counted once per tick, then kept up to date) and the tick's node budget.
   */
  private async roomFor(
    tx: StoreTx,
    pool: PoolRecord,
    budget: TickBudget,
  ): Promise<(dedicated: boolean, missing: number) => Room> {
    const key = caseKey(pool.accountName);
    let usage = budget.usage.get(key);
    if (usage === undefined) {
      usage = await coreUsage(tx, pool.accountName);
      budget.usage.set(key, usage);
    }
    const held = usage;
    const quotas = accountQuotas(this.ctx, pool.accountName);
    const cores = coresPerNode(pool);
    const plan = this.options.nodeAddresses;
    if (plan !== undefined && budget.addressesLeft === undefined)
      budget.addressesLeft = Math.max(0, plan.capacity - (await tx.countAllNodes()));
    return (dedicated, missing) => {
      const quota = dedicated ? quotas.dedicatedCores : quotas.lowPriorityCores;
      const used = dedicated ? held.dedicated : held.lowPriority;
      const allowed = Math.max(0, Math.floor((quota - used) / cores));
      const addresses = budget.addressesLeft ?? Infinity;
      const count = Math.min(missing, allowed, addresses, budget.newNodesLeft);
      budget.newNodesLeft -= count;
      if (budget.addressesLeft !== undefined) budget.addressesLeft -= count;
      if (dedicated) held.dedicated += count * cores;
      else held.lowPriority += count * cores;
      if (allowed >= missing && addresses < missing && plan !== undefined)
        return { count, quotaError: addressPlanFull(plan) };
      if (allowed >= missing) return { count };
      const kind = dedicated ? 'dedicated' : 'low-priority';
      return {
        count,
        quotaError: resizeError(
          dedicated ? 'AccountCoreQuotaReached' : 'AccountLowPriorityCoreQuotaReached',
          `The specified account has reached its ${kind} core quota of ${String(quota)} cores; the pool's ${kind} nodes have ${String(cores)} core(s) each.`,
          { CoreQuota: String(quota), CoresPerNode: String(cores) },
        ),
      };
    };
  }

  private settle(pool: PoolRecord, stamp: string, errors: ResizeErrorRecord[]): PoolRecord {
    return { ...pool, allocationState: 'steady', allocationStateTransitionTime: stamp, resizeErrors: errors };
  }

  /**
   * Moves each kind of node toward its target: the first nodes in REMOVAL_ORDER leave; missing nodes are created
   * within `room` (quota and the tick's budget). `short` says a kind is still below target for want of budget
   * only (the pool is not done); quota errors say it will stay below target.
   */
  private sizeKinds(
    pool: PoolRecord,
    all: NodeRecord[],
    stamp: string,
    mark: (n: NodeRecord) => NodeRecord,
    changed: NodeRecord[],
    room: (dedicated: boolean, missing: number) => Room,
  ): { nodes: NodeRecord[]; short: boolean; quotaErrors: ResizeErrorRecord[] } {
    let nodes = all;
    let short = false;
    const quotaErrors: ResizeErrorRecord[] = [];
    for (const dedicated of [true, false]) {
      const target = dedicated ? pool.targetDedicatedNodes : pool.targetLowPriorityNodes;
      const live = nodes.filter((n) => n.isDedicated === dedicated && n.state !== 'leavingpool');
      if (live.length > target) {
        const victims = new Set(
          [...live]
            .sort((a, b) => REMOVAL_ORDER.indexOf(a.state) - REMOVAL_ORDER.indexOf(b.state))
            .slice(0, live.length - target)
            .map((n) => n.id),
        );
        nodes = nodes.map((n) => (victims.has(n.id) ? mark(n) : n));
      } else if (live.length < target && pool.image.available) {
        const missing = target - live.length;
        const { count, quotaError } = room(dedicated, missing);
        const fresh: NodeRecord[] = [];
        for (let i = 0; i < count; i++) fresh.push(this.newNode(pool, dedicated, stamp));
        changed.push(...fresh);
        nodes = [...nodes, ...fresh];
        if (quotaError) quotaErrors.push(quotaError);
        else if (count < missing) short = true;
      }
    }
    return { nodes, short, quotaErrors };
  }

  private resize(
    pool: PoolRecord,
    all: NodeRecord[],
    now: Date,
    mark: (n: NodeRecord) => NodeRecord,
    changed: NodeRecord[],
    room: (dedicated: boolean, missing: number) => Room,
  ): { nodes: NodeRecord[]; pool: PoolRecord } {
    const stamp = now.toISOString();
    const sized = this.sizeKinds(pool, all, stamp, mark, changed, room);
    let nodes = this.recoverPreempted(sized.nodes, now, changed);
    const wanted = pool.targetDedicatedNodes + pool.targetLowPriorityNodes;
    if (!pool.image.available && nodes.filter((n) => n.state !== 'leavingpool').length < wanted) {
      return {
        nodes,
        pool: this.settle(pool, stamp, [
          resizeError(
            'AllocationFailed',
            `The specified image is not found: '${pool.image.source}' has no completed replica in the Batch account's region '${pool.image.region}'. Add the region to the image version's target regions and wait for replication to finish.`,
            { Reason: 'ImageNotReplicatedToRegion', Region: pool.image.region },
          ),
        ]),
      };
    }
    const pending = nodes.filter((n) => n.state === 'creating' || n.state === 'preempted');
    if (pending.length > 0 && now.getTime() >= Date.parse(pool.resizeStartedAt) + pool.resizeTimeoutMs) {
      nodes = nodes.map((n) => (n.state === 'creating' ? mark(n) : n));
      const reached = nodes.filter((n) => n.state !== 'leavingpool').length;
      return {
        nodes,
        pool: this.settle(pool, stamp, [
          resizeError(
            'AllocationTimedout',
            `Desired number of nodes could not be allocated within the resize timeout (${formatDuration(pool.resizeTimeoutMs)}); ${String(reached)} of ${String(wanted)} were allocated.`,
          ),
        ]),
      };
    }
    const settled = pending.length === 0 && !sized.short && !nodes.some((n) => n.state === 'leavingpool');
    const errors = [...pool.resizeErrors, ...sized.quotaErrors.filter((e) => !hasCode(pool, e.code))];
    return { nodes, pool: settled ? this.settle(pool, stamp, errors) : pool };
  }

  /** Preempted nodes whose capacity is back: a new generation that the host agent starts afresh. */
  private recoverPreempted(nodes: NodeRecord[], now: Date, changed: NodeRecord[]): NodeRecord[] {
    return nodes.map((n) => {
      if (n.state !== 'preempted' || n.goal === 'reimage') return n;
      if (now.getTime() < Date.parse(n.stateTransitionTime) + this.options.preemptionRecoveryMs) return n;
      const back: NodeRecord = { ...n, goal: 'reimage', generation: n.generation + 1, startTaskInfo: null };
      changed.push(back);
      return back;
    });
  }

  private newNode(pool: PoolRecord, dedicated: boolean, stamp: string): NodeRecord {
    return {
      accountName: pool.accountName,
      poolId: pool.id,
      id: this.options.newNodeId(dedicated),
      isDedicated: dedicated,
      state: 'creating',
      previousState: null,
      stateTransitionTime: stamp,
      allocationTime: stamp,
      hostId: null,
      granted: false,
      goal: 'run',
      generation: 0,
      startTaskInfo: null,
      errors: [],
      lastBootTime: null,
    };
  }

  /** Hands out hydration slots: per image source and region, replicas × capacity concurrent hydrations. */
  private async grant(tx: StoreTx, creating: NodeRecord[], pools: Map<string, PoolRecord>): Promise<boolean> {
    const used = new Map<string, number>();
    const sourceOf = (n: NodeRecord) => pools.get(compoundKey(n.accountName, n.poolId));
    const keyOf = (p: PoolRecord) => compoundKey(p.image.source, p.image.region);
    for (const n of creating) {
      const p = sourceOf(n);
      if (p && n.granted) used.set(keyOf(p), (used.get(keyOf(p)) ?? 0) + 1);
    }
    const granted: NodeRecord[] = [];
    for (const n of creating) {
      const p = sourceOf(n);
      if (!p || n.granted) continue;
      const capacity =
        p.image.kind === 'marketplace'
          ? this.options.marketplaceCapacity
          : Math.max(1, p.image.replicaCount) * this.options.capacityPerReplica;
      const inUse = used.get(keyOf(p)) ?? 0;
      if (inUse >= capacity) continue;
      used.set(keyOf(p), inUse + 1);
      granted.push({ ...n, granted: true });
    }
    await tx.putNodes(granted);
    return granted.length > 0;
  }
}
