import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from '../pools/pools.fixture.ts';
import { ScheduleRunner } from './schedule-runner.ts';
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
  await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'same', poolInfo: { poolId: 'p' } });
  await rejectsWith(
    schedules.add(
      account,
      { scheme: 'SharedKey' },
      { id: 'SAME', schedule: {}, jobSpecification: { poolInfo: { poolId: 'p' } } },
    ),
    'JobWithSameIdExists',
  );
  await schedules.add(
    account,
    { scheme: 'SharedKey' },
    {
      id: 'sched',
      schedule: {},
      jobSpecification: { poolInfo: { poolId: 'p' } },
    },
  );
  await rejectsWith(
    w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'Sched', poolInfo: { poolId: 'p' } }),
    'JobScheduleWithSameIdExists',
  );

  await w.jobs.add(
    w.account,
    { scheme: 'SharedKey' },
    {
      id: 'prepped',
      poolInfo: { poolId: 'p' },
      jobPreparationTask: { commandLine: '/bin/true' },
      jobReleaseTask: { id: 'cleanup', commandLine: '/bin/true' },
    },
  );
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
  await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j', poolInfo: { poolId: 'p' } });
  await w.tasks.add(account, 'j', { id: 'waiting', commandLine: '/bin/true', constraints: {} });
  await rejectsWith(w.tasks.reactivate(account, 'j', 'waiting', {}), 'TaskNotCompleted');
  await w.settle();
  assert.equal((await w.tasks.get(account, 'j', 'waiting')).state, 'completed');
  await rejectsWith(w.tasks.reactivate(account, 'j', 'waiting', {}), 'TaskSucceeded');
});

test('pool and task properties nothing implements are refused with UnsupportedProperty naming them, never ignored', async () => {
  const w = await world();
  const pool = (extra: Record<string, unknown>) =>
    w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('u', 1, extra));
  const vm = tinyPool('u', 1).virtualMachineConfiguration;
  for (const [extra, property] of [
    [
      { userAccounts: [{ name: 'bob', password: 'x', linuxUserConfiguration: { sshPrivateKey: 'k' } }] },
      'userAccounts[0].linuxUserConfiguration.sshPrivateKey',
    ],
    [{ networkConfiguration: { subnetId: 'x' } }, 'networkConfiguration.subnetId'],
    [{ mountConfiguration: [{ nfsMountConfiguration: {} }] }, 'mountConfiguration'],
    [{ certificateReferences: [{ thumbprint: 'x' }] }, 'certificateReferences'],
    [
      { virtualMachineConfiguration: { ...vm, dataDisks: [{ lun: 0, diskSizeGB: 1 }] } },
      'virtualMachineConfiguration.dataDisks',
    ],
    [
      {
        virtualMachineConfiguration: {
          ...vm,
          containerConfiguration: {
            type: 'dockerCompatible',
            containerRegistries: [{ registryServer: 'r.io', identityReference: { resourceId: '/x' } }],
          },
        },
      },
      'virtualMachineConfiguration.containerConfiguration.containerRegistries[0].identityReference',
    ],
  ] as const) {
    await assert.rejects(pool(extra), (e: unknown) => {
      assert.ok(e instanceof DomainError);
      assert.deepEqual([e.code, e.target], ['UnsupportedProperty', property]);
      return true;
    });
  }
  await assert.rejects(
    pool({ applicationPackageReferences: [{ applicationId: 'nothing' }] }),
    (e: unknown) =>
      e instanceof DomainError &&
      e.code === 'InvalidApplicationPackageReferences' &&
      e.category === 'conflict',
    'a pool naming a missing application is refused with 409 InvalidApplicationPackageReferences',
  );
  await pool({ enableInterNodeCommunication: false, certificateReferences: [], userAccounts: [] });
  await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j', poolInfo: { poolId: 'u' } });
  await assert.rejects(
    async () => w.pools.patch(w.account, 'u', { certificateReferences: [{ thumbprint: 'x' }] }),
    (e: unknown) => e instanceof DomainError && e.code === 'UnsupportedProperty',
  );
});

test('ETags move whenever lastModified does, also when the service writes (a job it ends, its schedule runner)', async () => {
  const w = await world();
  await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 1));
  await w.settle();
  const account = w.account.name;
  const job = await w.jobs.add(
    w.account,
    { scheme: 'SharedKey' },
    {
      id: 'ends',
      poolInfo: { poolId: 'p' },
      onAllTasksComplete: 'terminatejob',
    },
  );
  await w.tasks.add(account, 'ends', { id: 't', commandLine: '/bin/true' });
  w.clock.advance(1000);
  await w.settle();
  const ended = await w.jobs.get(account, 'ends');
  assert.equal(ended.state, 'completed');
  assert.notEqual(ended.lastModified, job.lastModified);
  assert.notEqual(ended.etag, job.etag, 'the service ended the job: a new ETag');

  const schedules = new JobScheduleService(w.ctx, w.jobs);
  const runner = new ScheduleRunner(w.ctx, schedules);
  const s = await schedules.add(
    account,
    { scheme: 'SharedKey' },
    {
      id: 'hourly',
      schedule: { recurrenceInterval: 'PT1H' },
      jobSpecification: { poolInfo: { poolId: 'p' } },
    },
  );
  w.clock.advance(1000);
  assert.equal(await runner.tick(), true);
  const after = await schedules.get(account, 'hourly');
  assert.notEqual(after.lastModified, s.lastModified);
  assert.notEqual(after.etag, s.etag, 'the runner wrote the schedule: a new ETag');
});
