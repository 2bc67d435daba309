import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor, type BatchFailure } from './pool-image.ts';

/** Job manager tasks through @azure/batch: added with the job, and the job ends when the manager does. */
describe('job manager task', () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
    batch = sharedKeyBatch(server);
    await batch.pool.add(tinyPoolSpec('jm', 1, { taskSlotsPerNode: 2 }));
  });
  after(async () => {
    await server.stop();
  });

  test('the manager runs first, exclusively, and its completion terminates the job', async () => {
    await batch.job.add({
      id: 'managed',
      poolInfo: { poolId: 'jm' },
      jobManagerTask: { id: 'manager', commandLine: '/bin/sh -c "echo manage"', displayName: 'the manager' },
    });
    const job = await batch.job.get('managed');
    assert.equal(job.jobManagerTask?.id, 'manager');
    const manager = await batch.task.get('managed', 'manager');
    assert.equal(manager.requiredSlots, 2);
    const done = await waitFor(
      () => batch.job.get('managed'),
      (j) => j.state === 'completed',
      'the job completes',
    );
    assert.equal(done.executionInfo?.terminateReason, 'JMComplete');
    const tasks = await batch.task.list('managed');
    assert.deepEqual(
      tasks.map((t) => [t.id, t.state, t.executionInfo?.exitCode]),
      [['manager', 'completed', 0]],
    );
  });

  test('a job manager with a bad id refuses the job, naming the field', async () => {
    await assert.rejects(
      batch.job.add({
        id: 'broken',
        poolInfo: { poolId: 'jm' },
        jobManagerTask: { id: 'not an id', commandLine: '/bin/true' },
      }),
      (e: BatchFailure) =>
        e.statusCode === 400 &&
        e.body?.code === 'InvalidPropertyValue' &&
        (e.body.values ?? []).some((v) => v.value === 'jobManagerTask.id'),
    );
    await assert.rejects(batch.job.get('broken'), (e: BatchFailure) => e.statusCode === 404);
  });
});
