import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../errors.ts';
import { checkPoolAdd, DEFAULT_RESIZE_TIMEOUT_MS, MAX_DURATION_MS, resizeTimeoutOf } from './pool-spec.ts';

test('resizeTimeout: 5 minutes to the largest TimeSpan; beyond either bound a 400 naming the property', () => {
  assert.equal(resizeTimeoutOf(undefined), DEFAULT_RESIZE_TIMEOUT_MS);
  assert.equal(resizeTimeoutOf('PT5M'), 300_000);
  assert.equal(resizeTimeoutOf('P10675199D'), 10_675_199 * 86_400_000);
  assert.ok(resizeTimeoutOf('P10675199DT2H48M5S') <= MAX_DURATION_MS);
  const refused = (value: string) => {
    assert.throws(
      () => resizeTimeoutOf(value),
      (e: unknown) =>
        e instanceof DomainError &&
        e.code === 'InvalidPropertyValue' &&
        e.values.PropertyName === 'resizeTimeout',
      value,
    );
  };
  for (const v of ['PT4M', 'P10675200D', 'P99999999999D', `P${'9'.repeat(400)}D`]) refused(v);
});

test('a malformed autoScaleEvaluationInterval is refused even when autoscale is off (found by tests/fuzz)', () => {
  const pool = (autoScaleEvaluationInterval: string) => ({
    id: 'p',
    vmSize: 'standard_a1_v2',
    virtualMachineConfiguration: { imageReference: {}, nodeAgentSKUId: 'x' },
    targetDedicatedNodes: 0,
    autoScaleEvaluationInterval,
  });
  assert.doesNotThrow(() => checkPoolAdd(pool('PT10M')));
  assert.throws(
    () => checkPoolAdd(pool('five minutes')),
    (e: unknown) => e instanceof DomainError && e.values.PropertyName === 'autoScaleEvaluationInterval',
  );
});
