import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureThrottle } from './throttle.ts';

test('a key gets `burst` failures, then one per 1/perSecond; other keys are not affected', () => {
  let now = 0;
  const t = new FailureThrottle({ burst: 3, perSecond: 2, maxKeys: 100, now: () => now });
  for (let i = 0; i < 3; i++) {
    assert.equal(t.retryAfterMs('a'), 0);
    t.fail('a');
  }
  assert.equal(t.retryAfterMs('a'), 500);
  assert.equal(t.retryAfterMs('b'), 0, 'another client is not slowed');
  now += 250;
  assert.equal(t.retryAfterMs('a'), 250);
  now += 250;
  assert.equal(t.retryAfterMs('a'), 0, 'half a second later one more try');
  t.fail('a');
  assert.equal(t.retryAfterMs('a'), 500);
  now += 10_000;
  assert.equal(t.retryAfterMs('a'), 0);
  assert.equal(t.size, 0, 'a refilled bucket is forgotten');
});

test('at most maxKeys buckets are kept, the oldest dropped first', () => {
  const t = new FailureThrottle({ burst: 1, perSecond: 1, maxKeys: 10, now: () => 0 });
  for (let i = 0; i < 1000; i++) t.fail(`k${String(i)}`);
  assert.equal(t.size, 10);
  assert.equal(t.retryAfterMs('k999'), 1000);
  assert.equal(t.retryAfterMs('k0'), 0);
});
