import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BatchServiceModels } from '@azure/batch';

import { failsWith, simulatedBatchServer, tinyPoolSpec, waitFor } from './pool-image.ts';

/** A pool specification (a pool add body without an id) of the tiny image. */
function poolSpec(nodes: number): BatchServiceModels.PoolSpecification {
  const spec: Partial<BatchServiceModels.PoolAddParameter> = tinyPoolSpec('unused', nodes);
  delete spec.id;
  return spec as BatchServiceModels.PoolSpecification;
}

/** Auto pools through @azure/batch: made with the job or schedule, gone with it unless kept alive. */
describe('auto pools through @azure/batch', () => {
  const env = simulatedBatchServer();

  test('a job with an auto pool runs its task on the pool Batch made, and the pool disappears with the job', async () => {
    const { batch } = env;
    await batch.job.add({
      id: 'auto-job',
      poolInfo: {
        autoPoolSpecification: { autoPoolIdPrefix: 'render', poolLifetimeOption: 'job', pool: poolSpec(2) },
      },
    });
    const job = await batch.job.get('auto-job');
    const poolId = job.executionInfo?.poolId ?? '';
    assert.match(poolId, /^render_/);
    assert.equal(job.poolInfo?.poolId, undefined, 'the job shows the specification, not a pool id');
    assert.equal(job.poolInfo?.autoPoolSpecification?.poolLifetimeOption, 'job');
    const pool = await batch.pool.get(poolId);
    assert.equal(pool.vmSize, 'standard_a1_v2');
    await batch.task.add('auto-job', { id: 't1', commandLine: '/bin/sh -c "echo hi"' });
    const task = await waitFor(
      () => batch.task.get('auto-job', 't1'),
      (t) => t.state === 'completed',
      'the task to complete on the auto pool',
    );
    assert.equal(task.nodeInfo?.poolId, poolId);
    await batch.job.deleteMethod('auto-job');
    await waitFor(
      () => batch.pool.list().then((ps) => ps.map((p) => p.id)),
      (ids) => !ids.includes(poolId),
      'the auto pool to go with its job',
    );
  });

  test('keepAlive keeps the pool after the job is terminated; it is then the user’s to delete', async () => {
    const { batch } = env;
    await batch.job.add({
      id: 'kept',
      poolInfo: { autoPoolSpecification: { poolLifetimeOption: 'job', keepAlive: true, pool: poolSpec(0) } },
    });
    const poolId = (await batch.job.get('kept')).executionInfo?.poolId ?? '';
    await batch.job.terminate('kept');
    assert.equal((await batch.job.get('kept')).state, 'completed');
    assert.equal((await batch.pool.get(poolId)).state, 'active', 'the kept pool stays');
    await batch.pool.deleteMethod(poolId);
  });

  test('a job schedule with the jobschedule lifetime shares one pool, which goes when the schedule is deleted', async () => {
    const { batch } = env;
    await batch.jobSchedule.add({
      id: 'nightly',
      schedule: { recurrenceInterval: 'PT1H' },
      jobSpecification: {
        poolInfo: { autoPoolSpecification: { poolLifetimeOption: 'jobschedule', pool: poolSpec(1) } },
      },
    });
    const job = await waitFor(
      () => batch.job.list({ jobListOptions: { filter: "startswith(id, 'nightly')" } }).catch(() => []),
      (jobs) => jobs.length === 1,
      'the schedule’s first job',
    );
    const poolId = job[0]?.executionInfo?.poolId ?? '';
    assert.ok((await batch.pool.list()).some((p) => p.id === poolId));
    await batch.jobSchedule.deleteMethod('nightly');
    await waitFor(
      () => batch.pool.list().then((ps) => ps.map((p) => p.id)),
      (ids) => !ids.includes(poolId),
      'the schedule’s pool to go with it',
    );
  });

  test('bad specifications get Batch’s codes and make nothing', async () => {
    const { batch } = env;
    const before = (await batch.pool.list()).length;
    await assert.rejects(
      batch.job.add({
        id: 'bad1',
        poolInfo: { autoPoolSpecification: { poolLifetimeOption: 'jobschedule', pool: poolSpec(1) } },
      }),
      failsWith(400, 'InvalidPropertyValue'),
    );
    await assert.rejects(
      batch.job.add({
        id: 'bad2',
        poolInfo: {
          autoPoolSpecification: {
            poolLifetimeOption: 'job',
            pool: { ...poolSpec(1), vmSize: 'Standard_Nope_v9' },
          },
        },
      }),
      failsWith(400, 'InvalidPropertyValue'),
    );
    await assert.rejects(
      batch.job.add({
        id: 'bad3',
        poolInfo: {
          autoPoolSpecification: {
            autoPoolIdPrefix: 'p'.repeat(21),
            poolLifetimeOption: 'job',
            pool: poolSpec(1),
          },
        },
      }),
      failsWith(400, 'InvalidPropertyValue'),
    );
    assert.equal((await batch.pool.list()).length, before);
    await assert.rejects(batch.job.get('bad1'), failsWith(404, 'JobNotFound'));
  });
});
