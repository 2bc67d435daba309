import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { failsWith, tinyPoolSpec, type BatchFailure, simulatedBatchServer } from './pool-image.ts';

const badExpand = (e: BatchFailure) =>
  failsWith(400, 'InvalidQueryParameterValue')(e) &&
  (e.body?.values ?? []).some((v) => v.key === 'QueryParameterName' && v.value === '$expand');
/**
 * `$expand` on jobs, job schedules and tasks through @azure/batch: `stats` is served with every property the spec
 * requires (ADR 0031; on the simulated backend, where nothing runs, CPU time and I/O are zero), any other expansion
 * is 400 naming `$expand`, and without it reads carry no stats.
 */
describe('$expand on jobs, schedules and tasks', () => {
  const env = simulatedBatchServer();

  test('stats served, other expansions 400, plain reads without stats', async () => {
    await env.batch.pool.add(tinyPoolSpec('xp', 0));
    await env.batch.job.add({ id: 'xj', poolInfo: { poolId: 'xp' } });
    await env.batch.task.add('xj', { id: 't1', commandLine: '/bin/true' });
    await env.batch.jobSchedule.add({
      id: 'xs',
      schedule: { recurrenceInterval: 'PT1H' },
      jobSpecification: { poolInfo: { poolId: 'xp' } },
    });
    const expand = 'nodes';
    await assert.rejects(env.batch.job.get('xj', { jobGetOptions: { expand } }), badExpand);
    await assert.rejects(env.batch.job.list({ jobListOptions: { expand } }), badExpand);
    await assert.rejects(env.batch.jobSchedule.get('xs', { jobScheduleGetOptions: { expand } }), badExpand);
    await assert.rejects(env.batch.jobSchedule.list({ jobScheduleListOptions: { expand } }), badExpand);
    await assert.rejects(
      env.batch.job.listFromJobSchedule('xs', { jobListFromJobScheduleOptions: { expand } }),
      badExpand,
    );
    await assert.rejects(env.batch.task.get('xj', 't1', { taskGetOptions: { expand } }), badExpand);
    await assert.rejects(env.batch.task.list('xj', { taskListOptions: { expand } }), badExpand);

    const stats = { expand: 'stats' };
    const job = await env.batch.job.get('xj', { jobGetOptions: stats });
    assert.equal(job.stats?.numSucceededTasks, 0);
    assert.equal(job.stats.userCPUTime, 'PT0S');
    assert.match(job.stats.url, /\/jobs\/xj\/stats$/);
    const jobs = await env.batch.job.list({ jobListOptions: stats });
    assert.ok(jobs.find((j) => j.id === 'xj')?.stats);
    const schedule = await env.batch.jobSchedule.get('xs', { jobScheduleGetOptions: stats });
    assert.match(schedule.stats?.url ?? '', /\/jobschedules\/xs\/stats$/);
    assert.equal(schedule.stats?.numTaskRetries, 0);
    const schedules = await env.batch.jobSchedule.list({ jobScheduleListOptions: stats });
    assert.ok(schedules.find((s) => s.id === 'xs')?.stats);
    const fromSchedule = await env.batch.job.listFromJobSchedule('xs', {
      jobListFromJobScheduleOptions: stats,
    });
    assert.ok(fromSchedule.every((j) => j.stats !== undefined));
    // The task has not run (the pool has no nodes): no time waited is counted until it starts.
    const task = await env.batch.task.get('xj', 't1', { taskGetOptions: stats });
    assert.equal(task.stats?.waitTime, 'PT0S');
    assert.equal(task.stats.writeIOps, 0);
    const tasks = await env.batch.task.list('xj', { taskListOptions: stats });
    assert.ok(tasks[0]?.stats);

    assert.equal((await env.batch.job.get('xj')).stats, undefined);
    assert.equal((await env.batch.task.get('xj', 't1')).stats, undefined);
    assert.ok((await env.batch.jobSchedule.list()).some((s) => s.id === 'xs'));
  });
});
