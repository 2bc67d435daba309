import { serviceEtag } from '../conditions.ts';
import { compoundKey } from '../../../storage/keys.ts';
import type { StoreTx } from '../../../storage/port.ts';
import type { AutoScaleRunRecord, NodeRecord, PoolRecord } from '../../../storage/records.ts';
import type { DomainContext } from '../../context.ts';
import { DEFAULT_RESIZE_TIMEOUT_MS } from '../pool-spec.ts';
import { evaluateFormula, type FormulaOutcome, type MetricSample } from './evaluate.ts';
import type { Assignment } from './formula.ts';
import { checkFormula } from './settings.ts';
import { FormulaEvaluationError } from './values.ts';

export interface AutoScalerOptions {
  /** How often each autoscale pool's metrics are sampled (Batch: 30 s). */
  sampleIntervalMs: number;
  /** How much sample history is kept per pool. */
  historyMs: number;
}

const DEFAULTS: AutoScalerOptions = { sampleIntervalMs: 30_000, historyMs: 24 * 3_600_000 };

interface History {
  /** The pool generation the samples belong to (a re-created pool starts afresh). */
  creationTime: string;
  samples: MetricSample[];
  completed?: { succeeded: number; failed: number };
}

/** The pool's nodes that count (those leaving it do not). */
const liveNodes = async (tx: StoreTx, pool: PoolRecord): Promise<NodeRecord[]> =>
  (await tx.listNodes(pool.accountName, pool.id)).filter((n) => n.state !== 'leavingpool');

const historyKey = (pool: PoolRecord) => compoundKey(pool.accountName, pool.id);

/** New targets from an outcome: a steady pool starts resizing; a resizing one moves toward the new targets. */
export function applyOutcome(pool: PoolRecord, outcome: FormulaOutcome, now: string): PoolRecord {
  const same =
    pool.targetDedicatedNodes === outcome.targetDedicatedNodes &&
    pool.targetLowPriorityNodes === outcome.targetLowPriorityNodes;
  if (same || pool.state !== 'active' || pool.allocationState === 'stopping') return pool;
  // New targets are a change of the pool's own data: lastModified and the ETag move with them.
  const targets = {
    targetDedicatedNodes: outcome.targetDedicatedNodes,
    targetLowPriorityNodes: outcome.targetLowPriorityNodes,
    lastModified: now,
    etag: serviceEtag(new Date(now)),
  };
  if (pool.allocationState === 'resizing') return { ...pool, ...targets };
  return {
    ...pool,
    ...targets,
    allocationState: 'resizing',
    allocationStateTransitionTime: now,
    resizeStartedAt: now,
    resizeTimeoutMs: DEFAULT_RESIZE_TIMEOUT_MS,
    resizeErrors: [],
  };
}

/**
 * Autoscale: samples each autoscale pool's task and node metrics every sample interval (kept in memory, as a
 * restarted server starts a fresh history), evaluates formulas on their schedule and on request, records
 * autoScaleRun and moves the pool's targets. A level-triggered loop body (`tick`) plus the operations the
 * pool API calls inside its own transactions.
 */
export class AutoScaler {
  private readonly ctx: DomainContext;
  private readonly options: AutoScalerOptions;
  private readonly history = new Map<string, History>();

  constructor(ctx: DomainContext, options: Partial<AutoScalerOptions> = {}) {
    this.ctx = ctx;
    this.options = { ...DEFAULTS, ...options };
  }

  /**
   * Records one sample of the pool's metrics unless one was taken within the sample interval; `nodes` are the
   * pool's nodes when the caller has read them already.
   */
  private async sample(tx: StoreTx, pool: PoolRecord, now: Date, nodes?: NodeRecord[]): Promise<void> {
    const key = historyKey(pool);
    let h = this.history.get(key);
    if (h?.creationTime !== pool.creationTime) {
      h = { creationTime: pool.creationTime, samples: [] };
      this.history.set(key, h);
    }
    const last = h.samples.at(-1);
    if (last && now.getTime() - last.at < this.options.sampleIntervalMs) return;
    const tasks = await tx.countPoolTasks(pool.accountName, pool.id);
    const live = nodes ?? (await liveNodes(tx, pool));
    const previous = h.completed ?? { succeeded: tasks.succeeded, failed: tasks.failed };
    h.completed = { succeeded: tasks.succeeded, failed: tasks.failed };
    h.samples.push({
      at: now.getTime(),
      values: {
        $ActiveTasks: tasks.active,
        $RunningTasks: tasks.running,
        $PendingTasks: tasks.active + tasks.running,
        $SucceededTasks: Math.max(0, tasks.succeeded - previous.succeeded),
        $FailedTasks: Math.max(0, tasks.failed - previous.failed),
        $SampleNodeCount: live.length,
      },
    });
    const oldest = now.getTime() - this.options.historyMs;
    while ((h.samples[0]?.at ?? Infinity) < oldest) h.samples.shift();
  }

  /** Evaluates `statements` against the pool as it is now; never throws for the formula's own failures. */
  async run(
    tx: StoreTx,
    pool: PoolRecord,
    statements: Assignment[],
    now: Date,
  ): Promise<{ run: AutoScaleRunRecord; outcome?: FormulaOutcome }> {
    const nodes = await liveNodes(tx, pool);
    await this.sample(tx, pool, now, nodes);
    const count = (f: (n: NodeRecord) => boolean) => nodes.filter(f).length;
    const timestamp = now.toISOString();
    try {
      const outcome = evaluateFormula(statements, {
        now: now.getTime(),
        samples: this.history.get(historyKey(pool))?.samples ?? [],
        sampleIntervalMs: this.options.sampleIntervalMs,
        scalars: {
          $TaskSlotsPerNode: Number(pool.spec.taskSlotsPerNode ?? 1),
          $CurrentDedicatedNodes: count((n) => n.isDedicated),
          $CurrentLowPriorityNodes: count((n) => !n.isDedicated),
          $UsableNodeCount: count((n) => n.state === 'idle' || n.state === 'running'),
          $PreemptedNodeCount: count((n) => n.state === 'preempted'),
        },
        targetDedicatedNodes: pool.targetDedicatedNodes,
        targetLowPriorityNodes: pool.targetLowPriorityNodes,
      });
      return { run: { timestamp, results: outcome.results }, outcome };
    } catch (err) {
      if (!(err instanceof FormulaEvaluationError)) throw err;
      return {
        run: {
          timestamp,
          error: {
            code: err.code,
            message: 'The autoscale formula could not be evaluated.',
            values: [{ name: 'Message', value: err.message }],
          },
        },
      };
    }
  }

  /** Evaluates an autoscale pool's own formula now, records the run, applies it and schedules the next. */
  async evaluateAndApply(tx: StoreTx, pool: PoolRecord, now: Date): Promise<PoolRecord> {
    const settings = pool.autoScale;
    if (!settings) return pool;
    const { run, outcome } = await this.run(tx, pool, checkFormula(settings.formula), now);
    const stamp = now.toISOString();
    const next: PoolRecord = {
      ...pool,
      autoScale: {
        ...settings,
        lastRun: run,
        nextEvaluationAt: new Date(now.getTime() + settings.evaluationIntervalMs).toISOString(),
      },
    };
    return outcome ? applyOutcome(next, outcome, stamp) : next;
  }

  /** One pass: samples every autoscale pool and evaluates those whose time has come. */
  tick(): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now();
      const pools = await tx.listAutoScalePools();
      const live = new Set(pools.map(historyKey));
      for (const key of this.history.keys()) if (!live.has(key)) this.history.delete(key);
      let changed = false;
      for (const pool of pools) {
        if (pool.state !== 'active' || !pool.autoScale) continue;
        if (now.getTime() < Date.parse(pool.autoScale.nextEvaluationAt)) {
          await this.sample(tx, pool, now);
          continue;
        }
        // An evaluation samples first itself.
        const next = await this.evaluateAndApply(tx, pool, now);
        await tx.putPool(next);
        changed ||= next.allocationState !== pool.allocationState;
      }
      return changed;
    });
  }
}
