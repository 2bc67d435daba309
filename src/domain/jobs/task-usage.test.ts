import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleJob, sampleTask } from '../../storage/conformance-jobs.ts';
import type { TaskRecord } from '../../storage/records.ts';
import { addRunUsage, jobStatistics, runUsageOf, taskStatistics } from './task-usage.ts';

const run = {
  userCpuMicros: 1500,
  kernelCpuMicros: 250,
  readBytes: 4096,
  writeBytes: 8192,
  readOps: 2,
  writeOps: 3,
  wallClockMs: 2000,
};
const task = (over: Partial<TaskRecord> = {}): TaskRecord => ({
  ...sampleTask(sampleJob('j', 1), 't', 1),
  creationTime: '2026-01-01T00:00:00.000Z',
  ...over,
});

test('runs add up; a report without figures or with a bad one changes nothing', () => {
  const now = new Date('2026-01-01T00:01:00.000Z');
  const once = addRunUsage(task(), run, now);
  const twice = addRunUsage(once, run, now);
  assert.equal(twice.usage?.userCpuMicros, 3000);
  assert.equal(twice.usage.writeBytes, 16384);
  assert.equal(twice.usage.wallClockMs, 4000);
  assert.equal(twice.usage.lastUpdateTime, now.toISOString());
  assert.equal(addRunUsage(once, undefined, now), once);
  assert.equal(addRunUsage(once, { ...run, readOps: -1 }, now), once);
  assert.equal(addRunUsage(once, { ...run, writeBytes: 'x' }, now), once);
  assert.equal(runUsageOf({ ...run, userCpuMicros: Infinity }), undefined);
});

test('a running task counts its current run so far; wait time runs from creation to the latest start', () => {
  const now = new Date('2026-01-01T00:10:00.000Z');
  const running = task({
    state: 'running',
    executionInfo: { retryCount: 0, requeueCount: 0, startTime: '2026-01-01T00:09:00.000Z' },
    usage: { ...run, lastUpdateTime: '2026-01-01T00:05:00.000Z' },
  });
  const s = taskStatistics(running, now);
  assert.equal(s.wallClockMs, 2000 + 60_000);
  assert.equal(s.waitMs, 9 * 60_000);
  assert.equal(s.lastUpdateTime, now.toISOString());
  const fresh = taskStatistics(task(), now);
  assert.equal(fresh.waitMs, 0, 'not started: no wait counted');
  assert.equal(fresh.userCpuMicros, 0);
});

test('a job sums its tasks and counts succeeded, failed and retried ones', () => {
  const now = new Date('2026-01-01T01:00:00.000Z');
  const done = (result: 'success' | 'failure', retryCount: number) =>
    task({
      state: 'completed',
      executionInfo: { retryCount, requeueCount: 0, result, endTime: now.toISOString() },
      usage: { ...run, lastUpdateTime: now.toISOString() },
    });
  const s = jobStatistics([done('success', 0), done('failure', 2), task()], now);
  assert.equal(s.numSucceededTasks, 1);
  assert.equal(s.numFailedTasks, 1);
  assert.equal(s.numTaskRetries, 2);
  assert.equal(s.userCpuMicros, 3000);
  assert.equal(s.readOps, 4);
});
