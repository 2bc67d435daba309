import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { failsWith, sharedKeyBatch, tinyPoolSpec, waitFor, type BatchFailure } from './pool-image.ts';

/** A job specification whose job manager ends each job as soon as it has run. */
const MANAGED = {
  poolInfo: { poolId: 'sched' },
  jobManagerTask: { id: 'manager', commandLine: '/bin/sh -c "echo scheduled"' },
};

/** Job schedules through @azure/batch. */
describe('job schedules', () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
    batch = sharedKeyBatch(server);
    await batch.pool.add(tinyPoolSpec('sched', 1));
  });
  after(async () => {
    await server.stop();
  });

  test('a one-off schedule makes its job at once and completes when the job does', async () => {
    await batch.jobSchedule.add({ id: 'once', schedule: {}, jobSpecification: MANAGED });
    assert.equal((await batch.jobSchedule.exists('once')).body, true);
    assert.equal((await batch.jobSchedule.exists('never')).body, false);
    const done = await waitFor(
      () => batch.jobSchedule.get('once'),
      (s) => s.state === 'completed',
      'the schedule completes',
    );
    assert.equal(done.executionInfo?.recentJob?.id, 'once:job-1');
    assert.ok(done.executionInfo.endTime instanceof Date);
    const jobs = await batch.job.listFromJobSchedule('once');
    assert.deepEqual(
      jobs.map((j) => [j.id, j.state, j.executionInfo?.terminateReason]),
      [['once:job-1', 'completed', 'JMComplete']],
    );
    await assert.rejects(batch.jobSchedule.disable('once'), failsWith(409, 'JobScheduleCompleted'));
  });

  test('a recurring schedule: patch, disable, enable, terminate (its job too), delete (its jobs too)', async () => {
    await batch.jobSchedule.add({
      id: 'hourly',
      displayName: 'every hour',
      schedule: { recurrenceInterval: 'PT1H' },
      jobSpecification: { poolInfo: { poolId: 'sched' } },
      metadata: [{ name: 'owner', value: 'ops' }],
    });
    const first = await waitFor(
      () => batch.jobSchedule.get('hourly'),
      (s) => s.executionInfo?.recentJob?.id === 'hourly:job-1',
      'the first job',
    );
    const next = first.executionInfo?.nextRunTime?.getTime() ?? 0;
    assert.ok(
      Math.abs(next - (first.creationTime?.getTime() ?? 0) - 3_600_000) < 5_000,
      'next run in an hour',
    );
    assert.equal(first.schedule?.recurrenceInterval, 'PT1H');
    await batch.jobSchedule.patch('hourly', { metadata: [{ name: 'owner', value: 'batch' }] });
    await batch.jobSchedule.disable('hourly');
    assert.equal((await batch.jobSchedule.get('hourly')).state, 'disabled');
    await batch.jobSchedule.enable('hourly');
    const listed = await batch.jobSchedule.list({ jobScheduleListOptions: { filter: "state eq 'active'" } });
    assert.deepEqual(
      listed.map((s) => [s.id, s.metadata?.[0]?.value]),
      [['hourly', 'batch']],
    );
    await batch.jobSchedule.terminate('hourly');
    assert.equal((await batch.jobSchedule.get('hourly')).state, 'completed');
    assert.equal((await batch.job.get('hourly:job-1')).state, 'completed');
    await batch.jobSchedule.deleteMethod('hourly');
    await assert.rejects(batch.job.get('hourly:job-1'), failsWith(404, 'JobNotFound'));
    await assert.rejects(batch.jobSchedule.get('hourly'), failsWith(404, 'JobScheduleNotFound'));
  });

  test('bad input names the property; duplicates are refused', async () => {
    await assert.rejects(
      batch.jobSchedule.add({
        id: 'bad',
        schedule: { recurrenceInterval: 'PT10S' },
        jobSpecification: { poolInfo: { poolId: 'sched' } },
      }),
      (e: BatchFailure) =>
        failsWith(400, 'InvalidPropertyValue')(e) &&
        (e.body?.values ?? []).some((v) => v.value === 'schedule.recurrenceInterval'),
    );
    await batch.jobSchedule.add({
      id: 'dup',
      schedule: { doNotRunUntil: new Date('2099-01-01T00:00:00Z') },
      jobSpecification: MANAGED,
    });
    await assert.rejects(
      batch.jobSchedule.add({ id: 'DUP', schedule: {}, jobSpecification: MANAGED }),
      failsWith(409, 'JobScheduleExists'),
    );
    assert.equal(
      (await batch.jobSchedule.get('dup')).executionInfo?.nextRunTime?.toISOString(),
      '2099-01-01T00:00:00.000Z',
    );
  });
});
