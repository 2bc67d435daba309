import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from '../pools/pools.fixture.ts';
import { JobScheduleService } from './schedules.ts';

/** The codes Batch answers with (its error table), where Lazurite had made up its own (issue 18). */
const rejectsWith = (p: Promise<unknown>, code: string) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DomainError, String(e));
    assert.equal(e.code, code);
    return true;
  });

test('job and job schedule ids share one namespace; a task may not take the prep or release task id', async () => {
  const w = await world();
  const schedules = new JobScheduleService(w.ctx, w.jobs);
  const account = w.account.name;
  await w.jobs.add(w.account, { id: 'same', poolInfo: { poolId: 'p' } });
  await rejectsWith(
    schedules.add(account, { id: 'SAME', schedule: {}, jobSpecification: { poolInfo: { poolId: 'p' } } }),
    'JobWithSameIdExists',
  );
  await schedules.add(account, {
    id: 'sched',
    schedule: {},
    jobSpecification: { poolInfo: { poolId: 'p' } },
  });
  await rejectsWith(
    w.jobs.add(w.account, { id: 'Sched', poolInfo: { poolId: 'p' } }),
    'JobScheduleWithSameIdExists',
  );

  await w.jobs.add(w.account, {
    id: 'prepped',
    poolInfo: { poolId: 'p' },
    jobPreparationTask: { commandLine: '/bin/true' },
    jobReleaseTask: { id: 'cleanup', commandLine: '/bin/true' },
  });
  await rejectsWith(
    w.tasks.add(account, 'prepped', { id: 'JobPreparation', commandLine: '/bin/true' }),
    'TaskIdSameAsJobPreparationTask',
  );
  await rejectsWith(
    w.tasks.add(account, 'prepped', { id: 'cleanup', commandLine: '/bin/true' }),
    'TaskIdSameAsJobReleaseTask',
  );
  await w.tasks.add(account, 'prepped', { id: 'jobrelease', commandLine: '/bin/true' }); // not the release id here
  await w.tasks.add(account, 'same', { id: 'jobpreparation', commandLine: '/bin/true' }); // no prep task: allowed
});

test('reactivate: TaskNotCompleted for a task still going, TaskSucceeded for one that succeeded', async () => {
  const w = await world();
  await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 1));
  await w.settle();
  const account = w.account.name;
  await w.jobs.add(w.account, { id: 'j', poolInfo: { poolId: 'p' } });
  await w.tasks.add(account, 'j', { id: 'waiting', commandLine: '/bin/true', constraints: {} });
  await rejectsWith(w.tasks.reactivate(account, 'j', 'waiting', {}), 'TaskNotCompleted');
  await w.settle();
  assert.equal((await w.tasks.get(account, 'j', 'waiting')).state, 'completed');
  await rejectsWith(w.tasks.reactivate(account, 'j', 'waiting', {}), 'TaskSucceeded');
});
