import type { Logger } from '../../platform/logger.ts';
import { TickLoop } from '../../platform/loop.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { ComputeResourceRecord } from '../../storage/records.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { conflict, DomainError } from '../errors.ts';
import type { ContentPlan, ContentProducer, Produced } from './content-writer.ts';

/** A write reserved in the store and not yet carried out: kept in the record's internal lineage. */
export interface PendingWork {
  operationId: string;
  region: string;
  plan: ContentPlan;
}

/** Why a write failed, as the operation and the record report it (Azure's code and message). */
export interface WriteFailure {
  code: string;
  message: string;
}

/** The resource types whose writes go through reservations. */
export const RESERVED_TYPES = [
  'Microsoft.Compute/disks',
  'Microsoft.Compute/snapshots',
  'Microsoft.Compute/images',
];

/**
 * A write's provisioningState machine, Azure's names: reserved as `Creating` (new resource) or `Updating`
 * (existing one), settled as `Succeeded` or `Failed`; a settled resource may be written again (reserved anew).
 */
export const WRITE_STATES = {
  reserve: { created: 'Creating', updated: 'Updating' },
  settle: { done: 'Succeeded', failed: 'Failed' },
} as const;

export const pendingOf = (r: ComputeResourceRecord): PendingWork | undefined =>
  r.lineage.pending as PendingWork | undefined;

export const failureOf = (r: ComputeResourceRecord): WriteFailure | undefined =>
  r.lineage.failure as WriteFailure | undefined;

function describe(err: unknown): WriteFailure {
  if (err instanceof DomainError) return { code: err.code, message: err.message };
  return { code: 'InternalExecutionError', message: (err as Error).message };
}

/**
 * `work`, or the abort reason as soon as `signal` fires: a step that does not watch the signal itself (a tar, a
 * copy) cannot keep its write in progress past the timeout; what it still writes is content-addressed and unused.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', onAbort);
    });
  });
}

export interface PendingWritesOptions {
  /** How long a request waits for its write before answering with the reservation (0: never waits). */
  waitMs?: number;
  /** Longest a write may run before it is failed. */
  timeoutMs?: number;
  logger?: Logger;
}

interface Outcome {
  record: ComputeResourceRecord | undefined;
  error?: unknown;
}

/**
 * Disk, snapshot and image writes in three steps, so slow I/O never runs inside a store transaction:
 * 1. reserve (`reserveIn`, inside the caller's check transaction): the record in `Creating`/`Updating` with the
 *    plan of its content, and an operation row clients poll through Azure-AsyncOperation;
 * 2. the I/O (`ContentProducer`), outside any transaction, under a timeout and an abort signal;
 * 3. commit (one short transaction): `Succeeded` with the content, or `Failed` with Azure's error.
 * A reservation a crash left is run again by `recover()` at start-up (level-triggered: it looks at the records).
 */
export class PendingWrites {
  private readonly ctx: DomainContext;
  private readonly producer: ContentProducer;
  private readonly waitMs: number;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly running = new Map<string, Promise<Outcome>>();
  private readonly shutdown = new AbortController();
  private loop: TickLoop | undefined;

  constructor(ctx: DomainContext, producer: ContentProducer, options: PendingWritesOptions = {}) {
    this.ctx = ctx;
    this.producer = producer;
    this.waitMs = options.waitMs ?? 2000;
    this.timeoutMs = options.timeoutMs ?? 2 * 60 * 60 * 1000;
    this.logger = options.logger;
  }

  /** Refuses a write while another one on the same resource is still running (as Azure does). */
  static requireIdle(existing: ComputeResourceRecord | undefined): void {
    if (existing && pendingOf(existing)) {
      throw conflict(
        'OperationNotAllowed',
        `An operation on '${existing.name}' is in progress (provisioningState ${String(existing.properties.provisioningState)}); retry when it has finished.`,
      );
    }
  }

  /** Step 1, inside the caller's transaction: writes `record` as a reservation; returns its operation id. */
  async reserveIn(
    tx: StoreTx,
    record: ComputeResourceRecord,
    plan: ContentPlan,
    region: string,
    updating: boolean,
  ): Promise<ComputeResourceRecord> {
    const operationId = this.ctx.ids.uuid();
    const lineage = { ...record.lineage };
    delete lineage.failure;
    const reserved: ComputeResourceRecord = {
      ...record,
      properties: {
        ...record.properties,
        provisioningState: WRITE_STATES.reserve[updating ? 'updated' : 'created'],
      },
      lineage: { ...lineage, pending: { operationId, region, plan } satisfies PendingWork },
    };
    await tx.putComputeResource(reserved);
    await tx.putOperation({
      id: operationId,
      resourceId: record.id,
      kind: 'write',
      startTime: isoNow(this.ctx),
    });
    return reserved;
  }

  /**
   * Steps 2 and 3 for a reservation that committed. Waits up to `waitMs` for them: answers with the committed
   * record (or throws the write's error) when done in time, else with the reservation still in progress.
   */
  async run(reserved: ComputeResourceRecord): Promise<ComputeResourceRecord> {
    const work = this.start(reserved);
    if (this.waitMs <= 0) return reserved;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((done) => {
      timer = setTimeout(() => {
        done(undefined);
      }, this.waitMs);
    });
    const outcome = await Promise.race([work, late]);
    clearTimeout(timer);
    if (!outcome) return reserved;
    if (outcome.error !== undefined) throw outcome.error as Error;
    return outcome.record ?? reserved;
  }

  /** Start-up, before any request: clears what interrupted writes left, then runs their reservations again. */
  async recover(): Promise<number> {
    await this.producer.clearLeftovers?.();
    return this.resume();
  }

  /**
   * Level-triggered: starts every reserved write that is not running in this process (a crash or a failed
   * commit left it); a running one is left alone. Resolves once they have started, with how many did.
   */
  async resume(): Promise<number> {
    const pending = await this.ctx.store.transaction((tx) => tx.listPendingComputeResources(RESERVED_TYPES));
    let started = 0;
    for (const r of pending) {
      const work = pendingOf(r);
      if (!work || this.running.has(work.operationId) || this.shutdown.signal.aborted) continue;
      this.logger?.info({ resource: r.id }, 'resuming a reserved disk/image write');
      void this.start(r);
      started += 1;
    }
    return started;
  }

  /** Runs `resume` every `intervalMs` until `stop`. */
  resumeEvery(intervalMs: number): void {
    this.loop ??= new TickLoop(
      async () => {
        await this.resume();
        return false;
      },
      intervalMs,
      (err) => this.logger?.error({ err }, 'resuming reserved writes failed'),
    );
    this.loop.start();
  }

  /** Resolves when no write is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  /** Aborts running writes and waits for them; their reservations stay for the next start. */
  /** Stops the resume loop only (this server no longer runs the loops, ADR 0033); writes of requests go on. */
  async stopResuming(): Promise<void> {
    await this.loop?.stop();
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
    this.shutdown.abort(new Error('server stopping'));
    await this.idle();
  }

  private start(reserved: ComputeResourceRecord): Promise<Outcome> {
    const work = pendingOf(reserved);
    if (!work) return Promise.resolve({ record: reserved });
    const running = this.running.get(work.operationId);
    if (running) return running;
    const promise = this.execute(reserved.id, work).finally(() => this.running.delete(work.operationId));
    this.running.set(work.operationId, promise);
    return promise;
  }

  private async execute(id: string, work: PendingWork): Promise<Outcome> {
    const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.timeoutMs)]);
    let produced: Produced | undefined;
    let error: unknown;
    try {
      produced = await untilAborted(this.producer.produce(work.plan, work.region, signal), signal);
    } catch (err) {
      error = err;
      if (!(err instanceof DomainError)) this.logger?.error({ err, resource: id }, 'disk/image write failed');
    }
    if (this.shutdown.signal.aborted) return { record: undefined, error: error ?? new Error('stopping') };
    if (signal.aborted) {
      error = new Error(`The write did not finish within ${String(this.timeoutMs / 1000)} s.`);
      produced = undefined;
    }
    try {
      return { record: await this.commit(id, work.operationId, produced, error), error };
    } catch (err) {
      this.logger?.error({ err, resource: id }, 'committing a disk/image write failed');
      return { record: undefined, error: err };
    }
  }

  /** Step 3: one short transaction; a reservation deleted or replaced meanwhile is left alone. */
  private commit(id: string, operationId: string, produced: Produced | undefined, error: unknown) {
    return this.ctx.store.transaction(async (tx) => {
      const current = await tx.findComputeResource(id);
      if (!current || pendingOf(current)?.operationId !== operationId) return current;
      const lineage = { ...current.lineage };
      delete lineage.pending;
      const next: ComputeResourceRecord = produced
        ? {
            ...current,
            content: produced.content,
            lineage: { ...lineage, ...produced.lineage },
            properties: { ...current.properties, provisioningState: WRITE_STATES.settle.done },
            updatedAt: isoNow(this.ctx),
          }
        : {
            ...current,
            lineage: { ...lineage, failure: describe(error) },
            properties: { ...current.properties, provisioningState: WRITE_STATES.settle.failed },
            updatedAt: isoNow(this.ctx),
          };
      await tx.putComputeResource(next);
      return next;
    });
  }
}
