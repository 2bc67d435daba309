import { serviceEtag } from '../pools/conditions.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { JobScheduleRecord } from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { scheduleTimes } from './schedule-spec.ts';
import { completeSchedule, type JobScheduleService } from './schedules.ts';

/** The first recurrence after `due` that is later than `now` (missed recurrences are not made up). */
function nextAfter(due: number, intervalMs: number, now: number): number {
  return due + Math.max(1, Math.ceil((now - due) / intervalMs)) * intervalMs;
}

/**
 * Creates the jobs of active job schedules on time: a level-triggered loop body. A schedule has at most one
 * job that is not completed; a recurrence due while it runs waits for it, and is skipped once its start window
 * has passed. A schedule with no recurrence makes one job; it completes when that job has, or when
 * doNotRunAfter has passed and no job of it is running.
 */
export class ScheduleRunner {
  private readonly ctx: DomainContext;
  private readonly schedules: JobScheduleService;

  constructor(ctx: DomainContext, schedules: JobScheduleService) {
    this.ctx = ctx;
    this.schedules = schedules;
  }

  /** One pass; resolves to whether it created a job (the dispatcher then has work). */
  tick(): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now();
      let created = false;
      for (const s of await tx.listJobSchedulesIn(['active'])) {
        const next = await this.step(tx, s, now);
        if (next === s) continue;
        created ||= next.jobCount > s.jobCount;
        await tx.putJobSchedule({ ...next, lastModified: now.toISOString(), etag: serviceEtag(now) });
      }
      return created;
    });
  }

  private async step(tx: StoreTx, s: JobScheduleRecord, now: Date): Promise<JobScheduleRecord> {
    const times = scheduleTimes(s);
    const recentId = s.executionInfo.recentJobId;
    const recent = recentId === undefined ? undefined : await tx.findJob(s.accountName, recentId);
    const busy = recent !== undefined && recent.state !== 'completed';
    const dueText = s.executionInfo.nextRunTime;
    if (dueText === undefined) return busy ? s : completeSchedule(tx, s, now);
    if (times.doNotRunAfter !== undefined && now.getTime() >= times.doNotRunAfter) {
      if (busy) return { ...s, executionInfo: recentId === undefined ? {} : { recentJobId: recentId } };
      return completeSchedule(tx, s, now);
    }
    const due = Date.parse(dueText);
    if (now.getTime() < due) return s;
    const late = times.startWindowMs !== undefined && now.getTime() > due + times.startWindowMs;
    if (late) {
      if (times.recurrenceIntervalMs === undefined) return busy ? s : completeSchedule(tx, s, now);
      const skipped = nextAfter(due, times.recurrenceIntervalMs, now.getTime());
      return { ...s, executionInfo: { ...s.executionInfo, nextRunTime: new Date(skipped).toISOString() } };
    }
    if (busy) return s;
    const { job, schedule } = await this.schedules.createJob(tx, s);
    const interval = times.recurrenceIntervalMs;
    return {
      ...schedule,
      jobCount: s.jobCount + 1,
      executionInfo: {
        recentJobId: job.id,
        ...(interval === undefined
          ? {}
          : { nextRunTime: new Date(nextAfter(due, interval, now.getTime())).toISOString() }),
      },
    };
  }
}
