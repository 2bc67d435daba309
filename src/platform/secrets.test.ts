import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  constantTimeEqual,
  hashSecret,
  isLegacySecretHash,
  upgradeSecretHash,
  verifySecret,
} from './secrets.ts';

test('client secrets are stored as scrypt with a salt of their own and verify only with the right secret', async () => {
  const a = await hashSecret('s3cret');
  const b = await hashSecret('s3cret');
  assert.match(a, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
  assert.notEqual(a, b, 'each hash has its own salt');
  assert.equal(isLegacySecretHash(a), false);
  assert.equal(await verifySecret('s3cret', a, 'ignored'), true);
  assert.equal(await verifySecret('s3cret ', a, 'ignored'), false);
  assert.equal(await verifySecret('s3cret', 'scrypt$0$8$1$AAAA$AAAA', 'x'), false, 'malformed never matches');
  assert.equal(await verifySecret('s3cret', 'scrypt$16384$8$1', 'x'), false, 'truncated never matches');
});

test('a legacy sha256 row is wrapped in scrypt and still verifies with its secret and row salt', async () => {
  const legacy = createHash('sha256').update('row-salt:old-secret').digest('base64');
  assert.equal(isLegacySecretHash(legacy), true);
  assert.equal(await verifySecret('old-secret', legacy, 'row-salt'), true);
  const wrapped = await upgradeSecretHash(legacy);
  assert.match(wrapped, /^scrypt-sha256\$/);
  assert.equal(isLegacySecretHash(wrapped), false);
  assert.equal(await verifySecret('old-secret', wrapped, 'row-salt'), true);
  assert.equal(await verifySecret('old-secret', wrapped, 'other-salt'), false);
  assert.equal(await verifySecret('new-secret', wrapped, 'row-salt'), false);
  assert.equal(await verifySecret(legacy, wrapped, 'row-salt'), false, 'the old hash itself is no password');
});

test('constantTimeEqual', () => {
  assert.equal(constantTimeEqual('a', 'a'), true);
  assert.equal(constantTimeEqual('a', 'ab'), false);
});
