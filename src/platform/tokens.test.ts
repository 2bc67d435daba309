import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPKCS8, SignJWT } from 'jose';
import { test } from 'node:test';
import { ManualClock } from './clock.ts';
import { TokenRejected, TokenSigner } from './tokens.ts';

const claims = {
  aud: 'https://management.azure.com/',
  iss: 'https://127.0.0.1:1/t1/',
  tid: 't1',
  oid: 'o1',
  appid: 'a1',
  sub: 'o1',
  ver: '1.0' as const,
};
const issuerOk = (iss: string, tid: string) => iss === `https://127.0.0.1:1/${tid}/`;

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TokenRejected);
    return err.reason;
  }
  return 'accepted';
}

test('issues tokens that verify, and rejects expiry, audience, issuer and tampering', async () => {
  const clock = new ManualClock('2026-05-01T00:00:00Z');
  const signer = await TokenSigner.open(undefined, clock);
  const { token } = await signer.issue(claims, 3600);
  const ok = await signer.verify(token, ['https://management.azure.com'], issuerOk);
  assert.equal(ok.oid, 'o1');
  assert.equal(
    await rejection(signer.verify(token, ['https://batch.core.windows.net/'], issuerOk)),
    'audience',
  );
  assert.equal(await rejection(signer.verify(token, [claims.aud], () => false)), 'issuer');
  const [h, p, s] = token.split('.');
  const tampered = `${h}.${p}.${(s ?? '').slice(0, -4)}AAAA`;
  assert.equal(await rejection(signer.verify(tampered, [claims.aud], issuerOk)), 'signature');
  const other = await TokenSigner.open(undefined, clock);
  const foreign = (await other.issue(claims, 3600)).token;
  assert.equal(await rejection(signer.verify(foreign, [claims.aud], issuerOk)), 'signature');
  assert.equal(await rejection(signer.verify('not.a.jwt', [claims.aud], issuerOk)), 'malformed');
  clock.advance(3600_000 + 61_000);
  assert.equal(await rejection(signer.verify(token, [claims.aud], issuerOk)), 'expired');
});

test('refuses tokens signed with the right key but without exp, nbf or iat, or with a lifetime Entra ID never issues', async () => {
  const clock = new ManualClock('2026-05-01T00:00:00Z');
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-tokens-'));
  try {
    const keyPath = join(dir, 'signing.pem');
    const signer = await TokenSigner.open(keyPath, clock);
    const key = await importPKCS8(readFileSync(keyPath, 'utf8'), 'RS256');
    const now = Math.floor(clock.now().getTime() / 1000);
    const sign = (times: { iat?: number; nbf?: number; exp?: number }) =>
      new SignJWT({ tid: claims.tid, oid: claims.oid, appid: claims.appid, ...times })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer(claims.iss)
        .setAudience(claims.aud)
        .sign(key);
    const verify = async (times: { iat?: number; nbf?: number; exp?: number }) =>
      rejection(signer.verify(await sign(times), [claims.aud], issuerOk));
    assert.equal(await verify({ iat: now, nbf: now, exp: now + 3600 }), 'accepted');
    assert.equal(await verify({ iat: now, nbf: now }), 'malformed');
    assert.equal(await verify({ iat: now, exp: now + 3600 }), 'malformed');
    assert.equal(await verify({ nbf: now, exp: now + 3600 }), 'malformed');
    assert.equal(await verify({ iat: now, nbf: now, exp: now + 30 * 24 * 3600 }), 'malformed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
