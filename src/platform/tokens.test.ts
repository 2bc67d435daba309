import assert from 'node:assert/strict';
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
