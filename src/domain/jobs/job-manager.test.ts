import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from '../pools/pools.fixture.ts';

const SHARED_KEY = { scheme: 'SharedKey' } as const;

describe('job manager tasks', () => {
  test('added with the job, exclusive on its node, and its completion terminates the job (JMComplete)', async () => {
    const w = await world();
    await w.pools.add(w.account, SHARED_KEY, tinyPool('p', 1, { taskSlotsPerNode: 2 }));
    await w.settle();
    await w.jobs.add(
      w.account,
      { scheme: 'SharedKey' },
      {
        id: 'j',
        poolInfo: { poolId: 'p' },
        jobManagerTask: { id: 'manager', commandLine: '/bin/sh -c "echo managing"' },
      },
    );
    const manager = await w.tasks.get(w.account.name, 'j', 'manager');
    assert.equal(manager.requiredSlots, 2, 'runExclusive (default) takes every slot of the node');
    assert.equal(manager.spec.killJobOnCompletion, undefined, 'manager-only fields stay on the job');
    await w.settle();
    const job = await w.jobs.get(w.account.name, 'j');
    assert.equal(job.state, 'completed');
    assert.equal(job.executionInfo.terminateReason, 'JMComplete');
    assert.equal((await w.tasks.get(w.account.name, 'j', 'manager')).state, 'completed');
  });

  test('killJobOnCompletion false leaves the job active; runExclusive false keeps its own slots', async () => {
    const w = await world();
    await w.pools.add(w.account, SHARED_KEY, tinyPool('p', 1, { taskSlotsPerNode: 2 }));
    await w.settle();
    await w.jobs.add(
      w.account,
      { scheme: 'SharedKey' },
      {
        id: 'j',
        poolInfo: { poolId: 'p' },
        jobManagerTask: {
          id: 'm',
          commandLine: '/bin/true',
          killJobOnCompletion: false,
          runExclusive: false,
        },
      },
    );
    assert.equal((await w.tasks.get(w.account.name, 'j', 'm')).requiredSlots, 1);
    await w.settle();
    assert.equal((await w.tasks.get(w.account.name, 'j', 'm')).state, 'completed');
    assert.equal((await w.jobs.get(w.account.name, 'j')).state, 'active');
  });

  test('a bad job manager refuses the job, naming jobManagerTask.<field>, and stores nothing', async () => {
    const w = await world();
    const refusal = async (jobManagerTask: unknown) => {
      try {
        await w.jobs.add(
          w.account,
          { scheme: 'SharedKey' },
          { id: 'bad', poolInfo: { poolId: 'p' }, jobManagerTask },
        );
      } catch (err) {
        assert.ok(err instanceof DomainError);
        return `${err.code} ${err.values.PropertyName ?? ''}`;
      }
      return 'accepted';
    };
    assert.equal(await refusal({ id: 'm' }), 'MissingRequiredProperty jobManagerTask.commandLine');
    assert.equal(await refusal({ commandLine: 'x' }), 'MissingRequiredProperty jobManagerTask.id');
    assert.equal(
      await refusal({ id: 'no spaces', commandLine: 'x' }),
      'InvalidPropertyValue jobManagerTask.id',
    );
    assert.equal(
      await refusal({ id: 'm', commandLine: 'x', runExclusive: 'yes' }),
      'InvalidPropertyValue jobManagerTask.runExclusive',
    );
    assert.equal(
      await refusal({ id: 'm', commandLine: 'x', requiredSlots: 0, runExclusive: false }),
      'InvalidPropertyValue jobManagerTask.requiredSlots',
    );
    await assert.rejects(
      w.jobs.get(w.account.name, 'bad'),
      (e) => e instanceof DomainError && e.code === 'JobNotFound',
    );
  });
});
