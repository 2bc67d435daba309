import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureTlsMaterial } from './tls.ts';

test('creates a CA and a server certificate for loopback names, and reuses them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lzr-tls-'));
  const now = new Date();
  const first = ensureTlsMaterial(dir, undefined, now);
  const ca = new X509Certificate(first.caCertPem);
  const server = new X509Certificate(first.certPem);
  assert.equal(ca.ca, true);
  assert.equal(server.checkIssued(ca), true);
  assert.equal(server.verify(ca.publicKey), true);
  assert.match(server.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.match(server.subjectAltName ?? '', /DNS:localhost/);
  assert.equal(server.checkIP('::1'), '::1');
  const second = ensureTlsMaterial(dir, undefined, now);
  assert.equal(second.certPem, first.certPem);
  assert.equal(readFileSync(second.caCertPath, 'utf8'), first.caCertPem);
});

test('re-issues the server certificate when a new host name is configured', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lzr-tls-'));
  const first = ensureTlsMaterial(dir, undefined, new Date());
  const second = ensureTlsMaterial(dir, 'lazurite.test', new Date());
  assert.notEqual(second.certPem, first.certPem);
  assert.equal(second.caCertPem, first.caCertPem);
  assert.match(new X509Certificate(second.certPem).subjectAltName ?? '', /DNS:lazurite\.test/);
});
