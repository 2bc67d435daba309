import type { StoreTx } from '../../storage/port.ts';
import type { JobRecord, TaskRecord } from '../../storage/records.ts';
import { invalidProperty, missingProperty } from '../pools/pool-spec.ts';

/**
 * The job manager task (BatchService.json JobManagerTask): a task of the job, added with it, queued ahead of
 * the job's other tasks (it is the job's first task). `runExclusive` (default true) makes it take every slot of
 * its node; `killJobOnCompletion` (default true) terminates the job when it completes, with terminateReason
 * `JMComplete`.
 */
const MANAGER_ONLY = ['killJobOnCompletion', 'runExclusive', 'allowLowPriorityNode'];

const record = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** Checks the manager-only fields of a job add body's jobManagerTask (the task part is checked as a task). */
export function checkJobManager(value: unknown): void {
  if (value === undefined || value === null) return;
  const jm = record(value);
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalidProperty('jobManagerTask', 'jobManagerTask must be an object.');
  if (jm.id === undefined) throw missingProperty('jobManagerTask.id');
  if (typeof jm.commandLine !== 'string' || jm.commandLine.trim() === '')
    throw missingProperty('jobManagerTask.commandLine');
  for (const flag of MANAGER_ONLY)
    if (jm[flag] !== undefined && typeof jm[flag] !== 'boolean')
      throw invalidProperty(`jobManagerTask.${flag}`, `${flag} must be true or false.`);
}

/** The task body the job manager becomes: its slots widened to the whole node when it runs exclusively. */
export async function jobManagerTaskBody(
  tx: StoreTx,
  job: JobRecord,
): Promise<Record<string, unknown> | undefined> {
  const jm = job.spec.jobManagerTask;
  if (jm === undefined || jm === null) return undefined;
  const spec = record(jm);
  const body = Object.fromEntries(Object.entries(spec).filter(([k]) => !MANAGER_ONLY.includes(k)));
  if (spec.runExclusive !== false) {
    const pool = await tx.findPool(job.accountName, job.poolId);
    const slots = Number(pool?.spec.taskSlotsPerNode ?? 1);
    body.requiredSlots = Math.max(Number(spec.requiredSlots ?? 1), slots);
  }
  return body;
}

/** Whether the completion of `task` ends its job (it is the job manager and killJobOnCompletion holds). */
export function endsJob(task: TaskRecord, job: JobRecord): boolean {
  const jm = record(job.spec.jobManagerTask);
  return (
    typeof jm.id === 'string' &&
    jm.id.toLowerCase() === task.id.toLowerCase() &&
    jm.killJobOnCompletion !== false &&
    task.state === 'completed'
  );
}
