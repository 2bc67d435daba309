import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { failsWith, tinyPoolSpec, type BatchFailure, simulatedBatchServer } from './pool-image.ts';

const badExpand = (e: BatchFailure) =>
  failsWith(400, 'InvalidQueryParameterValue')(e) &&
  (e.body?.values ?? []).some((v) => v.key === 'QueryParameterName' && v.value === '$expand');
const unmeasured = (e: BatchFailure) => failsWith(501, 'NotImplemented')(e);

/**
 * `$expand` on jobs, job schedules and tasks through @azure/batch: `stats` is refused (their required CPU time and
 * I/O are not measured), any other expansion is 400 naming `$expand`, and without it reads work as before.
 */
describe('$expand on jobs, schedules and tasks', () => {
  const env = simulatedBatchServer();

  test('stats refused with 501, other expansions 400, plain reads served', async () => {
    await env.batch.pool.add(tinyPoolSpec('xp', 0));
    await env.batch.job.add({ id: 'xj', poolInfo: { poolId: 'xp' } });
    await env.batch.task.add('xj', { id: 't1', commandLine: '/bin/true' });
    await env.batch.jobSchedule.add({
      id: 'xs',
      schedule: { recurrenceInterval: 'PT1H' },
      jobSpecification: { poolInfo: { poolId: 'xp' } },
    });
    for (const expand of ['stats', 'nodes']) {
      const check = expand === 'stats' ? unmeasured : badExpand;
      await assert.rejects(env.batch.job.get('xj', { jobGetOptions: { expand } }), check);
      await assert.rejects(env.batch.job.list({ jobListOptions: { expand } }), check);
      await assert.rejects(env.batch.jobSchedule.get('xs', { jobScheduleGetOptions: { expand } }), check);
      await assert.rejects(env.batch.jobSchedule.list({ jobScheduleListOptions: { expand } }), check);
      await assert.rejects(
        env.batch.job.listFromJobSchedule('xs', { jobListFromJobScheduleOptions: { expand } }),
        check,
      );
      await assert.rejects(env.batch.task.get('xj', 't1', { taskGetOptions: { expand } }), check);
      await assert.rejects(env.batch.task.list('xj', { taskListOptions: { expand } }), check);
    }
    assert.equal((await env.batch.job.get('xj')).id, 'xj');
    assert.equal((await env.batch.task.get('xj', 't1')).id, 't1');
    assert.ok((await env.batch.jobSchedule.list()).some((s) => s.id === 'xs'));
  });
});
