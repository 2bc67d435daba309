import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from '../pools/pools.fixture.ts';

const refusal = (e: unknown) =>
  e instanceof DomainError ? `${e.code} ${e.values.PropertyName ?? e.target ?? ''}` : String(e);

/** Inputs Azure Batch refuses (issue 20 item 9), refused here with its code and the property named. */
describe('task, job and pool inputs Batch refuses', () => {
  test('requiredSlots above the pool taskSlotsPerNode, and an empty task collection: 400 naming the property', async () => {
    const w = await world();
    await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 0, { taskSlotsPerNode: 2 }));
    await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j', poolInfo: { poolId: 'p' } });
    await assert.rejects(
      w.tasks.add(w.account.name, 'j', { id: 't3', commandLine: 'true', requiredSlots: 3 }),
      (e) => refusal(e) === 'InvalidPropertyValue requiredSlots',
    );
    const results = await w.tasks.addCollection(w.account.name, 'j', [
      { id: 'ok', commandLine: 'true', requiredSlots: 2 },
      { id: 'big', commandLine: 'true', requiredSlots: 9 },
    ]);
    assert.deepEqual(
      results.map((r) => (r.status === 'success' ? r.task.id : `${r.taskId} ${refusal(r.error)}`)),
      ['big InvalidPropertyValue requiredSlots', 'ok'],
    );
    await assert.rejects(
      w.tasks.addCollection(w.account.name, 'j', []),
      (e) => refusal(e) === 'InvalidPropertyValue value',
      'an empty collection',
    );
    // A job whose pool does not exist yet takes any slot count (the pool may come with enough).
    await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'later', poolInfo: { poolId: 'not-yet' } });
    await w.tasks.add(w.account.name, 'later', { id: 'wide', commandLine: 'true', requiredSlots: 8 });
  });

  test('environment variable names with = or NUL, and values with NUL, are refused wherever settings go', async () => {
    const w = await world();
    await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j', poolInfo: { poolId: 'p' } });
    const env = (name: string, value = 'v') => [
      { name: 'FINE', value: 'x=y' },
      { name, value },
    ];
    for (const [name, value, at] of [
      ['A=B', 'v', 'environmentSettings[1].name'],
      ['A\0B', 'v', 'environmentSettings[1].name'],
      ['OK', 'v\0w', 'environmentSettings[1].value'],
    ] as const) {
      await assert.rejects(
        w.tasks.add(w.account.name, 'j', {
          id: 't',
          commandLine: 'true',
          environmentSettings: env(name, value),
        }),
        (e) => refusal(e) === `InvalidPropertyValue ${at}`,
      );
    }
    await assert.rejects(
      w.jobs.add(
        w.account,
        { scheme: 'SharedKey' },
        { id: 'j2', poolInfo: { poolId: 'p' }, commonEnvironmentSettings: env('X=1') },
      ),
      (e) => refusal(e) === 'InvalidPropertyValue commonEnvironmentSettings[1].name',
    );
    await assert.rejects(
      w.pools.add(
        w.account,
        { scheme: 'SharedKey' },
        tinyPool('p', 0, { startTask: { commandLine: 'true', environmentSettings: env('X=1') } }),
      ),
      (e) => refusal(e) === 'InvalidPropertyValue startTask.environmentSettings[1].name',
    );
    await w.tasks.add(w.account.name, 'j', {
      id: 'fine',
      commandLine: 'true',
      environmentSettings: env('B'),
    });
  });
});
