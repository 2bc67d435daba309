import type { JobStatistics, TaskStatistics, UsageFigures } from '../../domain/jobs/task-usage.ts';

/** BatchService.json TaskStatistics, JobStatistics and JobScheduleStatistics (`$expand=stats`, ADR 0031). */

const GIB = 1024 ** 3;

/**
 * A duration in microseconds as ISO 8601 the way .NET writes a TimeSpan (XmlConvert): days, hours, minutes and
 * seconds with up to 7 fractional digits (100 ns ticks), e.g. `PT1.25S`, `P1DT2H`, `PT0S`.
 */
export function microsToDuration(micros: number): string {
  const ticks = Math.max(0, Math.round(micros * 10));
  const perSecond = 10_000_000;
  const whole = Math.floor(ticks / perSecond);
  const fraction = ticks % perSecond;
  const d = Math.floor(whole / 86400);
  const h = Math.floor((whole % 86400) / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  const secs =
    fraction === 0 ? String(s) : `${String(s)}.${String(fraction).padStart(7, '0').replace(/0+$/, '')}`;
  const time = `${h > 0 ? `${String(h)}H` : ''}${m > 0 ? `${String(m)}M` : ''}${s > 0 || fraction > 0 ? `${secs}S` : ''}`;
  if (d === 0 && time === '') return 'PT0S';
  return `P${d > 0 ? `${String(d)}D` : ''}${time === '' ? '' : `T${time}`}`;
}

/** The figures every statistics object shares. */
function usageToWire(u: UsageFigures & { waitMs: number }) {
  return {
    userCPUTime: microsToDuration(u.userCpuMicros),
    kernelCPUTime: microsToDuration(u.kernelCpuMicros),
    wallClockTime: microsToDuration(u.wallClockMs * 1000),
    readIOps: u.readOps,
    writeIOps: u.writeOps,
    readIOGiB: u.readBytes / GIB,
    writeIOGiB: u.writeBytes / GIB,
    waitTime: microsToDuration(u.waitMs * 1000),
  };
}

/** TaskStatistics; `url` is the task's (`…/jobs/{job}/tasks/{task}`), as Batch answers. */
export function taskStatsToWire(s: TaskStatistics, taskUrl: string) {
  return {
    url: taskUrl,
    startTime: s.startTime,
    lastUpdateTime: s.lastUpdateTime,
    ...usageToWire(s),
  };
}

/** JobStatistics or JobScheduleStatistics (the same properties), for the range startTime … lastUpdateTime. */
export function jobStatsToWire(
  s: JobStatistics,
  url: string,
  range: { startTime: string; lastUpdateTime: string },
) {
  return {
    url,
    startTime: range.startTime,
    lastUpdateTime: range.lastUpdateTime,
    ...usageToWire(s),
    numSucceededTasks: s.numSucceededTasks,
    numFailedTasks: s.numFailedTasks,
    numTaskRetries: s.numTaskRetries,
  };
}
