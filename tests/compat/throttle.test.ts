import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { credentialFor, startServer, type TestServer } from './harness.ts';

/**
 * Failed authentications are throttled per client address and identity (issue 20, item 8): after a burst of
 * failures (5 here) the server answers the surface's 429 with Retry-After, at once, instead of checking yet
 * another guess; other identities are not slowed, and nothing a correct client does is ever counted.
 */
describe('failed authentications are throttled (429 with Retry-After)', () => {
  let server: TestServer;
  let c: TestServer['connection'];
  const burst = '5';

  before(async () => {
    const saved = process.env.LAZURITE_AUTH_FAILURE_BURST;
    process.env.LAZURITE_AUTH_FAILURE_BURST = burst;
    try {
      server = await startServer();
    } finally {
      if (saved === undefined) delete process.env.LAZURITE_AUTH_FAILURE_BURST;
      else process.env.LAZURITE_AUTH_FAILURE_BURST = saved;
    }
    c = server.connection;
  });
  after(async () => {
    await server.stop();
  });

  test('token endpoint: wrong secrets get invalid_client, then AADSTS50196-style 429; other clients are served', async () => {
    const tokenUrl = `${c.authorityHost}/${c.tenantId}/oauth2/v2.0/token`;
    const guess = (secret: string) =>
      fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: c.clientId,
          client_secret: secret,
          scope: 'https://management.azure.com/.default',
        }),
      });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 20; i++) {
      last = await guess(`wrong-${String(i)}`);
      statuses.push(last.status);
      if (last.status === 429) break;
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
    assert.ok(Number(last?.headers.get('retry-after')) >= 1);
    const body = (await last?.json()) as { error: string; error_codes: number[] };
    assert.equal(body.error, 'temporarily_unavailable');
    assert.deepEqual(body.error_codes, [50196]);
    // Even the right secret waits out the Retry-After (the guesses came from this address for this client) ...
    assert.equal((await guess(c.clientSecret)).status, 429);
    // ... while another client from the same address is served at once.
    const other = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: '11111111-2222-4333-8444-555555555555',
        client_secret: 'x',
        scope: 'https://management.azure.com/.default',
      }),
    });
    assert.equal(other.status, 400, 'an unknown client is told so, not throttled');
  });

  test('Batch SharedKey: bad signatures get AuthenticationFailed, then 429 TooManyRequests in the Batch envelope', async () => {
    const badKey = Buffer.from('not-the-account-key').toString('base64');
    const client = new BatchServiceClient(
      new BatchSharedKeyCredentials(c.batchAccountName, badKey),
      new URL(c.batchUrl).origin,
      { noRetryPolicy: true },
    );
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      try {
        await client.pool.list();
        codes.push('ok');
      } catch (err) {
        const e = err as {
          statusCode?: number;
          code?: string;
          response?: { headers: { get(n: string): string | undefined } };
        };
        codes.push(`${String(e.statusCode)} ${String(e.code)}`);
        if (e.statusCode === 429) assert.ok(Number(e.response?.headers.get('retry-after')) >= 1);
      }
    }
    assert.deepEqual(codes, [...Array<string>(5).fill('403 AuthenticationFailed'), '429 TooManyRequests']);
    // An Entra ID caller of the same account, from the same address, is another identity: served.
    const token = await credentialFor(c).getToken('https://batch.core.windows.net//.default');
    const res = await fetch(`${c.batchUrl}/pools?api-version=2024-07-01.20.0`, {
      headers: { authorization: `Bearer ${token.token}` },
    });
    assert.equal(res.status, 200);
  });
});
