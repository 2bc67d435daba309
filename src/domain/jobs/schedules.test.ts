import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from '../pools/pools.fixture.ts';
import { ScheduleRunner } from './schedule-runner.ts';
import { JobScheduleService } from './schedules.ts';

const HOUR = 3_600_000;
const SHARED_KEY = { scheme: 'SharedKey' } as const;
const codeOf = (err: unknown) =>
  err instanceof DomainError ? `${err.code} ${err.values.PropertyName ?? ''}`.trim() : String(err);

async function scheduleWorld() {
  const w = await world();
  await w.pools.add(w.account, SHARED_KEY, tinyPool('p', 1));
  await w.settle();
  const schedules = new JobScheduleService(w.ctx, w.jobs);
  const runner = new ScheduleRunner(w.ctx, schedules);
  const account = w.account.name;
  const jobIds = async (id: string) => (await schedules.jobsOf(account, id)).map((j) => `${j.id} ${j.state}`);
  return { ...w, schedules, runner, jobIds, name: account };
}

/** A job specification whose job manager ends each job as soon as it ran. */
const MANAGED = { poolInfo: { poolId: 'p' }, jobManagerTask: { id: 'm', commandLine: '/bin/true' } };

describe('job schedules', () => {
  test('a recurring schedule makes one job per interval, never two at once; disable, enable, terminate, delete', async () => {
    const w = await scheduleWorld();
    await w.schedules.add(
      w.name,
      { scheme: 'SharedKey' },
      {
        id: 'hourly',
        schedule: { recurrenceInterval: 'PT1H' },
        jobSpecification: MANAGED,
      },
    );
    assert.equal(await w.runner.tick(), true);
    let s = await w.schedules.get(w.name, 'hourly');
    assert.equal(s.executionInfo.recentJobId, 'hourly:job-1');
    assert.equal(s.executionInfo.nextRunTime, new Date(w.clock.now().getTime() + HOUR).toISOString());
    assert.equal(await w.runner.tick(), false, 'not due again yet');
    await w.settle();
    assert.deepEqual(await w.jobIds('hourly'), ['hourly:job-1 completed']);
    assert.equal((await w.jobs.get(w.name, 'hourly:job-1')).executionInfo.terminateReason, 'JMComplete');

    w.clock.advance(HOUR);
    await w.runner.tick();
    await w.schedules.disable(w.name, 'hourly');
    w.clock.advance(HOUR);
    assert.equal(await w.runner.tick(), false, 'disabled: no job');
    await w.schedules.enable(w.name, 'hourly');
    assert.equal(await w.runner.tick(), false, 'job-2 has not completed: the next one waits');
    await w.settle();
    assert.equal(await w.runner.tick(), true);
    assert.deepEqual(await w.jobIds('hourly'), [
      'hourly:job-1 completed',
      'hourly:job-2 completed',
      'hourly:job-3 active',
    ]);

    await w.schedules.terminate(w.name, 'hourly');
    s = await w.schedules.get(w.name, 'hourly');
    assert.equal(s.state, 'completed');
    assert.equal(s.executionInfo.nextRunTime, undefined);
    assert.equal(s.executionInfo.endTime, w.clock.now().toISOString());
    assert.equal((await w.jobs.get(w.name, 'hourly:job-3')).state, 'completed');
    await assert.rejects(w.schedules.disable(w.name, 'hourly'), (e) => codeOf(e) === 'JobScheduleCompleted');
    await w.schedules.delete(w.name, 'hourly');
    await assert.rejects(w.jobs.get(w.name, 'hourly:job-1'), (e) => codeOf(e) === 'JobNotFound');
    await assert.rejects(w.schedules.get(w.name, 'HOURLY'), (e) => codeOf(e) === 'JobScheduleNotFound');
  });

  test('one run at doNotRunUntil; a missed start window is skipped; doNotRunAfter completes the schedule', async () => {
    const w = await scheduleWorld();
    const at = new Date(w.clock.now().getTime() + 2 * HOUR).toISOString();
    await w.schedules.add(
      w.name,
      { scheme: 'SharedKey' },
      { id: 'once', schedule: { doNotRunUntil: at }, jobSpecification: MANAGED },
    );
    assert.equal(await w.runner.tick(), false);
    w.clock.advance(2 * HOUR);
    assert.equal(await w.runner.tick(), true);
    await w.settle();
    await w.runner.tick();
    assert.equal((await w.schedules.get(w.name, 'once')).state, 'completed', 'its only job completed');

    const until = new Date(w.clock.now().getTime() + 3 * HOUR).toISOString();
    await w.schedules.add(
      w.name,
      { scheme: 'SharedKey' },
      {
        id: 'windowed',
        schedule: { recurrenceInterval: 'PT1H', startWindow: 'PT10M', doNotRunAfter: until },
        jobSpecification: { poolInfo: { poolId: 'p' } },
      },
    );
    await w.runner.tick();
    w.clock.advance(HOUR + 20 * 60_000); // job-1 never completes: the 1-hour run is late beyond its window
    await w.runner.tick();
    const skipped = await w.schedules.get(w.name, 'windowed');
    assert.equal(skipped.jobCount, 1);
    assert.equal(
      skipped.executionInfo.nextRunTime,
      new Date(w.clock.now().getTime() + 40 * 60_000).toISOString(),
    );
    await w.jobs.terminate(w.name, 'windowed:job-1', undefined, {});
    w.clock.advance(2 * HOUR);
    await w.runner.tick();
    const ended = await w.schedules.get(w.name, 'windowed');
    assert.equal(ended.state, 'completed');
    assert.equal(ended.jobCount, 1, 'no job after doNotRunAfter');
  });

  test('bad schedules are refused naming the property; ids are unique case-insensitively', async () => {
    const w = await scheduleWorld();
    const refusal = (body: Record<string, unknown>) =>
      w.schedules.add(w.name, { scheme: 'SharedKey' }, { id: 's', jobSpecification: MANAGED, ...body }).then(
        () => 'accepted',
        (e: unknown) => codeOf(e),
      );
    assert.equal(
      await refusal({ schedule: { recurrenceInterval: 'PT30S' } }),
      'InvalidPropertyValue schedule.recurrenceInterval',
    );
    assert.equal(
      await refusal({ schedule: { doNotRunUntil: 'soon' } }),
      'InvalidPropertyValue schedule.doNotRunUntil',
    );
    assert.equal(
      await refusal({ schedule: {}, jobSpecification: { poolInfo: {} } }),
      'MissingRequiredProperty jobSpecification.poolInfo.poolId',
    );
    assert.equal(
      await refusal({ schedule: {}, jobSpecification: { ...MANAGED, priority: 5000 } }),
      'InvalidPropertyValue jobSpecification.priority',
    );
    assert.equal(await refusal({ schedule: {} }), 'accepted');
    assert.equal(await refusal({ id: 'S', schedule: {} }), 'JobScheduleExists');
  });
});
