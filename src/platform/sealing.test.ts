import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keySealer, sealingKey } from './sealing.ts';

test('sealed values open only with the same key and purpose, and never show the plain text', () => {
  const key = randomBytes(32);
  const sealer = keySealer(key, 'batch-account-key');
  const sealed = sealer.seal('my-account-key==');
  assert.match(sealed, /^sealed:v1:/);
  assert.ok(!sealed.includes('my-account-key'));
  assert.notEqual(sealer.seal('my-account-key=='), sealed, 'a fresh IV each time');
  assert.equal(sealer.open(sealed), 'my-account-key==');
  assert.equal(sealer.open('plain-from-before'), 'plain-from-before');
  assert.equal(sealer.isSealed(sealed), true);
  assert.equal(sealer.isSealed('plain-from-before'), false);
  assert.throws(() => keySealer(randomBytes(32), 'batch-account-key').open(sealed), /does not open/);
  assert.throws(() => keySealer(key, 'other-purpose').open(sealed), /does not open/);
  const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  assert.throws(() => sealer.open(tampered), /does not open/);
  assert.throws(() => sealer.open('sealed:v1:only-one-part'), /malformed/);
});

test('the sealing key file is made once, 32 bytes, mode 0600', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'lzr-seal-')), 'identity', 'sealing.key');
  const first = sealingKey(path);
  assert.equal(first.length, 32);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(sealingKey(path), first);
});
