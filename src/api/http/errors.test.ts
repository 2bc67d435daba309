import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainError } from '../../domain/errors.ts';
import { StoreContention } from '../../storage/port.ts';
import { normalizeError } from './errors.ts';

test('a transaction the store could not order with concurrent ones is 503 ServerBusy with Retry-After, not 500', () => {
  const err = normalizeError(new StoreContention('conflicted 12 times', { cause: new Error('40001') }));
  assert.ok(err instanceof DomainError);
  assert.equal(err.category, 'unavailable');
  assert.equal(err.code, 'ServerBusy');
  assert.equal(err.retryAfterSeconds, 1);
});

test('other errors pass through unchanged', () => {
  const plain = new Error('boom');
  assert.equal(normalizeError(plain), plain);
});
