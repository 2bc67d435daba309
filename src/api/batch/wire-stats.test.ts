import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jobStatistics, taskStatistics } from '../../domain/jobs/task-usage.ts';
import { sampleJob, sampleTask } from '../../storage/conformance-jobs.ts';
import type { TaskRecord } from '../../storage/records.ts';
import { SpecValidator } from '../spec/validator.ts';
import { BATCH_SPEC } from './request.ts';
import { jobStatsToWire, microsToDuration, taskStatsToWire } from './wire-stats.ts';

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

test('durations are written as .NET TimeSpans in ISO 8601', () => {
  assert.equal(microsToDuration(0), 'PT0S');
  assert.equal(microsToDuration(368_614), 'PT0.368614S');
  assert.equal(microsToDuration(1_250_000), 'PT1.25S');
  assert.equal(microsToDuration(3_600_000_000 + 61_000_000), 'PT1H1M1S');
  assert.equal(microsToDuration(86_400_000_000), 'P1D');
  assert.equal(microsToDuration(90_000_000_000 + 0.1), 'P1DT1H0.0000001S');
});

test('the wire objects are valid TaskStatistics, JobStatistics and JobScheduleStatistics', () => {
  const specs = new SpecValidator(fileURLToPath(new URL('../../../specs', import.meta.url)));
  const now = new Date('2026-01-01T01:00:00.000Z');
  const done = task({
    state: 'completed',
    executionInfo: { retryCount: 1, requeueCount: 0, result: 'success', endTime: now.toISOString() },
    usage: { ...run, lastUpdateTime: now.toISOString() },
  });
  const taskWire = taskStatsToWire(taskStatistics(done, now), 'https://x/jobs/j/tasks/t/stats');
  assert.equal(specs.validate(BATCH_SPEC, 'TaskStatistics', taskWire), undefined);
  const range = { startTime: done.creationTime, lastUpdateTime: now.toISOString() };
  const jobWire = jobStatsToWire(jobStatistics([done], now), 'https://x/jobs/j/stats', range);
  assert.equal(specs.validate(BATCH_SPEC, 'JobStatistics', jobWire), undefined);
  assert.equal(specs.validate(BATCH_SPEC, 'JobScheduleStatistics', jobWire), undefined);
  const missing: Record<string, unknown> = { ...jobWire };
  delete missing.userCPUTime;
  assert.equal(specs.validate(BATCH_SPEC, 'JobStatistics', missing)?.kind, 'missing', 'the check can fail');
});
