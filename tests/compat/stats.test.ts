import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { failsWith, sharedKeyBatch, tinyPool, type BatchFailure, waitFor } from './pool-image.ts';

/**
 * `$expand=stats` on tasks, jobs and job schedules through @azure/batch (issue 18, ADR 0031) on a pool of real
 * sandboxes: a task that burns CPU and writes a file shows user CPU time and written bytes; the job sums its
 * tasks and counts the succeeded, failed and retried ones; a job schedule sums its jobs. Figures are checked for > 0, never for timings.
 */

/** An ISO 8601 duration (as @azure/batch hands it over: a string) in seconds. */
export function seconds(d: string | undefined): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(d ?? '');
  assert.ok(m, `an ISO 8601 duration: ${String(d)}`);
  const [, days, h, min, s] = m;
  return Number(days ?? 0) * 86400 + Number(h ?? 0) * 3600 + Number(min ?? 0) * 60 + Number(s ?? 0);
}

const EVERY_TASK_STAT = [
  'url',
  'startTime',
  'lastUpdateTime',
  'userCPUTime',
  'kernelCPUTime',
  'wallClockTime',
  'readIOps',
  'writeIOps',
  'readIOGiB',
  'writeIOGiB',
  'waitTime',
] as const;

/** Burns CPU in the shell (no sleeping), then writes 8 MiB to a file in the task's working folder. */
const BURN_AND_WRITE =
  'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; dd if=/dev/zero of=out.bin bs=1M count=8 2>/dev/null';

let server: TestServer;
let batch: BatchServiceClient;

async function completed(jobId: string, taskId: string) {
  return waitFor(
    () => batch.task.get(jobId, taskId),
    (t) => t.state === 'completed',
    `task ${taskId} completed`,
    300_000,
  );
}

describe('$expand=stats on a real node', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  before(async () => {
    server = await startServer();
    batch = sharedKeyBatch(server);
    await tinyPool(batch, 'sp', 1, { vmSize: 'standard_d2_v3', taskSlotsPerNode: 2 });
    await batch.job.add({ id: 'sj', poolInfo: { poolId: 'sp' } });
  });
  after(async () => {
    await server.stop();
  });

  test('a task that burns CPU and writes a file shows user CPU time and written GiB', async (t) => {
    await batch.task.add('sj', { id: 'burn', commandLine: `/bin/sh -c '${BURN_AND_WRITE}'` });
    const done = await completed('sj', 'burn');
    assert.equal(done.executionInfo?.exitCode, 0);
    assert.equal(done.stats, undefined, 'no stats without $expand');
    const task = await batch.task.get('sj', 'burn', { taskGetOptions: { expand: 'stats' } });
    const s = task.stats;
    assert.ok(s);
    t.diagnostic(`TaskStatistics: ${JSON.stringify(s)}`);
    for (const k of EVERY_TASK_STAT) assert.notEqual(s[k], undefined, `TaskStatistics.${k}`);
    assert.match(s.url, /\/jobs\/sj\/tasks\/burn\/stats$/);
    assert.ok(seconds(s.userCPUTime) > 0, `userCPUTime ${s.userCPUTime}`);
    assert.ok(s.writeIOGiB > 0, `writeIOGiB ${String(s.writeIOGiB)}`);
    assert.ok(s.writeIOps > 0, `writeIOps ${String(s.writeIOps)}`);
    assert.ok(seconds(s.wallClockTime) > 0, `wallClockTime ${s.wallClockTime}`);
    assert.ok(seconds(s.waitTime) >= 0);
    assert.ok(Date.parse(s.startTime.toISOString()) <= Date.parse(s.lastUpdateTime.toISOString()));

    const listed = await batch.task.list('sj', { taskListOptions: { expand: 'stats' } });
    const burn = listed.find((t) => t.id === 'burn');
    assert.equal(burn?.stats?.userCPUTime, s.userCPUTime, 'list and get agree on a completed task');
  });

  test('a job sums its tasks and counts succeeded, failed and retried ones', async () => {
    await batch.task.add('sj', {
      id: 'fails',
      commandLine: '/bin/sh -c "exit 3"',
      constraints: { maxTaskRetryCount: 1 },
    });
    await completed('sj', 'fails');
    const job = await batch.job.get('sj', { jobGetOptions: { expand: 'stats' } });
    const s = job.stats;
    assert.ok(s);
    assert.match(s.url, /\/jobs\/sj\/stats$/);
    assert.equal(s.numSucceededTasks, 1);
    assert.equal(s.numFailedTasks, 1);
    assert.equal(s.numTaskRetries, 1);
    assert.ok(seconds(s.userCPUTime) > 0, `userCPUTime ${s.userCPUTime}`);
    assert.ok(s.writeIOGiB > 0);
    const burn = await batch.task.get('sj', 'burn', { taskGetOptions: { expand: 'stats' } });
    assert.ok(s.writeIOGiB >= (burn.stats?.writeIOGiB ?? Infinity), 'the job counts at least its task');
    const listed = await batch.job.list({ jobListOptions: { expand: 'stats' } });
    assert.equal(listed.find((j) => j.id === 'sj')?.stats?.numFailedTasks, 1);
  });

  test("a job schedule sums its jobs' tasks", async () => {
    await batch.jobSchedule.add({
      id: 'ss',
      schedule: { recurrenceInterval: 'PT1H' },
      jobSpecification: {
        poolInfo: { poolId: 'sp' },
        jobManagerTask: { id: 'jm', commandLine: `/bin/sh -c '${BURN_AND_WRITE}'` },
      },
    });
    const schedule = await waitFor(
      () => batch.jobSchedule.get('ss'),
      (s) => s.executionInfo?.recentJob?.id !== undefined,
      'the schedule made a job',
    );
    const jobId = schedule.executionInfo?.recentJob?.id ?? '';
    await completed(jobId, 'jm');
    const withStats = await batch.jobSchedule.get('ss', { jobScheduleGetOptions: { expand: 'stats' } });
    const s = withStats.stats;
    assert.ok(s);
    assert.match(s.url, /\/jobschedules\/ss\/stats$/);
    assert.equal(s.numSucceededTasks, 1);
    assert.ok(seconds(s.userCPUTime) > 0, `userCPUTime ${s.userCPUTime}`);
    assert.ok(s.writeIOGiB > 0);
    const jobs = await batch.job.listFromJobSchedule('ss', {
      jobListFromJobScheduleOptions: { expand: 'stats' },
    });
    assert.equal(jobs[0]?.stats?.userCPUTime, s.userCPUTime, 'one job: the schedule is its sum');
  });

  test('$expand names only stats', async () => {
    await assert.rejects(
      batch.task.get('sj', 'burn', { taskGetOptions: { expand: 'nodes' } }),
      (e: BatchFailure) => failsWith(400, 'InvalidQueryParameterValue')(e),
    );
  });
});
