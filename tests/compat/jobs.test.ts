import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import { credentialFor, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPool, waitFor } from './pool-image.ts';

/**
 * Jobs and tasks through `@azure/batch` on a pool of real sandboxes (the tiny marketplace image): exit codes,
 * wall-clock limits, retries, dependencies, task files, job states, and the bad inputs with their codes.
 */

let server: TestServer;
let batch: BatchServiceClient;

const errorOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    const e = err as {
      statusCode?: number;
      code?: string;
      body?: { code?: string; values?: { key: string; value: string }[] };
    };
    return { status: e.statusCode, code: e.body?.code ?? e.code, values: e.body?.values ?? [] };
  }
  throw new Error('expected the call to fail');
};

async function completed(jobId: string, taskId: string) {
  return waitFor(
    () => batch.task.get(jobId, taskId),
    (t) => t.state === 'completed',
    `task ${taskId} completed`,
    60_000,
  );
}

describe(
  'jobs and tasks on a pool of sandboxes',
  { skip: process.getuid?.() === 0 ? false : 'needs root' },
  () => {
    before(async () => {
      server = await startServer();
      batch = sharedKeyBatch(server);
      await tinyPool(batch, 'work', 2, { vmSize: 'standard_d2_v3', taskSlotsPerNode: 4 });
      await batch.job.add({ id: 'job1', poolInfo: { poolId: 'work' }, usesTaskDependencies: true });
    });
    after(async () => {
      await server.stop();
    });

    test('a task runs in its working folder with the AZ_BATCH_TASK_* variables; its files are readable', async () => {
      await batch.task.add('job1', {
        id: 'env',
        commandLine:
          "/bin/sh -c 'pwd; echo $AZ_BATCH_TASK_ID $AZ_BATCH_JOB_ID; echo $AZ_BATCH_TASK_DIR; id -u; echo oops >&2'",
        environmentSettings: [{ name: 'EXTRA', value: 'x' }],
      });
      const t = await completed('job1', 'env');
      assert.equal(t.executionInfo?.exitCode, 0);
      assert.equal(t.executionInfo.result, 'success');
      assert.ok(t.nodeInfo?.nodeId);
      const out = await batch.file.getFromTask('job1', 'env', 'stdout.txt');
      const text = await new Response(out.readableStreamBody as unknown as ReadableStream).text();
      assert.equal(
        text,
        '/mnt/batch/tasks/workitems/job1/job-1/env/wd\nenv job1\n/mnt/batch/tasks/workitems/job1/job-1/env\n1000\n',
      );
      const files = await batch.file.listFromTask('job1', 'env', { recursive: true });
      const names = files.map((f) => f.name).sort();
      assert.ok(
        names.includes('stdout.txt') && names.includes('stderr.txt') && names.includes('wd'),
        names.join(),
      );
      const viaNode = await batch.file.getFromComputeNode(
        'work',
        t.nodeInfo.nodeId ?? '',
        'workitems/job1/job-1/env/stderr.txt',
      );
      assert.equal(
        await new Response(viaNode.readableStreamBody as unknown as ReadableStream).text(),
        'oops\n',
      );
    });

    test('exit 3 completes with result failure and exit code 3; admin tasks run as root', async () => {
      await batch.task.add('job1', { id: 'three', commandLine: "/bin/sh -c 'exit 3'" });
      await batch.task.add('job1', {
        id: 'root',
        commandLine: 'id -u',
        userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'admin' } },
      });
      const t = await completed('job1', 'three');
      assert.equal(t.executionInfo?.exitCode, 3);
      assert.equal(t.executionInfo.result, 'failure');
      assert.equal(t.executionInfo.failureInfo?.category, 'usererror');
      assert.equal(t.executionInfo.failureInfo.code, 'FailureExitCode');
      const r = await completed('job1', 'root');
      assert.equal(r.executionInfo?.exitCode, 0);
      const out = await batch.file.getFromTask('job1', 'root', 'stdout.txt');
      assert.equal(await new Response(out.readableStreamBody as unknown as ReadableStream).text(), '0\n');
    });

    test('maxWallClockTime kills the process tree and marks the task', async () => {
      await batch.task.add('job1', {
        id: 'slow',
        commandLine: "/bin/sh -c 'sleep 60 & sleep 60; echo never'",
        constraints: { maxWallClockTime: 'PT2S' },
      });
      const busy = await waitFor(
        () => batch.computeNode.list('work'),
        (ns) => ns.some((n) => n.runningTasksCount === 1 && n.recentTasks?.[0]?.taskId === 'slow'),
        'the node running the slow task',
      );
      assert.equal(busy.find((n) => n.runningTasksCount === 1)?.state, 'running');
      // Completed, with nothing on stdout: the tree was killed before the 60 s sleep ended and `echo never` ran.
      const t = await completed('job1', 'slow');
      assert.equal(t.executionInfo?.result, 'failure');
      assert.equal(t.executionInfo.failureInfo?.code, 'TaskEnded');
      const out = await batch.file.getFromTask('job1', 'slow', 'stdout.txt');
      assert.equal(await new Response(out.readableStreamBody as unknown as ReadableStream).text(), '');
    });

    test('retries are counted: a task failing every time runs maxTaskRetryCount + 1 times', async () => {
      await batch.task.add('job1', {
        id: 'flaky',
        commandLine: "/bin/sh -c 'echo run >> $AZ_BATCH_NODE_SHARED_DIR/flaky.log; exit 1'",
        constraints: { maxTaskRetryCount: 2 },
      });
      const t = await completed('job1', 'flaky');
      assert.equal(t.executionInfo?.retryCount, 2);
      assert.equal(t.executionInfo.exitCode, 1);
      assert.equal(t.executionInfo.result, 'failure');
    });

    test('a task with dependsOn waits for its parents and runs after them', async () => {
      await batch.task.addCollection('job1', [
        { id: 'child', commandLine: 'true', dependsOn: { taskIds: ['p1', 'p2'] } },
        { id: 'p1', commandLine: "/bin/sh -c 'sleep 1'" },
        { id: 'p2', commandLine: "/bin/sh -c 'sleep 2'" },
        { id: 'blocked', commandLine: 'true', dependsOn: { taskIds: ['bad'] } },
        { id: 'bad', commandLine: "/bin/sh -c 'exit 1'" },
      ]);
      const child = await completed('job1', 'child');
      const p2 = await batch.task.get('job1', 'p2');
      assert.ok(
        new Date(child.executionInfo?.startTime ?? 0).getTime() >=
          new Date(p2.executionInfo?.endTime ?? 0).getTime(),
        'the child started after its last parent ended',
      );
      await completed('job1', 'bad');
      const blocked = await batch.task.get('job1', 'blocked');
      assert.equal(
        blocked.state,
        'active',
        'a failed parent blocks its dependents (default dependencyAction)',
      );
    });

    test('a task whose node reboots is requeued (not retried) and completes', async () => {
      await batch.task.add('job1', { id: 'moved', commandLine: "/bin/sh -c 'sleep 2'" });
      const running = await waitFor(
        () => batch.task.get('job1', 'moved'),
        (t) => t.state === 'running',
        'the task running',
      );
      await batch.computeNode.reboot('work', running.nodeInfo?.nodeId ?? '');
      const t = await completed('job1', 'moved');
      assert.equal(t.executionInfo?.result, 'success');
      assert.equal(t.executionInfo.requeueCount, 1);
      assert.equal(t.executionInfo.retryCount, 0);
      await waitFor(
        () => batch.computeNode.list('work'),
        (ns) => ns.every((n) => n.state === 'idle'),
        'both nodes idle again',
      );
    });

    test('task counts, terminate, reactivate and job states', async () => {
      const counts = await batch.job.getTaskCounts('job1');
      assert.ok(counts.taskCounts.completed >= 8, JSON.stringify(counts));
      assert.ok(counts.taskCounts.failed >= 3, JSON.stringify(counts));
      assert.equal(counts.taskSlotCounts.completed, counts.taskCounts.completed);
      const nodes = await batch.computeNode.list('work');
      const run = nodes.reduce((sum, n) => sum + (n.totalTasksRun ?? 0), 0);
      const ok = nodes.reduce((sum, n) => sum + (n.totalTasksSucceeded ?? 0), 0);
      // every completed task ran at least once; the flaky one ran three times
      assert.ok(run >= counts.taskCounts.completed + 2, `${String(run)} runs`);
      assert.equal(ok, counts.taskCounts.succeeded);
      await batch.task.terminate('job1', 'blocked');
      const ended = await batch.task.get('job1', 'blocked');
      assert.equal(ended.state, 'completed');
      assert.equal(ended.executionInfo?.failureInfo?.code, 'TaskEnded');
      const firstEnd = (await batch.task.get('job1', 'three')).executionInfo?.endTime ?? new Date(0);
      await batch.task.reactivate('job1', 'three');
      const again = await waitFor(
        () => batch.task.get('job1', 'three'),
        (t) => t.state === 'completed' && new Date(t.executionInfo?.endTime ?? 0) > new Date(firstEnd),
        'the reactivated task ran again',
      );
      assert.equal(again.executionInfo?.exitCode, 3);
      await batch.job.disable('job1', 'requeue');
      assert.equal((await batch.job.get('job1')).state, 'disabled');
      await batch.job.enable('job1');
      assert.equal((await batch.job.get('job1')).state, 'active');
      await batch.job.terminate('job1');
      const job = await batch.job.get('job1');
      assert.equal(job.state, 'completed');
      assert.equal(job.executionInfo?.terminateReason, 'UserTerminate');
    });

    test('job preparation runs before the tasks of its job on each node, release after the job ends', async () => {
      await batch.job.add({
        id: 'prepjob',
        poolInfo: { poolId: 'work' },
        jobPreparationTask: { commandLine: "/bin/sh -c 'echo prepared-$AZ_BATCH_JOB_ID > flag'" },
        jobReleaseTask: {
          commandLine: "/bin/sh -c 'echo released > $AZ_BATCH_NODE_SHARED_DIR/released-prepjob'",
          userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'admin' } },
        },
      });
      await batch.task.add('prepjob', {
        id: 'uses',
        commandLine: "/bin/sh -c 'cat $AZ_BATCH_JOB_PREP_WORKING_DIR/flag'",
      });
      const t = await completed('prepjob', 'uses');
      const err = await batch.file.getFromTask('prepjob', 'uses', 'stderr.txt');
      const errText = await new Response(err.readableStreamBody as unknown as ReadableStream).text();
      assert.equal(t.executionInfo?.exitCode, 0, errText);
      const out = await batch.file.getFromTask('prepjob', 'uses', 'stdout.txt');
      assert.equal(
        await new Response(out.readableStreamBody as unknown as ReadableStream).text(),
        'prepared-prepjob\n',
      );
      const nodeId = t.nodeInfo?.nodeId ?? '';
      await batch.job.terminate('prepjob');
      const status = await waitFor(
        () => batch.job.listPreparationAndReleaseTaskStatus('prepjob'),
        (list) => list.some((s) => s.jobReleaseTaskExecutionInfo?.state === 'completed'),
        'the release task completed',
      );
      const mine = status.find((s) => s.nodeId === nodeId);
      assert.equal(mine?.jobPreparationTaskExecutionInfo?.result, 'success');
      assert.equal(
        mine.jobPreparationTaskExecutionInfo.taskRootDirectory,
        'workitems/prepjob/job-1/jobpreparation',
      );
      assert.equal(mine.jobReleaseTaskExecutionInfo?.exitCode, 0);
      const flag = await batch.file.getFromComputeNode('work', nodeId, 'shared/released-prepjob');
      assert.equal(
        await new Response(flag.readableStreamBody as unknown as ReadableStream).text(),
        'released\n',
      );
    });

    test('a failing job preparation keeps the tasks of its job off the nodes where it failed', async () => {
      await batch.job.add({
        id: 'badprep',
        poolInfo: { poolId: 'work' },
        jobPreparationTask: { commandLine: "/bin/sh -c 'exit 4'", constraints: { maxTaskRetryCount: 1 } },
      });
      await batch.task.add('badprep', { id: 'never', commandLine: 'true' });
      const status = await waitFor(
        () => batch.job.listPreparationAndReleaseTaskStatus('badprep'),
        (list) =>
          list.length === 2 && list.every((s) => s.jobPreparationTaskExecutionInfo?.state === 'completed'),
        'the preparation failed on both nodes',
      );
      for (const s of status) {
        assert.equal(s.jobPreparationTaskExecutionInfo?.result, 'failure');
        assert.equal(s.jobPreparationTaskExecutionInfo.exitCode, 4);
        assert.equal(s.jobPreparationTaskExecutionInfo.retryCount, 1);
      }
      assert.equal((await batch.task.get('badprep', 'never')).state, 'active');
    });

    test('bad input gets the Batch codes and leaves the job as it was', async () => {
      await batch.job.add({ id: 'job2', poolInfo: { poolId: 'work' } });
      await batch.task.add('job2', { id: 'a', commandLine: 'true' });
      const dup = await errorOf(batch.task.add('job2', { id: 'A', commandLine: 'true' }));
      assert.deepEqual([dup.status, dup.code], [409, 'TaskExists']);
      const many = Array.from({ length: 101 }, (_, i) => ({ id: `m${String(i)}`, commandLine: 'true' }));
      // @azure/batch refuses more than 100 tasks before sending them; the server's own answer, over plain HTTPS:
      assert.equal((await errorOf(batch.task.addCollection('job2', many))).status, undefined);
      const c = server.connection;
      const token = (await credentialFor(c).getToken('https://batch.core.windows.net//.default')).token;
      const url = `${new URL(c.batchUrl).origin}/jobs/job2/addtaskcollection?api-version=2022-10-01.16.0`;
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json; odata=minimalmetadata',
        },
        body: JSON.stringify({ value: many }),
      });
      const tooMany = (await res.json()) as { code: string; values: { key: string; value: string }[] };
      assert.equal(res.status, 400);
      assert.equal(tooMany.code, 'InvalidPropertyValue');
      assert.deepEqual(tooMany.values[0], { key: 'PropertyName', value: 'value' });
      const noDeps = await errorOf(
        batch.task.add('job2', { id: 'd', commandLine: 'true', dependsOn: { taskIds: ['a'] } }),
      );
      assert.deepEqual([noDeps.status, noDeps.code], [400, 'TaskDependenciesNotSpecifiedOnJob']);
      const sas = await errorOf(
        batch.task.add('job2', {
          id: 'sas',
          commandLine: 'true',
          resourceFiles: [{ storageContainerUrl: 'not a url?sv=2020&sig=x' }],
        }),
      );
      assert.deepEqual([sas.status, sas.code], [400, 'InvalidPropertyValue']);
      assert.ok(
        sas.values.some((v) => v.value === 'resourceFiles[0].storageContainerUrl'),
        JSON.stringify(sas.values),
      );
      const results = await batch.task.addCollection('job2', [
        { id: 'ok1', commandLine: 'true' },
        { id: 'a', commandLine: 'true' },
      ]);
      const byId = new Map(results.value?.map((r) => [r.taskId, r]));
      assert.equal(byId.get('ok1')?.status, 'success');
      assert.equal(byId.get('a')?.status, 'clienterror');
      assert.equal(byId.get('a')?.error?.code, 'TaskExists');
      await batch.job.add({ id: 'job3', poolInfo: { poolId: 'work' }, usesTaskDependencies: true });
      const missing = await errorOf(
        batch.task.add('job3', { id: 'c', commandLine: 'true', dependsOn: { taskIds: ['nope'] } }),
      );
      assert.deepEqual([missing.status, missing.code], [400, 'InvalidPropertyValue']);
      await batch.job.terminate('job2');
      const onTerminated = await errorOf(batch.task.add('job2', { id: 'late', commandLine: 'true' }));
      assert.deepEqual([onTerminated.status, onTerminated.code], [409, 'JobCompleted']);
      const ids = (await batch.task.list('job2')).map((t) => t.id).sort();
      assert.deepEqual(ids, ['a', 'ok1']);
      const first = await batch.task.list('job2', { taskListOptions: { maxResults: 1 } });
      assert.deepEqual(
        first.map((t) => t.id),
        ['a'],
      );
      assert.ok(first.odatanextLink, 'a next link for the second page');
      const second = await batch.task.listNext(first.odatanextLink);
      assert.deepEqual(
        second.map((t) => t.id),
        ['ok1'],
      );
      assert.equal(second.odatanextLink, undefined);
      const filtered = await batch.task.list('job2', { taskListOptions: { filter: "id eq 'ok1'" } });
      assert.deepEqual(
        filtered.map((t) => t.id),
        ['ok1'],
      );
      const gone = await errorOf(batch.task.get('job2', 'nope'));
      assert.deepEqual([gone.status, gone.code], [404, 'TaskNotFound']);
      const noJob = await errorOf(batch.task.add('nojob', { id: 'x', commandLine: 'true' }));
      assert.deepEqual([noJob.status, noJob.code], [404, 'JobNotFound']);
    });
    test('removing the node a task runs on requeues the task; it completes on the other node', async () => {
      await batch.job.add({ id: 'job4', poolInfo: { poolId: 'work' } });
      await batch.task.add('job4', { id: 'evicted', commandLine: "/bin/sh -c 'sleep 2'" });
      const running = await waitFor(
        () => batch.task.get('job4', 'evicted'),
        (t) => t.state === 'running',
        'the task running',
      );
      const gone = running.nodeInfo?.nodeId ?? '';
      await batch.pool.removeNodes('work', { nodeList: [gone] });
      const t = await completed('job4', 'evicted');
      assert.equal(t.executionInfo?.result, 'success');
      assert.equal(t.executionInfo.requeueCount, 1);
      assert.notEqual(t.nodeInfo?.nodeId, gone);
      const nodes = await waitFor(
        () => batch.computeNode.list('work'),
        (ns) => ns.length === 1,
        'the pool down to one node',
      );
      assert.notEqual(nodes[0]?.id, gone);
    });
  },
);
