import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DomainError } from '../../errors.ts';
import { tinyPool, world } from '../pools.fixture.ts';

const codeOf = (err: unknown) => (err instanceof DomainError ? err.code : String(err));
const SHARED_KEY = { scheme: 'SharedKey' } as const;

/** An autoscale pool body: no fixed targets, a formula and (optionally) an interval. */
function autoPool(id: string, formula: string, interval?: string) {
  const body: Record<string, unknown> = {
    ...tinyPool(id, 0),
    enableAutoScale: true,
    autoScaleFormula: formula,
    ...(interval ? { autoScaleEvaluationInterval: interval } : {}),
  };
  delete body.targetDedicatedNodes;
  return body;
}

/** Scales to the pending tasks of the last sample, at most 5 nodes. */
const BY_PENDING = '$TargetDedicatedNodes = min(5, max($PendingTasks.GetSample(1)));';

describe('autoscale', () => {
  test('a pool added with a formula is evaluated at once and sized by it', async () => {
    const w = await world();
    const added = await w.pools.add(w.account, SHARED_KEY, autoPool('a1', '$TargetDedicatedNodes = 2;'));
    assert.equal(added.targetDedicatedNodes, 2);
    assert.equal(
      added.autoScale?.lastRun?.results,
      '$TargetDedicatedNodes=2;$NodeDeallocationOption=requeue',
    );
    await w.settle();
    const { pool, nodes } = await w.pools.get(w.account, 'a1');
    assert.equal(pool.allocationState, 'steady');
    assert.equal(nodes.length, 2);
    await assert.rejects(
      w.pools.resize(w.account, 'a1', { targetDedicatedNodes: 3 }),
      (e) => codeOf(e) === 'OperationInvalidForCurrentState',
    );
  });

  test('the formula follows the task queue on its schedule: grow with pending tasks, shrink when done', async () => {
    const w = await world();
    await w.pools.add(w.account, SHARED_KEY, autoPool('q', BY_PENDING, 'PT5M'));
    await w.settle();
    assert.equal((await w.pools.get(w.account, 'q')).nodes.length, 0);
    await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j', poolInfo: { poolId: 'q' } });
    for (let i = 0; i < 4; i++)
      await w.tasks.add(w.account.name, 'j', { id: `t${String(i)}`, commandLine: '/bin/true' });
    // Not yet due: the formula's next run is 5 minutes after the first.
    w.clock.advance(60_000);
    await w.autoScaler.tick();
    assert.equal((await w.pools.get(w.account, 'q')).pool.targetDedicatedNodes, 0);
    w.clock.advance(4 * 60_000);
    await w.autoScaler.tick();
    const grown = (await w.pools.get(w.account, 'q')).pool;
    assert.equal(grown.targetDedicatedNodes, 4);
    assert.equal(grown.allocationState, 'resizing');
    assert.equal(grown.autoScale?.lastRun?.timestamp, w.clock.now().toISOString());
    await w.settle();
    assert.equal((await w.pools.get(w.account, 'q')).nodes.length, 4);
    await w.jobs.terminate(w.account.name, 'j', undefined, {});
    w.clock.advance(5 * 60_000);
    await w.autoScaler.tick();
    await w.settle();
    assert.equal((await w.pools.get(w.account, 'q')).nodes.length, 0);
  });

  test('enable, evaluate, disable; the rules on each', async () => {
    const w = await world();
    await w.pools.add(w.account, SHARED_KEY, tinyPool('f', 1));
    await assert.rejects(
      w.pools.evaluateAutoScale(w.account, 'f', { autoScaleFormula: '$TargetDedicatedNodes = 1' }),
      (e) => codeOf(e) === 'OperationInvalidForCurrentState',
    );
    await assert.rejects(
      w.pools.enableAutoScale(w.account, 'f', { autoScaleFormula: '$TargetDedicatedNodes = 1' }),
      (e) => codeOf(e) === 'PoolBeingResized',
    );
    await w.settle();
    await assert.rejects(
      w.pools.enableAutoScale(w.account, 'f', {}),
      (e) => codeOf(e) === 'MissingRequiredProperty',
    );
    await assert.rejects(
      w.pools.enableAutoScale(w.account, 'f', { autoScaleFormula: '$TargetDedicatedNodes = (1' }),
      (e) => codeOf(e) === 'AutoScalingFormulaSyntaxError',
    );
    await assert.rejects(
      w.pools.enableAutoScale(w.account, 'f', {
        autoScaleFormula: 'x=1',
        autoScaleEvaluationInterval: 'PT1M',
      }),
      (e) => codeOf(e) === 'InvalidAutoScalingSettings',
    );
    await assert.rejects(
      w.pools.enableAutoScale(w.account, 'f', { autoScaleFormula: `x=${'1'.repeat(8200)}` }),
      (e) => codeOf(e) === 'AutoScaleFormulaTooLong',
    );
    const on = await w.pools.enableAutoScale(w.account, 'f', {
      autoScaleFormula: '$TargetDedicatedNodes = 3',
    });
    assert.equal(on.targetDedicatedNodes, 3);
    assert.equal(on.autoScale?.evaluationIntervalMs, 15 * 60_000);
    await assert.rejects(
      w.pools.enableAutoScale(w.account, 'f', { autoScaleFormula: '$TargetDedicatedNodes = 1' }),
      (e) => codeOf(e) === 'TooManyEnableAutoScaleRequests' || codeOf(e) === 'PoolBeingResized',
    );
    await w.settle();
    w.clock.advance(10_000);
    await assert.rejects(
      w.pools.enableAutoScale(w.account, 'f', { autoScaleFormula: '$TargetDedicatedNodes = 1' }),
      (e) => codeOf(e) === 'TooManyEnableAutoScaleRequests',
    );
    const run = await w.pools.evaluateAutoScale(w.account, 'f', {
      autoScaleFormula: 'n = $CurrentDedicatedNodes; $TargetDedicatedNodes = n * 2',
    });
    assert.equal(run.results, 'n=3;$TargetDedicatedNodes=6;$NodeDeallocationOption=requeue');
    assert.equal((await w.pools.get(w.account, 'f')).pool.targetDedicatedNodes, 3, 'evaluate does not apply');
    const failed = await w.pools.evaluateAutoScale(w.account, 'f', {
      autoScaleFormula: '$TargetDedicatedNodes = avg($ActiveTasks.GetSample(TimeInterval_Hour, 50))',
    });
    assert.equal(failed.error?.code, 'InsufficientSampleData');
    assert.match(JSON.stringify(failed.error), /\$ActiveTasks wanted 50%, received \d+%/);
    const off = await w.pools.disableAutoScale(w.account, 'f');
    assert.equal(off.autoScale, undefined);
    assert.equal(off.targetDedicatedNodes, 3);
    await w.pools.resize(w.account, 'f', { targetDedicatedNodes: 1 });
  });

  test('an evaluation that fails keeps the targets and records the error', async () => {
    const w = await world();
    const added = await w.pools.add(w.account, SHARED_KEY, autoPool('e', '$TargetDedicatedNodes = nothing'));
    assert.equal(added.targetDedicatedNodes, 0);
    assert.equal(added.autoScale?.lastRun?.error?.code, 'AutoScalingFormulaEvaluationError');
    assert.match(JSON.stringify(added.autoScale.lastRun.error), /Variable 'nothing' is not defined/);
    await assert.rejects(
      w.pools.add(w.account, SHARED_KEY, { ...autoPool('x', 'x = 1'), targetDedicatedNodes: 1 }),
      (e) => codeOf(e) === 'InvalidAutoScalingSettings',
    );
  });
});
