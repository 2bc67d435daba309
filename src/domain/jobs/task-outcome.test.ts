import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleJob, sampleTask } from '../../storage/conformance-jobs.ts';
import type { TaskRecord } from '../../storage/records.ts';
import { moveJob, moveTask } from './states.ts';
import { exitOptionsFor, finishTask, hasRetryLeft, requeueTask, retryTask } from './task-outcome.ts';

const NOW = new Date('2026-02-01T00:00:00Z');
const job = sampleJob('j', 1);
const running = (spec: Record<string, unknown> = {}): TaskRecord => ({
  ...sampleTask(job, 't', 0),
  spec: { commandLine: 'x', ...spec },
  state: 'running',
  assignedNode: 'n1',
  attempt: 1,
});

test('exit options: success satisfies dependents, failure blocks them, no job action by default', () => {
  assert.deepEqual(exitOptionsFor(running(), job, { exitCode: 0 }), {
    jobAction: 'none',
    dependencyAction: 'satisfy',
  });
  assert.deepEqual(exitOptionsFor(running(), job, { exitCode: 2 }), {
    jobAction: 'none',
    dependencyAction: 'block',
  });
});

test('exit options: exact codes, then ranges, then the default; job actions only with performexitoptionsjobaction', () => {
  const task = running({
    exitConditions: {
      exitCodes: [{ code: 3, exitOptions: { dependencyAction: 'satisfy', jobAction: 'disable' } }],
      exitCodeRanges: [{ start: 1, end: 9, exitOptions: { jobAction: 'terminate' } }],
      default: { dependencyAction: 'satisfy' },
      preProcessingError: { jobAction: 'terminate', dependencyAction: 'block' },
    },
  });
  const acting = { ...job, spec: { ...job.spec, onTaskFailure: 'performexitoptionsjobaction' } };
  assert.deepEqual(exitOptionsFor(task, acting, { exitCode: 3 }), {
    jobAction: 'disable',
    dependencyAction: 'satisfy',
  });
  assert.deepEqual(exitOptionsFor(task, acting, { exitCode: 5 }), {
    jobAction: 'terminate',
    dependencyAction: 'block',
  });
  assert.deepEqual(exitOptionsFor(task, acting, { exitCode: 42 }), {
    jobAction: 'terminate',
    dependencyAction: 'satisfy',
  });
  assert.deepEqual(exitOptionsFor(task, job, { exitCode: 5 }).jobAction, 'none');
  assert.deepEqual(
    exitOptionsFor(task, acting, {
      preProcessingError: true,
      failureInfo: { category: 'usererror', code: 'BlobNotFound', message: 'm' },
    }),
    { jobAction: 'terminate', dependencyAction: 'block' },
  );
});

test('finishing, retrying and requeueing keep the counts and free the node', () => {
  const t = running({ exitConditions: { default: { dependencyAction: 'satisfy' } } });
  const done = finishTask(t, NOW, { exitCode: 1 }, job);
  assert.equal(done.state, 'completed');
  assert.equal(done.previousState, 'running');
  assert.equal(done.assignedNode, null);
  assert.equal(done.executionInfo.result, 'failure');
  assert.equal(done.executionInfo.exitCode, 1);
  assert.equal(done.satisfiesDependents, true);
  const retried = retryTask(t, NOW, { exitCode: 1 });
  assert.equal(retried.state, 'active');
  assert.equal(retried.executionInfo.retryCount, 1);
  assert.equal(retried.executionInfo.requeueCount, 0);
  const requeued = requeueTask(t, NOW);
  assert.equal(requeued.executionInfo.requeueCount, 1);
  assert.equal(requeued.executionInfo.retryCount, 0);
  assert.equal(hasRetryLeft({ ...t, maxTaskRetryCount: 1 }), true);
  assert.equal(
    hasRetryLeft({ ...t, maxTaskRetryCount: 1, executionInfo: { retryCount: 1, requeueCount: 0 } }),
    false,
  );
  assert.equal(
    hasRetryLeft({ ...t, maxTaskRetryCount: -1, executionInfo: { retryCount: 99, requeueCount: 0 } }),
    true,
  );
});

test('the state tables refuse moves Batch does not make', () => {
  assert.equal(moveTask({ ...running(), state: 'completed' }, 'running', NOW), undefined);
  assert.equal(moveTask(running(), 'preparing', NOW), undefined);
  assert.equal(moveJob({ ...job, state: 'completed' }, 'active', NOW), undefined);
  assert.equal(moveJob(job, 'disabling', NOW)?.previousState, 'active');
});
