import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from '../pools/pools.fixture.ts';
import { ScheduleRunner } from './schedule-runner.ts';
import { JobScheduleService } from './schedules.ts';

const SHARED_KEY = { scheme: 'SharedKey' } as const;
const codeOf = (err: unknown) =>
  err instanceof DomainError ? `${err.code} ${err.values.PropertyName ?? ''}` : String(err);

/** A pool specification: a pool add body without an id. */
const spec = (nodes: number): Record<string, unknown> => {
  const body: Record<string, unknown> = { ...tinyPool('unused', nodes) };
  delete body.id;
  return body;
};
const autoJob = (id: string, auto: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id,
  poolInfo: { autoPoolSpecification: { poolLifetimeOption: 'job', pool: spec(1), ...auto } },
  ...extra,
});

describe('auto pools', () => {
  test('a job with an auto pool gets its own pool, runs its tasks there, and the pool goes when the job completes', async () => {
    const w = await world();
    const job = await w.jobs.add(
      w.account,
      SHARED_KEY,
      autoJob('j', { autoPoolIdPrefix: 'nightly' }, { onAllTasksComplete: 'terminatejob' }),
    );
    assert.match(job.poolId, /^nightly_/, 'the prefix leads the id Batch assigns');
    assert.equal(job.executionInfo.poolId, job.poolId);
    const pools = (await w.pools.list(w.account)).map((v) => v.pool);
    assert.deepEqual(
      pools.map((p) => [p.id, p.autoPool]),
      [[job.poolId, { owner: 'job', ownerId: 'j', keepAlive: false }]],
    );
    await w.tasks.addCollection(w.account.name, 'j', [{ id: 't', commandLine: '/bin/true' }]);
    await w.settle();
    assert.equal((await w.tasks.get(w.account.name, 'j', 't')).state, 'completed');
    assert.equal((await w.jobs.get(w.account.name, 'j')).state, 'completed');
    await w.settle();
    assert.deepEqual(await w.pools.list(w.account), [], 'the completed job took its pool with it');
  });

  test('keepAlive keeps the pool after the job is deleted; without it, deleting the job deletes the pool', async () => {
    const w = await world();
    const kept = await w.jobs.add(w.account, SHARED_KEY, autoJob('kept', { keepAlive: true }));
    const gone = await w.jobs.add(w.account, SHARED_KEY, autoJob('gone', {}));
    await w.settle();
    await w.jobs.delete(w.account.name, 'kept', {});
    await w.jobs.delete(w.account.name, 'gone', {});
    await w.settle();
    const ids = (await w.pools.list(w.account)).map((v) => v.pool.id);
    assert.deepEqual(ids, [kept.poolId]);
    assert.notEqual(gone.poolId, kept.poolId);
  });

  test('bad specifications are refused by property; a jobschedule lifetime belongs to schedules only', async () => {
    const w = await world();
    const refused = async (body: Record<string, unknown>, expected: string) => {
      await assert.rejects(w.jobs.add(w.account, SHARED_KEY, body), (e) => codeOf(e) === expected);
    };
    await refused(
      autoJob('a', { poolLifetimeOption: 'jobschedule' }),
      'InvalidPropertyValue poolInfo.autoPoolSpecification.poolLifetimeOption',
    );
    await refused(
      autoJob('b', { autoPoolIdPrefix: 'x'.repeat(21) }),
      'InvalidPropertyValue poolInfo.autoPoolSpecification.autoPoolIdPrefix',
    );
    await refused(
      { id: 'c', poolInfo: { autoPoolSpecification: { poolLifetimeOption: 'job' } } },
      'MissingRequiredProperty poolInfo.autoPoolSpecification.pool',
    );
    await refused(
      autoJob('d', { pool: { ...spec(1), vmSize: 'Standard_Nope_v9' } }),
      'InvalidPropertyValue poolInfo.autoPoolSpecification.pool.vmSize',
    );
    await refused(
      {
        id: 'e',
        poolInfo: { poolId: 'p', autoPoolSpecification: { poolLifetimeOption: 'job', pool: spec(1) } },
      },
      'InvalidPropertyValue poolInfo',
    );
    assert.deepEqual(await w.pools.list(w.account), [], 'nothing was made');
    assert.deepEqual(await w.jobs.list(w.account.name), []);
  });

  test('a reached pool quota is the job scheduling error AutoPoolCreationFailedWithQuotaReached', async () => {
    const w = await world(100, { quotas: { pools: 1 } });
    await w.pools.add(w.account, SHARED_KEY, tinyPool('p', 0));
    const job = await w.jobs.add(w.account, SHARED_KEY, autoJob('j', {}));
    assert.equal(job.executionInfo.schedulingError?.code, 'AutoPoolCreationFailedWithQuotaReached');
    assert.equal(job.executionInfo.schedulingError.category, 'usererror');
    assert.equal((await w.pools.list(w.account)).length, 1, 'no auto pool beyond the quota');
  });

  test('a job update may change only keepAlive of its auto pool specification', async () => {
    const w = await world();
    const job = await w.jobs.add(w.account, SHARED_KEY, autoJob('j', {}));
    const auto = { poolLifetimeOption: 'job', pool: spec(1) };
    await w.jobs.update(
      w.account.name,
      'j',
      { poolInfo: { autoPoolSpecification: { ...auto, keepAlive: true } } },
      {},
      false,
    );
    const pool = await w.pools.get(w.account, job.poolId);
    assert.equal(pool.pool.autoPool?.keepAlive, true);
    await assert.rejects(
      w.jobs.update(
        w.account.name,
        'j',
        { poolInfo: { autoPoolSpecification: { ...auto, pool: spec(2) } } },
        {},
        false,
      ),
      (e) => codeOf(e) === 'InvalidPropertyValue poolInfo.autoPoolSpecification',
    );
    await assert.rejects(
      w.jobs.update(w.account.name, 'j', { poolInfo: { poolId: 'other' } }, {}, false),
      (e) => codeOf(e) === 'InvalidPropertyValue poolInfo',
    );
  });

  test('a schedule with the jobschedule lifetime shares one pool across its jobs; deleting it deletes the pool', async () => {
    const w = await world();
    const schedules = new JobScheduleService(w.ctx, w.jobs);
    const runner = new ScheduleRunner(w.ctx, schedules);
    await schedules.add(w.account.name, SHARED_KEY, {
      id: 's',
      schedule: { recurrenceInterval: 'PT1H' },
      jobSpecification: {
        poolInfo: { autoPoolSpecification: { poolLifetimeOption: 'jobschedule', pool: spec(1) } },
        onAllTasksComplete: 'terminatejob',
        jobManagerTask: { id: 'm', commandLine: '/bin/true' },
      },
    });
    await runner.tick();
    await w.settle();
    const first = await w.jobs.get(w.account.name, 's:job-1');
    assert.equal(first.state, 'completed');
    assert.equal((await w.pools.list(w.account)).length, 1, 'the job completed; the schedule keeps its pool');
    w.clock.advance(3_600_000);
    await runner.tick();
    const second = await w.jobs.get(w.account.name, 's:job-2');
    assert.equal(second.poolId, first.poolId, 'the second job runs on the same pool');
    await schedules.delete(w.account.name, 's');
    await w.settle();
    assert.deepEqual(await w.pools.list(w.account), []);
  });

  test('a schedule with the job lifetime makes a pool per job, each gone with its job', async () => {
    const w = await world();
    const schedules = new JobScheduleService(w.ctx, w.jobs);
    const runner = new ScheduleRunner(w.ctx, schedules);
    await schedules.add(w.account.name, SHARED_KEY, {
      id: 's',
      schedule: { recurrenceInterval: 'PT1H' },
      jobSpecification: {
        poolInfo: { autoPoolSpecification: { poolLifetimeOption: 'job', pool: spec(1) } },
        jobManagerTask: { id: 'm', commandLine: '/bin/true' },
      },
    });
    await runner.tick();
    await w.settle();
    assert.deepEqual(
      await w.pools.list(w.account),
      [],
      'the job manager completed the job and its pool went',
    );
    w.clock.advance(3_600_000);
    await runner.tick();
    const second = await w.jobs.get(w.account.name, 's:job-2');
    assert.deepEqual(
      (await w.pools.list(w.account)).map((v) => v.pool.id),
      [second.poolId],
    );
  });
});
