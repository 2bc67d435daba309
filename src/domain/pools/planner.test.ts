import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_PLAN_MODEL, planPool, predict, type AllocationModel } from './planner.ts';

const model: AllocationModel = { ...DEFAULT_PLAN_MODEL, capacityPerReplica: 25 };
const MIN = 60_000;

describe('planner', () => {
  test('3,000 nodes: at least 10 replicas and 45 minutes, recommended more', () => {
    const plan = planPool(3000, model);
    assert.equal(plan.minimumReplicas, 10);
    assert.equal(plan.minimumResizeTimeoutMs, 45 * MIN);
    assert.ok(plan.recommendedReplicas > 10);
    assert.ok(plan.recommendedResizeTimeoutMs >= 45 * MIN);
    assert.equal(plan.recommended.timedOut, false);
    assert.equal(plan.recommended.allocatedNodes, 3000);
    assert.equal(plan.given, undefined);
  });

  test('nodes leave creating in waves of replicas × capacity', () => {
    // 10 replicas × 25 = 250 concurrent copies: 3,000 nodes are 12 waves of 60 s.
    const p = predict({ nodes: 3000, replicas: 10, resizeTimeoutMs: 45 * MIN }, model);
    assert.equal(p.steadyMs, 12 * MIN);
    assert.equal(p.allIdleMs, 12 * MIN + 90_000);
    // mean of waves 1..12 minutes, plus boot and start task
    assert.equal(p.meanIdleLatencyMs, 6.5 * MIN + 90_000);
  });

  test('too few replicas: the resize times out and keeps the nodes it got', () => {
    const p = predict({ nodes: 3000, replicas: 1, resizeTimeoutMs: 15 * MIN }, model);
    assert.equal(p.timedOut, true);
    assert.equal(p.allocatedNodes, 15 * 25);
    assert.equal(p.steadyMs, 15 * MIN);
  });

  test('more replicas never make allocation slower', () => {
    const { curve } = planPool(2000, model);
    for (let i = 1; i < curve.length; i++) {
      assert.ok((curve[i]?.steadyMs ?? 0) <= (curve[i - 1]?.steadyMs ?? 0));
    }
  });

  test('the given settings are predicted too', () => {
    const plan = planPool(600, model, { replicas: 1, resizeTimeoutMs: 15 * MIN });
    assert.equal(plan.given?.replicas, 1);
    assert.equal(plan.given.steadyMs, 15 * MIN); // 24 waves of 60 s do not fit in 15 min
    assert.equal(plan.given.timedOut, true);
  });

  test('a small pool needs one replica and the default 15 minutes', () => {
    const plan = planPool(10, model);
    assert.equal(plan.minimumReplicas, 1);
    assert.equal(plan.minimumResizeTimeoutMs, 15 * MIN);
    assert.equal(plan.minimum.steadyMs, MIN);
  });
});
