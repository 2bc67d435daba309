import { endsJob } from './job-manager.ts';
import { releaseAutoPool } from './auto-pools.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { JobRecord, TaskFailureRecord, TaskRecord } from '../../storage/records.ts';
import { newEtag, serviceEtag } from '../pools/conditions.ts';
import { releaseJob } from './job-prep.ts';
import { record } from './spec.ts';
import { moveJob, moveTask } from './states.ts';

/** How one run of a task ended, as its node reports it. */
export interface RunOutcome {
  exitCode?: number;
  failureInfo?: TaskFailureRecord;
  /** Resource files could not be fetched (the command never ran): exitConditions.preProcessingError. */
  preProcessingError?: boolean;
  /** Output files could not be uploaded: exitConditions.fileUploadError. */
  fileUploadError?: boolean;
}

interface ExitOptions {
  jobAction: 'none' | 'disable' | 'terminate';
  dependencyAction: 'satisfy' | 'block';
}

/** A fresh ETag for a task the scheduler changed (unique per task and run within a millisecond). */
export const taskEtag = (task: TaskRecord, now: Date): string =>
  newEtag(now, task.seq * 131 + task.attempt * 17 + task.executionInfo.retryCount);

/** A run succeeded: it exited 0 and nothing else (resource files, output files) failed. */
export const runSucceeded = (o: { exitCode?: number; failureInfo?: unknown }): boolean =>
  o.exitCode === 0 && o.failureInfo === undefined;

/** The exitConditions entry that applies to an outcome (BatchService.json ExitConditions), with defaults. */
export function exitOptionsFor(task: TaskRecord, job: JobRecord | undefined, o: RunOutcome): ExitOptions {
  const conditions = record(task.spec.exitConditions);
  const code = o.exitCode;
  const match = (): unknown => {
    if (o.preProcessingError === true && conditions.preProcessingError !== undefined)
      return conditions.preProcessingError;
    if (o.fileUploadError === true && conditions.fileUploadError !== undefined)
      return conditions.fileUploadError;
    if (code !== undefined) {
      const list = (v: unknown) => (Array.isArray(v) ? v.map(record) : []);
      const exact = list(conditions.exitCodes).find((e) => e.code === code);
      if (exact) return exact.exitOptions;
      const range = list(conditions.exitCodeRanges).find(
        (r) => typeof r.start === 'number' && typeof r.end === 'number' && code >= r.start && code <= r.end,
      );
      if (range) return range.exitOptions;
    }
    return runSucceeded(o) ? undefined : conditions.default;
  };
  const options = record(match());
  const ok = runSucceeded(o);
  const usesJobAction = job?.spec.onTaskFailure === 'performexitoptionsjobaction';
  const jobAction = options.jobAction ?? (ok ? 'none' : usesJobAction ? 'terminate' : 'none');
  return {
    jobAction: usesJobAction && (jobAction === 'disable' || jobAction === 'terminate') ? jobAction : 'none',
    dependencyAction:
      options.dependencyAction === 'satisfy' || options.dependencyAction === 'block'
        ? options.dependencyAction
        : ok
          ? 'satisfy'
          : 'block',
  };
}

/** The task completed with this outcome (no retry left, or ended by request). */
export function finishTask(task: TaskRecord, now: Date, o: RunOutcome, job?: JobRecord): TaskRecord {
  const moved = moveTask(task, 'completed', now) ?? task;
  const ok = runSucceeded(o);
  const info = {
    ...task.executionInfo,
    endTime: now.toISOString(),
    result: ok ? 'success' : 'failure',
  } as const;
  const executionInfo: TaskRecord['executionInfo'] = {
    ...info,
    ...(o.exitCode === undefined ? {} : { exitCode: o.exitCode }),
    ...(o.failureInfo === undefined ? {} : { failureInfo: o.failureInfo }),
  };
  if (o.exitCode === undefined) delete executionInfo.exitCode;
  if (o.failureInfo === undefined) delete executionInfo.failureInfo;
  return {
    ...moved,
    executionInfo,
    assignedNode: null,
    lastModified: now.toISOString(),
    etag: taskEtag(task, now),
    satisfiesDependents: exitOptionsFor(task, job, o).dependencyAction === 'satisfy',
  };
}

/** The task goes back to the queue because its node went away (not counted against its retries). */
export function requeueTask(task: TaskRecord, now: Date): TaskRecord {
  const moved = moveTask(task, 'active', now) ?? task;
  return {
    ...moved,
    assignedNode: null,
    lastModified: now.toISOString(),
    etag: taskEtag(task, now),
    executionInfo: {
      ...task.executionInfo,
      requeueCount: task.executionInfo.requeueCount + 1,
      lastRequeueTime: now.toISOString(),
    },
  };
}

/** A failed run with retries left: the task is queued again with its retry counted. */
export function retryTask(task: TaskRecord, now: Date, o: RunOutcome): TaskRecord {
  const moved = moveTask(task, 'active', now) ?? task;
  const info: TaskRecord['executionInfo'] = {
    ...task.executionInfo,
    retryCount: task.executionInfo.retryCount + 1,
    lastRetryTime: now.toISOString(),
    ...(o.exitCode === undefined ? {} : { exitCode: o.exitCode }),
    ...(o.failureInfo === undefined ? {} : { failureInfo: o.failureInfo }),
  };
  return {
    ...moved,
    assignedNode: null,
    lastModified: now.toISOString(),
    etag: taskEtag(task, now),
    executionInfo: info,
  };
}

/** Whether a failed run is tried again (maxTaskRetryCount: -1 = unlimited). */
export function hasRetryLeft(task: TaskRecord): boolean {
  return task.maxTaskRetryCount < 0 || task.executionInfo.retryCount < task.maxTaskRetryCount;
}

/**
 * After `task` completed: unblocks dependents whose parents are now all satisfied, applies the exit options'
 * job action and completes the job when `onAllTasksComplete` is terminatejob and nothing is left to run.
 */
export async function settleJob(
  tx: StoreTx,
  task: TaskRecord,
  now: Date,
  outcome?: RunOutcome,
): Promise<void> {
  if (task.satisfiesDependents) await unblockDependents(tx, task);
  const job = await tx.findJob(task.accountName, task.jobId);
  if (!job) return;
  if (job.state === 'active' && endsJob(task, job)) {
    await terminateJob(tx, job, now, 'JMComplete');
    return;
  }
  if (outcome) {
    const action = exitOptionsFor(task, job, outcome).jobAction;
    if (action === 'terminate') {
      await terminateJob(tx, job, now, 'TaskFailed');
      return;
    }
    if (action === 'disable') {
      const disabled = moveJob(job, 'disabling', now);
      if (disabled) {
        const moved = moveJob(disabled, 'disabled', now) ?? disabled;
        await tx.putJob({ ...moved, lastModified: now.toISOString(), etag: serviceEtag(now) });
      }
    }
  }
  if (job.spec.onAllTasksComplete !== 'terminatejob' || job.state !== 'active') return;
  const open = await tx.listTasks(job.accountName, job.id, {
    states: ['active', 'preparing', 'running'],
    limit: 1,
  });
  if (open.length === 0) await terminateJob(tx, job, now, 'AllTasksComplete');
}

async function unblockDependents(tx: StoreTx, parent: TaskRecord): Promise<void> {
  const { accountName: account, jobId } = parent;
  const children = await tx.findTasks(account, jobId, await tx.dependentsOf(account, jobId, parent.id));
  const ready: TaskRecord[] = [];
  for (const child of children.filter((c) => c.blocked && c.state === 'active')) {
    const wanted = await tx.parentsOf(account, jobId, child.id);
    const parents = await tx.findTasks(account, jobId, wanted);
    const done = parents.filter((p) => p.state === 'completed' && p.satisfiesDependents);
    if (done.length === wanted.length) ready.push({ ...child, blocked: false });
  }
  await tx.putTasks(ready);
}

/**
 * terminating → completed: running tasks end (their nodes kill them when they are no longer assigned),
 * queued tasks stay as they are but are no longer scheduled.
 */
/** The failure of a task ended by a user's request (terminate a task or its job, disable a job or a node). */
export const TASK_ENDED = {
  category: 'usererror',
  code: 'TaskEnded',
  message: 'Task Was Ended by User Request',
} as const;

export async function terminateJob(
  tx: StoreTx,
  job: JobRecord,
  now: Date,
  reason: string,
): Promise<JobRecord> {
  const terminating = moveJob(job, 'terminating', now);
  if (!terminating) return job;
  const running = await tx.listTasks(job.accountName, job.id, { states: ['preparing', 'running'] });
  const ended = running.map((t) => finishTask(t, now, { failureInfo: TASK_ENDED }));
  const queued = await tx.listTasks(job.accountName, job.id, { states: ['active'] });
  await tx.putTasks([...ended, ...queued.map((t) => ({ ...t, held: true }))]);
  await releaseJob(tx, job, false);
  const completed = moveJob(terminating, 'completed', now) ?? terminating;
  const done: JobRecord = {
    ...completed,
    lastModified: now.toISOString(),
    etag: serviceEtag(now),
    executionInfo: { ...completed.executionInfo, endTime: now.toISOString(), terminateReason: reason },
  };
  await tx.putJob(done);
  await releaseAutoPool(tx, job.accountName, job.poolId, { owner: 'job', ownerId: job.id }, now);
  return done;
}
