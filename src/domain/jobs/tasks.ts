import { compoundKey } from '../../storage/keys.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { JobRecord, SubtaskRecord, TaskRecord } from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import { checkConditions, etagSource, type Conditions } from '../pools/conditions.ts';
import { invalidProperty } from '../pools/pool-spec.ts';
import { jobStatistics, type JobStatistics } from './task-usage.ts';
import {
  jobNotFound,
  jobWriteRefusal,
  sameIdAsPrepOrRelease,
  taskCompleted,
  taskExists,
  taskNotFound,
} from './errors.ts';
import { constraintsOf } from './spec.ts';
import { moveTask } from './states.ts';
import { checkTaskAdd, type TaskAddChecked } from './task-spec.ts';
import { accountNames } from '../pools/user-accounts.ts';
import { finishTask, settleJob, TASK_ENDED } from './task-outcome.ts';
import { forgetTaskFiles } from './task-files-cleanup.ts';

/** One entry of an addtaskcollection answer. */
export type TaskAddResult =
  { status: 'success'; task: TaskRecord } | { status: 'clienterror'; taskId: string; error: DomainError };

const STATE_FIELDS = ['id'];

/** A single add waiting for the next group commit. */
interface QueuedAdd {
  account: string;
  jobId: string;
  body: Record<string, unknown>;
  resolve: (task: TaskRecord) => void;
  reject: (err: unknown) => void;
}

/** Answers a single add from its one result. */
const settle =
  (a: QueuedAdd) =>
  (results: TaskAddResult[]): void => {
    const [result] = results;
    if (result === undefined) a.reject(new Error('no result for the task'));
    else if (result.status === 'clienterror') a.reject(result.error);
    else a.resolve(result.task);
  };

/**
 * Batch tasks: add (one or a collection of up to 100), read, update constraints, delete, terminate,
 * reactivate. Dispatching tasks to nodes and recording how they end is dispatch.ts / task-outcome.ts.
 */
export class TaskService {
  private readonly ctx: DomainContext;
  private readonly onWork: () => void;
  private readonly etag: () => string;
  private readonly queued: QueuedAdd[] = [];
  private writing = false;

  constructor(ctx: DomainContext, onWork: () => void = () => undefined) {
    this.ctx = ctx;
    this.etag = etagSource(ctx.clock);
    this.onWork = onWork;
  }

  private async openJob(tx: StoreTx, account: string, jobId: string): Promise<JobRecord> {
    const job = await tx.findJob(account, jobId);
    if (!job) throw jobNotFound(jobId);
    return job;
  }

  /**
   * Adds one task. Adds that arrive while an earlier one is being written are written together, in one
   * transaction (group commit): each is answered only once that transaction committed, with the result it
   * would have had alone (one after another in arrival order: of two adds of one id the first wins).
   */
  add(account: string, jobId: string, body: Record<string, unknown>): Promise<TaskRecord> {
    return new Promise((resolve, reject) => {
      this.queued.push({ account, jobId, body, resolve, reject });
      this.writeQueued();
    });
  }

  private writeQueued(): void {
    if (this.writing || this.queued.length === 0) return;
    this.writing = true;
    const batch = this.queued.splice(0);
    void this.writeAdds(batch).finally(() => {
      this.writing = false;
      this.writeQueued();
    });
  }

  /** One transaction for the batch, one `addIn` per job in it; on an unexpected failure each add alone. */
  private async writeAdds(batch: QueuedAdd[]): Promise<void> {
    const byJob = new Map<string, QueuedAdd[]>();
    for (const a of batch) {
      const k = compoundKey(a.account, a.jobId);
      byJob.set(k, [...(byJob.get(k) ?? []), a]);
    }
    let answers: (() => void)[];
    try {
      answers = await this.ctx.store.transaction(async (tx) => {
        const out: (() => void)[] = [];
        for (const adds of byJob.values()) out.push(...(await this.addGroup(tx, adds)));
        return out;
      });
    } catch (err) {
      if (batch.length === 1) batch[0]?.reject(err);
      else for (const a of batch) this.addCollection(a.account, a.jobId, [a.body]).then(settle(a), a.reject);
      return;
    }
    for (const answer of answers) answer();
    this.onWork();
  }

  /** The adds of one job inside the batch's transaction; returns how to answer each once it committed. */
  private async addGroup(tx: StoreTx, adds: QueuedAdd[]): Promise<(() => void)[]> {
    const first = adds[0] as QueuedAdd;
    // A copy per add: each result is found by the body it is for.
    const bodies = adds.map((a) => ({ ...a.body }));
    try {
      const { results, bodyOf } = await this.addIn(tx, first.account, first.jobId, bodies);
      const byBody = new Map(results.map((r) => [bodyOf(r), r]));
      return adds.map((a, i) => () => {
        settle(a)([byBody.get(bodies[i] ?? {})].filter((r) => r !== undefined));
      });
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      return adds.map((a) => () => {
        a.reject(err);
      });
    }
  }

  /** Adds each task on its own merits: one refused task does not stop the others (per-task results). */
  async addCollection(
    account: string,
    jobId: string,
    bodies: Record<string, unknown>[],
  ): Promise<TaskAddResult[]> {
    if (bodies.length === 0)
      throw invalidProperty('value', 'A task collection must hold 1 to 100 tasks; this one holds none.');
    const { results } = await this.ctx.store.transaction((tx) => this.addIn(tx, account, jobId, bodies));
    if (results.some((r) => r.status === 'success')) this.onWork();
    return results;
  }

  /** addCollection inside the caller's transaction (job add uses it for the job manager task). */
  async addCollectionIn(
    tx: StoreTx,
    account: string,
    jobId: string,
    bodies: Record<string, unknown>[],
  ): Promise<TaskAddResult[]> {
    return (await this.addIn(tx, account, jobId, bodies)).results;
  }

  /** The adds of `bodies` to one job in `tx`; `bodyOf` tells which body each result is for. */
  private async addIn(
    tx: StoreTx,
    account: string,
    jobId: string,
    bodies: Record<string, unknown>[],
  ): Promise<{ results: TaskAddResult[]; bodyOf: (r: TaskAddResult) => Record<string, unknown> }> {
    const job = await this.openJob(tx, account, jobId);
    const refusal = jobWriteRefusal(job.state);
    if (refusal) throw refusal;
    const ids = bodies.map((b) => (typeof b.id === 'string' ? b.id : ''));
    const existing = new Set((await tx.findTasks(account, jobId, ids)).map((t) => t.id.toLowerCase()));
    const pool = await tx.findPool(account, job.poolId);
    const slotsPerNode = pool === undefined ? undefined : Number(pool.spec.taskSlotsPerNode ?? 1);
    const userNames = pool === undefined ? undefined : accountNames(pool.spec);
    const accepted = new Map<string, { body: Record<string, unknown>; checked: TaskAddChecked }>();
    const out: TaskAddResult[] = [];
    const refusedBody = new Map<TaskAddResult, Record<string, unknown>>();
    for (const body of bodies) {
      const taskId = typeof body.id === 'string' ? body.id : '';
      try {
        const checked = checkTaskAdd(body, job, slotsPerNode, userNames);
        const k = checked.id.toLowerCase();
        if (existing.has(k) || accepted.has(k)) throw taskExists(checked.id);
        const sameAsPrep = sameIdAsPrepOrRelease(checked.id, job.spec);
        if (sameAsPrep) throw sameAsPrep;
        accepted.set(k, { body, checked });
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        const result: TaskAddResult = { status: 'clienterror', taskId, error: err };
        out.push(result);
        refusedBody.set(result, body);
      }
    }
    const created = await this.createTasks(tx, job, [...accepted.values()], out);
    const results = [...out, ...created.map((task) => ({ status: 'success' as const, task }))];
    // Accepted ids are unique: a task created (or refused for its dependencies) is found by its id.
    const bodyOf = (r: TaskAddResult) =>
      refusedBody.get(r) ??
      accepted.get((r.status === 'success' ? r.task.id : r.taskId).toLowerCase())?.body ??
      {};
    return { results, bodyOf };
  }

  private async createTasks(
    tx: StoreTx,
    job: JobRecord,
    accepted: { body: Record<string, unknown>; checked: TaskAddChecked }[],
    refused: TaskAddResult[],
  ): Promise<TaskRecord[]> {
    const now = this.ctx.clock.now().toISOString();
    const batchIds = new Map(accepted.map((a) => [a.checked.id.toLowerCase(), a.checked.id]));
    const tasks: TaskRecord[] = [];
    const edges: { parent: string; child: string }[] = [];
    let seq = job.nextTaskSeq;
    for (const { body, checked } of accepted) {
      const parents = await this.parentsFor(tx, job, checked, batchIds, refused);
      if (parents === undefined) continue;
      const satisfied = await this.parentsSatisfied(tx, job, parents, batchIds);
      for (const p of parents) edges.push({ parent: p, child: checked.id });
      tasks.push({
        accountName: job.accountName,
        jobId: job.id,
        id: checked.id,
        spec: Object.fromEntries(Object.entries(body).filter(([k]) => !STATE_FIELDS.includes(k))),
        seq: seq++,
        poolId: job.poolId,
        jobPriority: job.priority,
        jobSeq: job.seq,
        state: 'active',
        previousState: null,
        stateTransitionTime: now,
        previousStateTransitionTime: null,
        creationTime: now,
        lastModified: now,
        etag: this.etag(),
        executionInfo: { retryCount: 0, requeueCount: 0 },
        nodeInfo: null,
        assignedNode: null,
        attempt: 0,
        blocked: !satisfied,
        held: job.state !== 'active',
        satisfiesDependents: false,
        requiredSlots: checked.requiredSlots,
        maxTaskRetryCount: checked.maxTaskRetryCount,
        ...(checked.maxWallClockTimeMs === undefined
          ? {}
          : { maxWallClockTimeMs: checked.maxWallClockTimeMs }),
        ...(checked.retentionTimeMs === undefined ? {} : { retentionTimeMs: checked.retentionTimeMs }),
      });
    }
    await tx.putTasks(tasks);
    await tx.putTaskDependencies(job.accountName, job.id, edges);
    await tx.putJob({ ...job, nextTaskSeq: seq });
    return tasks;
  }

  /** Lower-case parent ids; a parent id that is neither in the job nor in this request is refused. */
  private async parentsFor(
    tx: StoreTx,
    job: JobRecord,
    checked: TaskAddChecked,
    batchIds: Map<string, string>,
    refused: TaskAddResult[],
  ): Promise<string[] | undefined> {
    if (checked.dependsOnIds.length === 0 && checked.dependsOnRanges.length === 0) return [];
    const wanted = checked.dependsOnIds.map((id) => id.toLowerCase());
    const found = new Set(
      (await tx.findTasks(job.accountName, job.id, wanted)).map((t) => t.id.toLowerCase()),
    );
    const missing = wanted.find((id) => !found.has(id) && !batchIds.has(id));
    if (missing !== undefined) {
      refused.push({
        status: 'clienterror',
        taskId: checked.id,
        error: invalidProperty(
          'dependsOn.taskIds',
          `The task depends on task '${missing}', which does not exist in the job.`,
        ),
      });
      return undefined;
    }
    const parents = new Set(wanted);
    for (const r of checked.dependsOnRanges) {
      for (const id of await tx.taskIdsInRange(job.accountName, job.id, r.start, r.end)) parents.add(id);
      for (const id of batchIds.keys()) {
        if (/^\d+$/.test(id) && Number(id) >= r.start && Number(id) <= r.end) parents.add(id);
      }
    }
    parents.delete(checked.id.toLowerCase());
    return [...parents];
  }

  private async parentsSatisfied(
    tx: StoreTx,
    job: JobRecord,
    parents: string[],
    batchIds: Map<string, string>,
  ): Promise<boolean> {
    if (parents.some((p) => batchIds.has(p))) return false;
    const found = await tx.findTasks(job.accountName, job.id, parents);
    return found.every((t) => t.state === 'completed' && t.satisfiesDependents);
  }

  async get(account: string, jobId: string, taskId: string, cond: Conditions = {}): Promise<TaskRecord> {
    const task = await this.ctx.store.transaction((tx) => this.find(tx, account, jobId, taskId));
    checkConditions(task, cond, 'read');
    return task;
  }

  /** A multi-instance task's subtasks (ADR 0038; the primary, instance 0, is the task itself); none otherwise. */
  async subtasks(account: string, jobId: string, taskId: string): Promise<SubtaskRecord[]> {
    return this.ctx.store.transaction(async (tx) => {
      const task = await this.find(tx, account, jobId, taskId);
      return (await tx.findSubtasks(account, jobId, task.id)).filter((s) => s.id > 0);
    });
  }

  private async find(tx: StoreTx, account: string, jobId: string, taskId: string): Promise<TaskRecord> {
    await this.openJob(tx, account, jobId);
    const [task] = await tx.findTasks(account, jobId, [taskId]);
    if (!task) throw taskNotFound(taskId);
    return task;
  }

  /** The job's tasks in id order (lower case), optionally a page of them after `afterId`. */
  async list(
    account: string,
    jobId: string,
    page: { afterId?: string | undefined; limit?: number | undefined } = {},
  ): Promise<TaskRecord[]> {
    return this.ctx.store.transaction(async (tx) => {
      await this.openJob(tx, account, jobId);
      return tx.listTasks(account, jobId, {
        ...(page.afterId === undefined ? {} : { afterId: page.afterId }),
        ...(page.limit === undefined ? {} : { limit: page.limit }),
      });
    });
  }

  /** Each job's statistics (sums over its tasks, ADR 0031), by lower-cased job id, read in one transaction. */
  async jobStatistics(account: string, jobIds: string[], now: Date): Promise<Map<string, JobStatistics>> {
    return this.ctx.store.transaction(async (tx) => {
      const out = new Map<string, JobStatistics>();
      for (const id of jobIds) out.set(id.toLowerCase(), jobStatistics(await tx.listTasks(account, id), now));
      return out;
    });
  }

  /** PUT: replaces the task's constraints. */
  async update(
    account: string,
    jobId: string,
    taskId: string,
    body: Record<string, unknown>,
    cond: Conditions,
  ): Promise<TaskRecord> {
    const c = constraintsOf(body);
    return this.write(account, jobId, taskId, cond, (task) => {
      const constraints = (body.constraints ?? {}) as Record<string, unknown>;
      const next: TaskRecord = {
        ...task,
        spec: { ...task.spec, constraints },
        maxTaskRetryCount: c.maxTaskRetryCount ?? 0,
      };
      delete next.maxWallClockTimeMs;
      delete next.retentionTimeMs;
      return {
        ...next,
        ...(c.maxWallClockTimeMs === undefined ? {} : { maxWallClockTimeMs: c.maxWallClockTimeMs }),
        ...(c.retentionTimeMs === undefined ? {} : { retentionTimeMs: c.retentionTimeMs }),
      };
    });
  }

  /** Ends the task: a running one is killed (its node stops it once it is no longer assigned). */
  async terminate(account: string, jobId: string, taskId: string, cond: Conditions): Promise<TaskRecord> {
    const now = this.ctx.clock.now();
    const done = await this.ctx.store.transaction(async (tx) => {
      const task = await this.find(tx, account, jobId, taskId);
      checkConditions(task, cond, 'write');
      if (task.state === 'completed') throw taskCompleted();
      const ended = finishTask(task, now, { failureInfo: TASK_ENDED });
      await tx.putTasks([{ ...ended, etag: this.etag() }]);
      await settleJob(tx, ended, now);
      return ended;
    });
    this.onWork();
    return done;
  }

  /** A completed task that failed goes back to the queue with fresh execution information. */
  async reactivate(account: string, jobId: string, taskId: string, cond: Conditions): Promise<TaskRecord> {
    const now = this.ctx.clock.now();
    const task = await this.write(account, jobId, taskId, cond, (t) => {
      if (t.state !== 'completed')
        throw new DomainError(
          'conflict',
          'TaskNotCompleted',
          'The specified task is not in a completed state, and the requested operation can be performed only on completed tasks.',
          { values: { TaskId: t.id } },
        );
      if (t.executionInfo.result !== 'failure')
        throw new DomainError(
          'conflict',
          'TaskSucceeded',
          'The specified task has already completed successfully, and the requested operation cannot be performed on successful tasks.',
          { values: { TaskId: t.id } },
        );
      const moved = moveTask(t, 'active', now);
      if (!moved) throw taskCompleted();
      return { ...moved, executionInfo: { retryCount: 0, requeueCount: 0 }, satisfiesDependents: false };
    });
    this.onWork();
    return task;
  }

  async delete(account: string, jobId: string, taskId: string, cond: Conditions): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const task = await this.find(tx, account, jobId, taskId);
      checkConditions(task, cond, 'write');
      await forgetTaskFiles(tx, [task]);
      await tx.deleteTask(account, jobId, task.id);
    });
    this.onWork();
  }

  private async write(
    account: string,
    jobId: string,
    taskId: string,
    cond: Conditions,
    change: (task: TaskRecord) => TaskRecord,
  ): Promise<TaskRecord> {
    return this.ctx.store.transaction(async (tx) => {
      const task = await this.find(tx, account, jobId, taskId);
      checkConditions(task, cond, 'write');
      const next = { ...change(task), etag: this.etag(), lastModified: this.ctx.clock.now().toISOString() };
      await tx.putTasks([next]);
      return next;
    });
  }
}
