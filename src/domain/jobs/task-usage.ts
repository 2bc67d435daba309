import type { TaskRecord, TaskUsageRecord } from '../../storage/records.ts';

/**
 * Task, job and job schedule statistics (`$expand=stats`, ADR 0031). A task keeps the sum of what its completed
 * runs used (`TaskRecord.usage`, added when a node reports a run's end); a job's figures are sums over its tasks
 * and a schedule's over its jobs, taken when they are read.
 */

const FIGURES = [
  'userCpuMicros',
  'kernelCpuMicros',
  'readBytes',
  'writeBytes',
  'readOps',
  'writeOps',
  'wallClockMs',
] as const;
type Figure = (typeof FIGURES)[number];
export type UsageFigures = Record<Figure, number>;

const ZERO: UsageFigures = {
  userCpuMicros: 0,
  kernelCpuMicros: 0,
  readBytes: 0,
  writeBytes: 0,
  readOps: 0,
  writeOps: 0,
  wallClockMs: 0,
};

/**
 * A run's figures as an agent reported them, or undefined when it sent none or any is not a finite count ≥ 0
 * (a report from a remote host is data, not trusted to be well formed).
 */
export function runUsageOf(reported: unknown): UsageFigures | undefined {
  if (typeof reported !== 'object' || reported === null) return undefined;
  const r = reported as Record<string, unknown>;
  const out = { ...ZERO };
  for (const f of FIGURES) {
    const v = r[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return undefined;
    out[f] = Math.floor(v);
  }
  return out;
}

/** The task with one more completed run's figures added to its usage (unchanged when the run sent none). */
export function addRunUsage(task: TaskRecord, reported: unknown, now: Date): TaskRecord {
  const run = runUsageOf(reported);
  if (!run) return task;
  const usage: TaskUsageRecord = { ...ZERO, ...task.usage, lastUpdateTime: now.toISOString() };
  for (const f of FIGURES) usage[f] = (task.usage?.[f] ?? 0) + run[f];
  return { ...task, usage };
}

const ms = (iso: string | undefined): number | undefined => (iso === undefined ? undefined : Date.parse(iso));

/** One task's statistics: its runs' sums, plus the current run's time so far when it is running. */
export interface TaskStatistics extends UsageFigures {
  /** From the task's creation to the start of its latest run (0 before it first ran). */
  waitMs: number;
  startTime: string;
  lastUpdateTime: string;
}

export function taskStatistics(task: TaskRecord, now: Date): TaskStatistics {
  const figures: UsageFigures = { ...ZERO };
  for (const f of FIGURES) figures[f] = task.usage?.[f] ?? 0;
  const started = ms(task.executionInfo.startTime);
  const running = task.state === 'running' || task.state === 'preparing';
  if (running && started !== undefined) figures.wallClockMs += Math.max(0, now.getTime() - started);
  const created = Date.parse(task.creationTime);
  const end = task.state === 'completed' ? task.executionInfo.endTime : undefined;
  return {
    ...figures,
    waitMs: started === undefined ? 0 : Math.max(0, started - created),
    startTime: task.creationTime,
    lastUpdateTime: end ?? now.toISOString(),
  };
}

/** A job's (or schedule's) statistics: sums over its tasks, and how many succeeded, failed and were retried. */
export interface JobStatistics extends UsageFigures {
  waitMs: number;
  numSucceededTasks: number;
  numFailedTasks: number;
  numTaskRetries: number;
}

export const NO_JOB_STATISTICS: JobStatistics = {
  ...ZERO,
  waitMs: 0,
  numSucceededTasks: 0,
  numFailedTasks: 0,
  numTaskRetries: 0,
};

export function addJobStatistics(a: JobStatistics, b: JobStatistics): JobStatistics {
  const out = { ...a };
  for (const f of [...FIGURES, 'waitMs', 'numSucceededTasks', 'numFailedTasks', 'numTaskRetries'] as const)
    out[f] = a[f] + b[f];
  return out;
}

export function jobStatistics(tasks: TaskRecord[], now: Date): JobStatistics {
  let sum = NO_JOB_STATISTICS;
  for (const t of tasks) {
    const s = taskStatistics(t, now);
    const done = t.state === 'completed';
    sum = addJobStatistics(sum, {
      ...s,
      numSucceededTasks: done && t.executionInfo.result === 'success' ? 1 : 0,
      numFailedTasks: done && t.executionInfo.result === 'failure' ? 1 : 0,
      numTaskRetries: t.executionInfo.retryCount,
    });
  }
  return sum;
}
