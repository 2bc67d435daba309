import type { StoreTx } from '../../storage/port.ts';
import type { JobRecord, JobScheduleRecord } from '../../storage/records.ts';
import { checkActiveJobQuota } from '../accounts/quotas.ts';
import type { DomainContext } from '../context.ts';
import { checkConditions, etagSource, type Conditions } from '../pools/conditions.ts';
import { releaseJob } from './job-prep.ts';
import { releaseAutoPool, type AutoPoolSpec } from './auto-pools.ts';
import type { PoolCaller } from '../pools/image-rules.ts';
import type { JobService } from './jobs.ts';
import {
  checkJobSpecification,
  checkSchedule,
  jobScheduleExists,
  jobScheduleNotFound,
  moveSchedule,
  scheduleTimes,
  scheduleWriteRefusal,
} from './schedule-spec.ts';
import { checkId, record } from './spec.ts';
import { jobWithSameId } from './errors.ts';
import { forgetTaskFiles } from './task-files-cleanup.ts';
import { terminateJob } from './task-outcome.ts';

/** Jobs a schedule created are named `<schedule id>:job-<n>` (user job ids cannot contain `:`). */
export const scheduledJobId = (scheduleId: string, n: number): string => `${scheduleId}:job-${String(n)}`;
const isOf = (job: JobRecord, s: JobScheduleRecord) =>
  job.id.toLowerCase().startsWith(`${s.id.toLowerCase()}:job-`);

/** When the first job is due: at doNotRunUntil, or now. */
const firstRun = (s: JobScheduleRecord, now: Date): string =>
  new Date(Math.max(now.getTime(), scheduleTimes(s).doNotRunUntil ?? 0)).toISOString();

/**
 * Batch job schedules: add, read, patch/update, disable/enable, terminate, delete, and the jobs a schedule made.
 * Creating jobs on time is `ScheduleRunner` (schedule-runner.ts); this service records what the user asks for.
 */
export class JobScheduleService {
  private readonly ctx: DomainContext;
  private readonly jobs: JobService;
  private readonly onChange: () => void;
  private readonly etag: () => string;

  constructor(ctx: DomainContext, jobs: JobService, onChange: () => void = () => undefined) {
    this.ctx = ctx;
    this.jobs = jobs;
    this.onChange = onChange;
    this.etag = etagSource(ctx.clock);
  }

  async add(account: string, who: PoolCaller, body: Record<string, unknown>): Promise<JobScheduleRecord> {
    const id = checkId(body.id);
    checkSchedule(body.schedule);
    const { autoPool } = checkJobSpecification(body.jobSpecification);
    const now = this.ctx.clock.now();
    const stamp = now.toISOString();
    const added = await this.ctx.store.transaction(async (tx) => {
      if (await tx.findJobSchedule(account, id)) throw jobScheduleExists(id);
      if (await tx.findJob(account, id)) throw jobWithSameId(id);
      await checkActiveJobQuota(this.ctx, tx, account);
      // The runner makes the pools later: the caller's access to their image is checked now.
      if (autoPool !== undefined) await this.vetAutoPool(tx, account, who, autoPool);
      const schedule: JobScheduleRecord = {
        accountName: account,
        id,
        spec: Object.fromEntries(Object.entries(body).filter(([k]) => k !== 'id')),
        state: 'active',
        previousState: null,
        stateTransitionTime: stamp,
        previousStateTransitionTime: null,
        creationTime: stamp,
        lastModified: stamp,
        etag: this.etag(),
        executionInfo: {},
        jobCount: 0,
      };
      const next = { ...schedule, executionInfo: { nextRunTime: firstRun(schedule, now) } };
      await tx.putJobSchedule(next);
      return next;
    });
    this.onChange();
    return added;
  }

  private async find(tx: StoreTx, account: string, id: string): Promise<JobScheduleRecord> {
    const s = await tx.findJobSchedule(account, id);
    if (!s) throw jobScheduleNotFound(id);
    return s;
  }

  async get(account: string, id: string, cond: Conditions = {}): Promise<JobScheduleRecord> {
    const s = await this.ctx.store.transaction((tx) => this.find(tx, account, id));
    checkConditions(s, cond, 'read');
    return s;
  }

  list(account: string): Promise<JobScheduleRecord[]> {
    return this.ctx.store.transaction((tx) => tx.listJobSchedules(account));
  }

  /** The jobs this schedule created that still exist, oldest first. */
  async jobsOf(account: string, id: string): Promise<JobRecord[]> {
    return this.ctx.store.transaction(async (tx) => {
      const s = await this.find(tx, account, id);
      return (await tx.listJobs(account)).filter((j) => isOf(j, s)).sort((a, b) => a.seq - b.seq);
    });
  }

  /**
   * PATCH (`replace` false) changes the properties given; PUT replaces schedule and jobSpecification (both
   * required) and removes metadata it leaves out. A changed schedule is planned afresh from now.
   */
  async update(
    account: string,
    id: string,
    body: Record<string, unknown>,
    cond: Conditions,
    replace: boolean,
    who: PoolCaller,
  ): Promise<JobScheduleRecord> {
    if (replace || body.schedule !== undefined) checkSchedule(body.schedule);
    if (replace || body.jobSpecification !== undefined) {
      const { autoPool } = checkJobSpecification(body.jobSpecification);
      if (autoPool !== undefined)
        await this.ctx.store.transaction((tx) => this.vetAutoPool(tx, account, who, autoPool));
    }
    const updated = await this.write(account, id, cond, (s, now) => {
      const spec = { ...s.spec };
      for (const k of ['schedule', 'jobSpecification', 'metadata'])
        if (body[k] !== undefined && body[k] !== null) spec[k] = body[k];
        else if (replace && k === 'metadata') Reflect.deleteProperty(spec, k);
      const next = { ...s, spec };
      if (body.schedule === undefined) return next;
      return { ...next, executionInfo: { ...next.executionInfo, nextRunTime: firstRun(next, now) } };
    });
    this.onChange();
    return updated;
  }

  /** disable: no new jobs until enabled (a running job is left alone). */
  disable(account: string, id: string, cond: Conditions = {}): Promise<JobScheduleRecord> {
    return this.write(account, id, cond, (s, now) => moveSchedule(s, 'disabled', now) ?? s);
  }

  async enable(account: string, id: string, cond: Conditions = {}): Promise<JobScheduleRecord> {
    const enabled = await this.write(account, id, cond, (s, now) => moveSchedule(s, 'active', now) ?? s);
    this.onChange();
    return enabled;
  }

  /** terminate: terminating → completed; the schedule's active job is terminated with it. */
  async terminate(account: string, id: string, cond: Conditions = {}): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const s = await this.find(tx, account, id);
      checkConditions(s, cond, 'write');
      const refusal = scheduleWriteRefusal(s.state);
      if (refusal) throw refusal;
      const now = this.ctx.clock.now();
      const terminating = moveSchedule(s, 'terminating', now) ?? s;
      for (const job of (await tx.listJobs(account)).filter((j) => isOf(j, s)))
        if (job.state !== 'completed' && job.state !== 'deleting')
          await terminateJob(tx, job, now, 'UserTerminate');
      await tx.putJobSchedule(this.stamped(await completeSchedule(tx, terminating, now), now));
    });
    this.onChange();
  }

  /** delete: the schedule and every job it created go. */
  async delete(account: string, id: string, cond: Conditions = {}): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const s = await this.find(tx, account, id);
      checkConditions(s, cond, 'write');
      for (const job of (await tx.listJobs(account)).filter((j) => isOf(j, s))) {
        await releaseJob(tx, job, true);
        await forgetTaskFiles(tx, await tx.listTasks(account, job.id));
        await tx.deleteJob(account, job.id);
        await releaseAutoPool(
          tx,
          account,
          job.poolId,
          { owner: 'job', ownerId: job.id },
          this.ctx.clock.now(),
        );
      }
      await releaseScheduleAutoPool(tx, s, this.ctx.clock.now());
      await tx.deleteJobSchedule(account, s.id);
    });
    this.onChange();
  }

  /**
   * Creates a schedule's next job inside the runner's transaction, with its auto pool when it has one: a new pool
   * per job (`job` lifetime), or the schedule's one pool (`jobschedule`), kept in `autoPoolId`.
   */
  async createJob(
    tx: StoreTx,
    s: JobScheduleRecord,
  ): Promise<{ job: JobRecord; schedule: JobScheduleRecord }> {
    const spec = record(s.spec.jobSpecification);
    const checked = { ...checkJobSpecification(spec), id: scheduledJobId(s.id, s.jobCount + 1) };
    const body = { ...spec, id: checked.id };
    const auto = checked.autoPool;
    if (auto === undefined)
      return { job: await this.jobs.addIn(tx, s.accountName, checked, body), schedule: s };
    const shared = auto.lifetime === 'jobschedule';
    const reuse =
      shared && s.autoPoolId !== undefined ? await tx.findPool(s.accountName, s.autoPoolId) : undefined;
    if (reuse !== undefined && reuse.state !== 'deleting') {
      const job = await this.jobs.addIn(tx, s.accountName, { ...checked, poolId: reuse.id }, body);
      return { job, schedule: s };
    }
    const account = await tx.findBatchAccountByName(s.accountName);
    if (!account) throw new Error(`job schedule ${s.id}: account ${s.accountName} is gone`);
    const owner = shared
      ? ({ owner: 'jobschedule', ownerId: s.id } as const)
      : ({ owner: 'job', ownerId: checked.id } as const);
    // The schedule's image access was checked when it was added; its pools are made with the account's authority.
    const made = await this.jobs.autoPools.create(tx, account, { scheme: 'SharedKey' }, auto, owner);
    const job = await this.jobs.addIn(
      tx,
      s.accountName,
      { ...checked, poolId: made.poolId },
      body,
      made.schedulingError,
    );
    return { job, schedule: shared ? { ...s, autoPoolId: made.poolId } : s };
  }

  private async vetAutoPool(
    tx: StoreTx,
    account: string,
    who: PoolCaller,
    spec: AutoPoolSpec,
  ): Promise<void> {
    const record = await tx.findBatchAccountByName(account);
    if (record) await this.jobs.autoPools.vet(tx, record, who, spec);
  }

  private stamped(s: JobScheduleRecord, now: Date): JobScheduleRecord {
    return { ...s, lastModified: now.toISOString(), etag: this.etag() };
  }

  private write(
    account: string,
    id: string,
    cond: Conditions,
    change: (s: JobScheduleRecord, now: Date) => JobScheduleRecord,
  ): Promise<JobScheduleRecord> {
    return this.ctx.store.transaction(async (tx) => {
      const s = await this.find(tx, account, id);
      checkConditions(s, cond, 'write');
      const refusal = scheduleWriteRefusal(s.state);
      if (refusal) throw refusal;
      const now = this.ctx.clock.now();
      const next = this.stamped(change(s, now), now);
      await tx.putJobSchedule(next);
      return next;
    });
  }
}

/** Ends the lifetime of the auto pool a schedule's jobs share (`jobschedule`), unless it is kept alive. */
function releaseScheduleAutoPool(tx: StoreTx, s: JobScheduleRecord, now: Date): Promise<boolean> {
  if (s.autoPoolId === undefined) return Promise.resolve(false);
  return releaseAutoPool(tx, s.accountName, s.autoPoolId, { owner: 'jobschedule', ownerId: s.id }, now);
}

/** A schedule that will create no more jobs: completed, with its end time and no next run; its auto pool goes. */
export async function completeSchedule(
  tx: StoreTx,
  s: JobScheduleRecord,
  now: Date,
): Promise<JobScheduleRecord> {
  await releaseScheduleAutoPool(tx, s, now);
  const done = moveSchedule(s, 'completed', now) ?? s;
  const { recentJobId } = s.executionInfo;
  return { ...done, executionInfo: { ...(recentJobId ? { recentJobId } : {}), endTime: now.toISOString() } };
}
