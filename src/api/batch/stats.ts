import { addJobStatistics, NO_JOB_STATISTICS, taskStatistics } from '../../domain/jobs/task-usage.ts';
import type { JobRecord, JobScheduleRecord, TaskRecord } from '../../domain/records.ts';
import type { BatchDeps } from '../http/context.ts';
import { jobStatsToWire, taskStatsToWire } from './wire-stats.ts';

/**
 * `$expand=stats` on tasks, jobs and job schedules (ADR 0031): each statistics object's `url` is its entity's
 * with `/stats`, as pools have it; a job's range runs from its creation to its end (or now), a schedule's
 * likewise, over the jobs it still has.
 */

export function taskStats(task: TaskRecord, accountUrl: string, now: Date) {
  return taskStatsToWire(
    taskStatistics(task, now),
    `${accountUrl}/jobs/${task.jobId}/tasks/${task.id}/stats`,
  );
}

const rangeOf = (e: { creationTime: string; executionInfo: { endTime?: string } }, now: Date) => ({
  startTime: e.creationTime,
  lastUpdateTime: e.executionInfo.endTime ?? now.toISOString(),
});

/** JobStatistics of each job, by lower-cased id. */
export async function jobStats(
  deps: BatchDeps,
  account: string,
  accountUrl: string,
  jobs: JobRecord[],
  now: Date,
): Promise<Map<string, ReturnType<typeof jobStatsToWire>>> {
  const sums = await deps.tasks.jobStatistics(
    account,
    jobs.map((j) => j.id),
    now,
  );
  return new Map(
    jobs.map((j) => [
      j.id.toLowerCase(),
      jobStatsToWire(
        sums.get(j.id.toLowerCase()) ?? NO_JOB_STATISTICS,
        `${accountUrl}/jobs/${j.id}/stats`,
        rangeOf(j, now),
      ),
    ]),
  );
}

/** JobScheduleStatistics of a schedule: sums over the jobs it has made (and still has). */
export async function scheduleStats(
  deps: BatchDeps,
  account: string,
  accountUrl: string,
  schedule: JobScheduleRecord,
  now: Date,
) {
  const jobs = await deps.schedules.jobsOf(account, schedule.id);
  const sums = await deps.tasks.jobStatistics(
    account,
    jobs.map((j) => j.id),
    now,
  );
  let total = NO_JOB_STATISTICS;
  for (const s of sums.values()) total = addJobStatistics(total, s);
  return jobStatsToWire(total, `${accountUrl}/jobschedules/${schedule.id}/stats`, rangeOf(schedule, now));
}
