import { jobManagerTaskBody } from './job-manager.ts';
import { releaseAutoPool, updateAutoPoolInfo, type AutoPools } from './auto-pools.ts';
import type { PoolCaller } from '../pools/image-rules.ts';
import { TaskService } from './tasks.ts';
import type { StoreTx } from '../../storage/port.ts';
import type {
  BatchAccountRecord,
  JobPrepRecord,
  JobRecord,
  JobSchedulingErrorRecord,
  NodeRecord,
  TaskCountsRecord,
} from '../../storage/records.ts';
import { checkActiveJobQuota } from '../accounts/quotas.ts';
import type { DomainContext } from '../context.ts';
import { checkConditions, etagSource, type Conditions } from '../pools/conditions.ts';
import { invalidProperty, unsupportedProperty } from '../pools/pool-spec.ts';
import {
  jobExists,
  jobNotActive,
  jobNotFound,
  jobWriteRefusal,
  scheduleWithSameId,
  underProperty,
} from './errors.ts';
import { releaseJob } from './job-prep.ts';
import {
  checkJobAdd,
  checkJobUsers,
  checkPriority,
  constraintsOf,
  record,
  type JobAddChecked,
} from './spec.ts';
import { accountNames } from '../pools/user-accounts.ts';
import { moveJob } from './states.ts';
import { finishTask, requeueTask, TASK_ENDED, terminateJob } from './task-outcome.ts';
import { forgetTaskFiles } from './task-files-cleanup.ts';

const STATE_FIELDS = ['id', 'priority'];
const UPDATABLE = [
  'priority',
  'constraints',
  'poolInfo',
  'onAllTasksComplete',
  'metadata',
  'maxParallelTasks',
];

/** Batch jobs: add, read, patch/update, disable/enable, terminate, delete, task counts. */
export class JobService {
  private readonly ctx: DomainContext;
  private readonly onWork: () => void;
  private readonly etag: () => string;

  private readonly tasks: TaskService;
  private readonly autoPoolMaker: AutoPools | undefined;

  constructor(ctx: DomainContext, onWork: () => void = () => undefined, autoPools?: AutoPools) {
    this.ctx = ctx;
    this.etag = etagSource(ctx.clock);
    this.onWork = onWork;
    this.tasks = new TaskService(ctx, onWork);
    this.autoPoolMaker = autoPools;
  }

  /** Makes auto pools (pools-runtime.ts wires it; a service built without one refuses auto pool jobs). */
  get autoPools(): AutoPools {
    if (this.autoPoolMaker === undefined)
      throw unsupportedProperty('poolInfo.autoPoolSpecification', 'Auto pools are not available here.');
    return this.autoPoolMaker;
  }

  async add(account: BatchAccountRecord, who: PoolCaller, body: Record<string, unknown>): Promise<JobRecord> {
    const checked = checkJobAdd(body);
    const added = await this.ctx.store.transaction(async (tx) => {
      if (await tx.findJob(account.name, checked.id)) throw jobExists(checked.id);
      await checkActiveJobQuota(this.ctx, tx, account.name);
      if (checked.autoPool === undefined) {
        // A user name its pool lacks is refused here (a schedule's jobs are made later, whatever the pool holds).
        const pool = await tx.findPool(account.name, checked.poolId);
        if (pool) checkJobUsers(body, accountNames(pool.spec));
        return this.addIn(tx, account.name, checked, body);
      }
      const owner = { owner: 'job', ownerId: checked.id } as const;
      const made = await this.autoPools.create(tx, account, who, checked.autoPool, owner);
      return this.addIn(tx, account.name, { ...checked, poolId: made.poolId }, body, made.schedulingError);
    });
    if (checked.autoPool !== undefined) this.autoPools.changed();
    if (body.jobManagerTask !== undefined) this.onWork();
    return added;
  }

  /**
   * Adds a checked job inside the caller's transaction (the job schedule runner creates its jobs so); its pool
   * exists or was just made (`schedulingError` when an auto pool could not be).
   */
  async addIn(
    tx: StoreTx,
    accountName: string,
    checked: JobAddChecked,
    body: Record<string, unknown>,
    schedulingError?: JobSchedulingErrorRecord,
  ): Promise<JobRecord> {
    const now = this.ctx.clock.now().toISOString();
    if (await tx.findJob(accountName, checked.id)) throw jobExists(checked.id);
    if (await tx.findJobSchedule(accountName, checked.id)) throw scheduleWithSameId(checked.id);
    const job: JobRecord = {
      accountName,
      id: checked.id,
      spec: Object.fromEntries(Object.entries(body).filter(([k]) => !STATE_FIELDS.includes(k))),
      poolId: checked.poolId,
      priority: checked.priority,
      seq: await tx.nextJobSeq(),
      state: 'active',
      previousState: null,
      stateTransitionTime: now,
      previousStateTransitionTime: null,
      creationTime: now,
      lastModified: now,
      etag: this.etag(),
      executionInfo: {
        startTime: now,
        poolId: checked.poolId,
        ...(schedulingError ? { schedulingError } : {}),
      },
      nextTaskSeq: 0,
    };
    await tx.putJob(job);
    const manager = await jobManagerTaskBody(tx, job);
    if (manager === undefined) return job;
    const [added] = await this.tasks.addCollectionIn(tx, accountName, job.id, [manager]);
    if (added?.status === 'clienterror') throw underProperty(added.error, 'jobManagerTask');
    return (await tx.findJob(accountName, job.id)) ?? job;
  }

  private async find(tx: StoreTx, account: string, id: string): Promise<JobRecord> {
    const job = await tx.findJob(account, id);
    if (!job) throw jobNotFound(id);
    return job;
  }

  async get(account: string, id: string, cond: Conditions = {}): Promise<JobRecord> {
    const job = await this.ctx.store.transaction((tx) => this.find(tx, account, id));
    checkConditions(job, cond, 'read');
    return job;
  }

  list(account: string): Promise<JobRecord[]> {
    return this.ctx.store.transaction((tx) => tx.listJobs(account));
  }

  /** PATCH changes the properties given; PUT (`replace`) resets the updatable ones it leaves out. */
  async update(
    account: string,
    id: string,
    body: Record<string, unknown>,
    cond: Conditions,
    replace: boolean,
  ): Promise<JobRecord> {
    const priority = body.priority === undefined ? undefined : checkPriority(body.priority);
    constraintsOf(body);
    const poolId = record(body.poolInfo).poolId;
    const job = await this.write(account, id, cond, async (tx, job) => {
      await updateAutoPoolInfo(tx, job, body.poolInfo, this.ctx.clock.now());
      const spec = replace
        ? Object.fromEntries(Object.entries(job.spec).filter(([k]) => !UPDATABLE.includes(k)))
        : { ...job.spec };
      for (const [k, v] of Object.entries(body)) if (k !== 'priority') spec[k] = v;
      if (
        typeof poolId === 'string' &&
        poolId.toLowerCase() !== job.poolId.toLowerCase() &&
        job.state !== 'disabled'
      )
        throw invalidProperty('poolInfo', 'The pool of a job can only be changed while the job is disabled.');
      const next: JobRecord = {
        ...job,
        spec,
        priority: priority ?? (replace ? 0 : job.priority),
        poolId: typeof poolId === 'string' ? poolId : job.poolId,
      };
      if (next.priority !== job.priority || next.poolId !== job.poolId) {
        const queued = await tx.listTasks(account, job.id, { states: ['active'] });
        await tx.putTasks(queued.map((t) => ({ ...t, jobPriority: next.priority, poolId: next.poolId })));
      }
      return next;
    });
    this.onWork();
    return job;
  }

  /** active → disabled; running tasks are requeued, ended or left to finish (`disableTasks`). */
  async disable(account: string, id: string, disableTasks: string, cond: Conditions): Promise<void> {
    const now = this.ctx.clock.now();
    await this.write(account, id, cond, async (tx, job) => {
      if (job.state !== 'active') throw jobNotActive();
      const running = await tx.listTasks(account, job.id, { states: ['preparing', 'running'] });
      const changed =
        disableTasks === 'wait'
          ? []
          : running.map((t) =>
              disableTasks === 'terminate'
                ? finishTask(t, now, { failureInfo: TASK_ENDED })
                : { ...requeueTask(t, now), held: true },
            );
      const queued = await tx.listTasks(account, job.id, { states: ['active'] });
      await tx.putTasks([...queued.map((t) => ({ ...t, held: true })), ...changed]);
      const disabling = moveJob(job, 'disabling', now) ?? job;
      return moveJob(disabling, 'disabled', now) ?? disabling;
    });
    this.onWork();
  }

  async enable(account: string, id: string, cond: Conditions): Promise<void> {
    const now = this.ctx.clock.now();
    await this.write(account, id, cond, async (tx, job) => {
      if (job.state === 'active') return job;
      if (job.state !== 'disabled') throw jobNotActive();
      const queued = await tx.listTasks(account, job.id, { states: ['active'] });
      await tx.putTasks(queued.map((t) => ({ ...t, held: false })));
      const enabling = moveJob(job, 'enabling', now) ?? job;
      return moveJob(enabling, 'active', now) ?? enabling;
    });
    this.onWork();
  }

  async terminate(account: string, id: string, reason: string | undefined, cond: Conditions): Promise<void> {
    const now = this.ctx.clock.now();
    await this.ctx.store.transaction(async (tx) => {
      const job = await this.find(tx, account, id);
      checkConditions(job, cond, 'write');
      const refusal = jobWriteRefusal(job.state);
      if (refusal) throw refusal;
      await terminateJob(tx, { ...job, etag: this.etag() }, now, reason ?? 'UserTerminate');
    });
    this.onWork();
  }

  /** Removes the job and its tasks at once; nodes stop running tasks that are no longer assigned. */
  async delete(account: string, id: string, cond: Conditions): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const job = await this.find(tx, account, id);
      checkConditions(job, cond, 'write');
      await releaseJob(tx, job, true);
      await forgetTaskFiles(tx, await tx.listTasks(account, job.id));
      await tx.deleteJob(account, job.id);
      const owner = { owner: 'job', ownerId: job.id } as const;
      await releaseAutoPool(tx, account, job.poolId, owner, this.ctx.clock.now());
    });
    this.onWork();
  }

  /** Where the job's preparation (and release) ran: the nodes of its pool that prepared for it. */
  async prepStatus(account: string, id: string): Promise<{ node: NodeRecord; prep: JobPrepRecord }[]> {
    return this.ctx.store.transaction(async (tx) => {
      const job = await this.find(tx, account, id);
      const out: { node: NodeRecord; prep: JobPrepRecord }[] = [];
      for (const node of await tx.listNodes(account, job.poolId)) {
        const prep = node.jobPreps?.[job.id.toLowerCase()];
        if (prep && prep.preparation.state !== 'pending') out.push({ node, prep });
      }
      return out;
    });
  }

  async taskCounts(
    account: string,
    id: string,
  ): Promise<{ tasks: TaskCountsRecord; slots: TaskCountsRecord }> {
    return this.ctx.store.transaction(async (tx) => {
      await this.find(tx, account, id);
      return tx.countTasks(account, id);
    });
  }

  private async write(
    account: string,
    id: string,
    cond: Conditions,
    change: (tx: StoreTx, job: JobRecord) => Promise<JobRecord>,
  ): Promise<JobRecord> {
    return this.ctx.store.transaction(async (tx) => {
      const job = await this.find(tx, account, id);
      checkConditions(job, cond, 'write');
      const refusal = jobWriteRefusal(job.state);
      if (refusal) throw refusal;
      const next = {
        ...(await change(tx, job)),
        etag: this.etag(),
        lastModified: this.ctx.clock.now().toISOString(),
      };
      await tx.putJob(next);
      return next;
    });
  }
}
