import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { failsWith, tinyPoolSpec, waitFor, simulatedBatchServer } from './pool-image.ts';

/**
 * Operations no other official-client test calls: pool patch/update-properties, job list/patch/update/delete,
 * job schedule update, task update. Each checks its effect through a following get or list, and one bad input.
 */
describe('operations through @azure/batch', () => {
  const env = simulatedBatchServer(async (batch) => {
    // No nodes: tasks stay active, so they can still be updated.
    await batch.pool.add(tinyPoolSpec('ops', 0, { metadata: [{ name: 'a', value: '1' }] }));
  });

  test('pool.patch replaces the metadata and sets the start task; an unknown pool is PoolNotFound', async () => {
    await env.batch.pool.patch('ops', {
      metadata: [{ name: 'b', value: '2' }],
      startTask: { commandLine: '/bin/sh -c true' },
    });
    const p = await env.batch.pool.get('ops');
    assert.deepEqual(p.metadata, [{ name: 'b', value: '2' }]);
    assert.equal(p.startTask?.commandLine, '/bin/sh -c true');
    await assert.rejects(env.batch.pool.patch('nope', { metadata: [] }), failsWith(404, 'PoolNotFound'));
  });

  test('pool.updateProperties replaces metadata and drops the start task; an unknown pool is PoolNotFound', async () => {
    const props = {
      certificateReferences: [],
      applicationPackageReferences: [],
      metadata: [{ name: 'c', value: '3' }],
    };
    await env.batch.pool.updateProperties('ops', props);
    const p = await env.batch.pool.get('ops');
    assert.deepEqual(p.metadata, [{ name: 'c', value: '3' }]);
    assert.equal(p.startTask, undefined);
    await assert.rejects(env.batch.pool.updateProperties('nope', props), failsWith(404, 'PoolNotFound'));
  });

  test('job.list, job.patch, job.update, job.deleteMethod', async () => {
    await env.batch.job.add({ id: 'j1', poolInfo: { poolId: 'ops' }, priority: 1 });
    await env.batch.job.add({ id: 'j2', poolInfo: { poolId: 'ops' }, metadata: [{ name: 'k', value: 'v' }] });
    assert.deepEqual((await env.batch.job.list()).map((j) => j.id).sort(), ['j1', 'j2']);
    assert.deepEqual(
      (await env.batch.job.list({ jobListOptions: { filter: "id eq 'j2'" } })).map((j) => j.id),
      ['j2'],
    );
    await assert.rejects(
      env.batch.job.list({ jobListOptions: { filter: 'id eq' } }),
      failsWith(400, 'InvalidQueryParameterValue'),
    );

    await env.batch.job.patch('j1', { priority: 50, metadata: [{ name: 'p', value: 'q' }] });
    let j1 = await env.batch.job.get('j1');
    assert.equal(j1.priority, 50);
    assert.deepEqual(j1.metadata, [{ name: 'p', value: 'q' }]);
    await assert.rejects(env.batch.job.patch('nope', { priority: 1 }), failsWith(404, 'JobNotFound'));

    await env.batch.job.update('j1', { poolInfo: { poolId: 'ops' }, constraints: { maxTaskRetryCount: 2 } });
    j1 = await env.batch.job.get('j1');
    assert.equal(j1.priority, 0, 'update resets what it omits');
    assert.equal(j1.metadata, undefined);
    assert.equal(j1.constraints?.maxTaskRetryCount, 2);
    await assert.rejects(
      env.batch.job.update('nope', { poolInfo: { poolId: 'ops' } }),
      failsWith(404, 'JobNotFound'),
    );

    await env.batch.job.deleteMethod('j2');
    await waitFor(
      () => env.batch.job.list(),
      (js) => js.every((j) => j.id !== 'j2'),
      'j2 gone',
    );
    await assert.rejects(env.batch.job.get('j2'), failsWith(404, 'JobNotFound'));
    await assert.rejects(env.batch.job.deleteMethod('nope'), failsWith(404, 'JobNotFound'));
  });

  test('jobSchedule.update replaces the schedule and metadata; an unknown schedule is JobScheduleNotFound', async () => {
    await env.batch.jobSchedule.add({
      id: 's1',
      schedule: { recurrenceInterval: 'PT1H', doNotRunUntil: new Date(Date.now() + 86_400_000) },
      jobSpecification: { poolInfo: { poolId: 'ops' } },
      metadata: [{ name: 'm', value: '1' }],
    });
    const update = {
      schedule: { recurrenceInterval: 'PT2H', doNotRunUntil: new Date(Date.now() + 86_400_000) },
      jobSpecification: { poolInfo: { poolId: 'ops' }, priority: 7 },
    };
    await env.batch.jobSchedule.update('s1', update);
    const s = await env.batch.jobSchedule.get('s1');
    assert.equal(s.schedule?.recurrenceInterval, 'PT2H');
    assert.equal(s.jobSpecification?.priority, 7);
    assert.equal(s.metadata, undefined);
    await assert.rejects(env.batch.jobSchedule.update('nope', update), failsWith(404, 'JobScheduleNotFound'));
  });

  test('task.update changes the constraints; an unknown task is TaskNotFound', async () => {
    await env.batch.job.add({ id: 'tj', poolInfo: { poolId: 'ops' } });
    await env.batch.task.add('tj', { id: 't1', commandLine: '/bin/sh -c true' });
    await env.batch.task.update('tj', 't1', { constraints: { maxTaskRetryCount: 3, retentionTime: 'PT1H' } });
    const t = await env.batch.task.get('tj', 't1');
    assert.equal(t.state, 'active');
    assert.equal(t.constraints?.maxTaskRetryCount, 3);
    assert.equal(t.constraints.retentionTime, 'PT1H');
    await assert.rejects(
      env.batch.task.update('tj', 'nope', { constraints: {} }),
      failsWith(404, 'TaskNotFound'),
    );
  });
  test('task.deleteMethod removes the task from get and list; an unknown task is TaskNotFound', async () => {
    await env.batch.task.add('tj', { id: 't2', commandLine: '/bin/sh -c true' });
    await env.batch.task.deleteMethod('tj', 't1');
    assert.deepEqual(
      (await env.batch.task.list('tj')).map((t) => t.id),
      ['t2'],
    );
    await assert.rejects(env.batch.task.get('tj', 't1'), failsWith(404, 'TaskNotFound'));
    await assert.rejects(env.batch.task.deleteMethod('tj', 't1'), failsWith(404, 'TaskNotFound'));
  });

  test('file.getPropertiesFromTask gives the size of what a read returns; an unknown file is 404 (a HEAD answer has no body for the code)', async () => {
    await env.batch.pool.add(tinyPoolSpec('run', 1));
    await env.batch.job.add({ id: 'fj', poolInfo: { poolId: 'run' } });
    await env.batch.task.add('fj', { id: 'f1', commandLine: '/bin/sh -c "echo hi"' });
    await waitFor(
      () => env.batch.task.get('fj', 'f1'),
      (t) => t.state === 'completed',
      'f1 completed',
    );
    const props = await env.batch.file.getPropertiesFromTask('fj', 'f1', 'stdout.txt');
    const read = await env.batch.file.getFromTask('fj', 'f1', 'stdout.txt');
    const text = await new Response(read.readableStreamBody as unknown as ReadableStream).text();
    assert.ok(text.includes('echo hi'), text);
    assert.equal(props.contentLength, Buffer.byteLength(text));
    assert.equal(props.ocpBatchFileIsdirectory, false);
    await assert.rejects(
      env.batch.file.getPropertiesFromTask('fj', 'f1', 'missing.txt'),
      (e: { statusCode?: number }) => e.statusCode === 404,
    );
  });
});
