import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient, BatchServiceModels } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { failsWith, sharedKeyBatch, tinyPoolSpec, waitFor, type BatchFailure } from './pool-image.ts';

/** Autoscale formulas through @azure/batch: add with a formula, evaluate, enable, disable, and the refusals. */
describe('autoscale', () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
    batch = sharedKeyBatch(server);
  });
  after(async () => {
    await server.stop();
  });

  const steadyWith = (id: string, nodes: number) =>
    waitFor(
      () => batch.pool.get(id),
      (p) => p.allocationState === 'steady' && p.currentDedicatedNodes === nodes,
      `${String(nodes)} nodes`,
    );

  test('a pool sized by its formula; evaluate does not apply; enable applies at once; disable makes it fixed', async () => {
    const spec = tinyPoolSpec('auto', 0, {
      enableAutoScale: true,
      autoScaleFormula: 'wanted = 2;\n$TargetDedicatedNodes = wanted;',
      autoScaleEvaluationInterval: 'PT5M',
    });
    delete spec.targetDedicatedNodes;
    await batch.pool.add(spec);
    const pool = await steadyWith('auto', 2);
    assert.equal(pool.enableAutoScale, true);
    assert.equal(pool.autoScaleEvaluationInterval, 'PT5M');
    assert.equal(pool.autoScaleFormula, 'wanted = 2;\n$TargetDedicatedNodes = wanted;');
    assert.equal(
      pool.autoScaleRun?.results,
      'wanted=2;$TargetDedicatedNodes=2;$NodeDeallocationOption=requeue',
    );
    assert.ok(pool.autoScaleRun.timestamp instanceof Date);

    await assert.rejects(
      batch.pool.resize('auto', { targetDedicatedNodes: 3 }),
      failsWith(409, 'OperationInvalidForCurrentState'),
    );
    const run = await batch.pool.evaluateAutoScale(
      'auto',
      '$TargetDedicatedNodes = $CurrentDedicatedNodes + 1; $NodeDeallocationOption = taskcompletion',
    );
    assert.equal(run.results, '$TargetDedicatedNodes=3;$NodeDeallocationOption=taskcompletion');
    assert.equal((await batch.pool.get('auto')).targetDedicatedNodes, 2, 'evaluate only evaluates');
    const samples = await batch.pool.evaluateAutoScale(
      'auto',
      '$TargetDedicatedNodes = max($PendingTasks.GetSample(1)) + $ActiveTasks.Count() * 0',
    );
    assert.equal(samples.results?.split(';')[0], '$TargetDedicatedNodes=0');
    await assert.rejects(
      batch.pool.evaluateAutoScale('auto', '$TargetDedicatedNodes = (1 +'),
      (e: BatchFailure) =>
        failsWith(400, 'AutoScalingFormulaSyntaxError')(e) &&
        (e.body?.values ?? []).some((v) => v.key === 'Message' && /Line 1, Col \d+/.test(v.value ?? '')),
    );

    await batch.pool.enableAutoScale('auto', { autoScaleFormula: '$TargetDedicatedNodes = 1;' });
    const shrunk = await steadyWith('auto', 1);
    assert.equal(shrunk.autoScaleEvaluationInterval, 'PT5M', 'the interval is kept');
    await assert.rejects(
      batch.pool.enableAutoScale('auto', { autoScaleFormula: '$TargetDedicatedNodes = 0;' }),
      failsWith(409, 'TooManyEnableAutoScaleRequests'),
    );

    await batch.pool.disableAutoScale('auto');
    const fixed = await batch.pool.get('auto');
    assert.equal(fixed.enableAutoScale, false);
    assert.equal(fixed.autoScaleFormula, undefined);
    assert.equal(fixed.targetDedicatedNodes, 1);
    await batch.pool.resize('auto', { targetDedicatedNodes: 0 });
    await steadyWith('auto', 0);
  });

  test('bad settings are refused with the field named', async () => {
    const bad = (extra: Record<string, unknown>) => {
      const spec: Record<string, unknown> = { ...tinyPoolSpec('bad', 0), enableAutoScale: true };
      delete spec.targetDedicatedNodes;
      return batch.pool.add({ ...spec, ...extra } as unknown as BatchServiceModels.PoolAddParameter);
    };
    await assert.rejects(bad({}), failsWith(400, 'MissingRequiredProperty'));
    await assert.rejects(
      bad({ autoScaleFormula: '$TargetDedicatedNodes = 1', targetDedicatedNodes: 1 }),
      failsWith(400, 'InvalidAutoScalingSettings'),
    );
    await assert.rejects(
      bad({ autoScaleFormula: '$TargetDedicatedNodes = 1', autoScaleEvaluationInterval: 'PT1M' }),
      (e: BatchFailure) =>
        failsWith(400, 'InvalidAutoScalingSettings')(e) &&
        (e.body?.values ?? []).some(
          (v) => v.key === 'PropertyName' && v.value === 'autoScaleEvaluationInterval',
        ),
    );
    await assert.rejects(
      bad({ autoScaleFormula: `$TargetDedicatedNodes = ${'1'.repeat(8200)}` }),
      failsWith(400, 'AutoScaleFormulaTooLong'),
    );
    await assert.rejects(
      bad({ autoScaleFormula: '$TargetDedicatedNodes = ;' }),
      failsWith(400, 'AutoScalingFormulaSyntaxError'),
    );
    await assert.rejects(batch.pool.get('bad'), failsWith(404, 'PoolNotFound'));
  });

  test('formulas nested thousands deep: AutoScalingFormulaSyntaxError on add, enable and evaluate', async () => {
    const parens = `$TargetDedicatedNodes = ${'('.repeat(4000)}1${')'.repeat(4000)};`;
    const minus = `$TargetDedicatedNodes = ${'-'.repeat(8000)}1;`;
    const spec: Record<string, unknown> = { ...tinyPoolSpec('deep', 0), enableAutoScale: true };
    delete spec.targetDedicatedNodes;
    for (const formula of [parens, minus])
      await assert.rejects(
        batch.pool.add({
          ...spec,
          autoScaleFormula: formula,
        } as unknown as BatchServiceModels.PoolAddParameter),
        failsWith(400, 'AutoScalingFormulaSyntaxError'),
      );
    await batch.pool.add({
      ...spec,
      autoScaleFormula: '$TargetDedicatedNodes = 0;',
    } as unknown as BatchServiceModels.PoolAddParameter);
    for (const formula of [parens, minus]) {
      await assert.rejects(
        batch.pool.evaluateAutoScale('deep', formula),
        failsWith(400, 'AutoScalingFormulaSyntaxError'),
      );
      await assert.rejects(
        batch.pool.enableAutoScale('deep', { autoScaleFormula: formula }),
        failsWith(400, 'AutoScalingFormulaSyntaxError'),
      );
    }
    await batch.pool.deleteMethod('deep');
  });
});
