import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

test('re-issues the server certificate when the CA was made anew (its files were gone)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lzr-tls-'));
  const first = ensureTlsMaterial(dir, undefined, new Date());
  rmSync(join(dir, 'ca.pem'));
  rmSync(join(dir, 'ca-key.pem'));
  const second = ensureTlsMaterial(dir, undefined, new Date());
  assert.notEqual(second.caCertPem, first.caCertPem);
  const server = new X509Certificate(second.certPem);
  assert.equal(server.checkIssued(new X509Certificate(second.caCertPem)), true, 'signed by the new CA');
  assert.equal(server.verify(new X509Certificate(second.caCertPem).publicKey), true);
});

test('re-issues the server certificate when its key file no longer matches it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lzr-tls-'));
  const first = ensureTlsMaterial(dir, undefined, new Date());
  const other = mkdtempSync(join(tmpdir(), 'lzr-tls-'));
  writeFileSync(join(dir, 'server-key.pem'), ensureTlsMaterial(other, undefined, new Date()).keyPem);
  const second = ensureTlsMaterial(dir, undefined, new Date());
  assert.notEqual(second.certPem, first.certPem);
  assert.equal(new X509Certificate(second.certPem).checkPrivateKey(createPrivateKey(second.keyPem)), true);
});
