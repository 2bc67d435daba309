import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ResourceManagementClient } from '@azure/arm-resources';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { ClientSecretCredential } from '@azure/identity';
import { SignJWT, importPKCS8 } from 'jose';
import { credentialFor, newPrincipalCredential, startServer, type TestServer } from './harness.ts';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function call(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const armCode = (r: Reply) => (r.body.error as { code?: string } | undefined)?.code;

describe('bad input and bad credentials get the real error, never a 500', () => {
  let server: TestServer;
  let c: TestServer['connection'];
  let armToken: string;
  let subUrl: string;

  before(async () => {
    server = await startServer();
    c = server.connection;
    const cred = credentialFor(c);
    armToken = (await cred.getToken('https://management.azure.com/.default')).token;
    subUrl = `${c.armEndpoint}/subscriptions/${c.subscriptionId}`;
  });
  after(async () => {
    // The server must still be serving after every bad request above.
    const health = await fetch(`${c.armEndpoint}/health`);
    assert.equal(health.status, 200);
    await server.stop();
  });

  const arm = (path: string, init: RequestInit = {}, token?: string) =>
    call(`${subUrl}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${token ?? armToken}`,
        'content-type': 'application/json',
        ...(init.headers as Record<string, string> | undefined),
      },
    });

  test('wrong client secret → invalid_client (401) through @azure/identity', async () => {
    const cred = new ClientSecretCredential(c.tenantId, c.clientId, 'not-the-secret', {
      authorityHost: c.authorityHost,
      disableInstanceDiscovery: true,
    });
    await assert.rejects(
      cred.getToken('https://management.azure.com/.default'),
      /invalid_client|AADSTS7000215/,
    );
    const raw = await call(`${c.authorityHost}/${c.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: c.clientId,
        client_secret: 'nope',
        scope: 'https://management.azure.com/.default',
      }).toString(),
    });
    assert.equal(raw.status, 401);
    assert.equal(raw.body.error, 'invalid_client');
    assert.deepEqual(raw.body.error_codes, [7000215]);
  });

  test('unknown tenant → AADSTS90002', async () => {
    const raw = await call(`${c.authorityHost}/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: c.clientId,
        client_secret: c.clientSecret,
        scope: 'https://management.azure.com/.default',
      }).toString(),
    });
    assert.equal(raw.status, 400);
    assert.equal(raw.body.error, 'invalid_request');
    assert.deepEqual(raw.body.error_codes, [90002]);
  });

  test('expired token → 401 ExpiredAuthenticationToken', async () => {
    const key = await importPKCS8(
      readFileSync(join(server.dataDir, 'identity', 'signing-key.pem'), 'utf8'),
      'RS256',
    );
    const kid = (
      JSON.parse(Buffer.from(armToken.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }
    ).kid;
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({
      tid: c.tenantId,
      oid: '6c6f6361-6c00-4a7a-8000-0000000000b1',
      appid: c.clientId,
    })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(`${c.authorityHost}/${c.tenantId}/`)
      .setAudience('https://management.azure.com/')
      .setIssuedAt(now - 7200)
      .setNotBefore(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(key);
    const r = await arm('/resourcegroups?api-version=2021-04-01', {}, expired);
    assert.equal(r.status, 401);
    assert.equal(armCode(r), 'ExpiredAuthenticationToken');
  });

  test('token for the wrong audience → 401 InvalidAuthenticationTokenAudience', async () => {
    const cred = credentialFor(c);
    const batchToken = (await cred.getToken('https://batch.core.windows.net//.default')).token;
    const r = await arm('/resourcegroups?api-version=2021-04-01', {}, batchToken);
    assert.equal(r.status, 401);
    assert.equal(armCode(r), 'InvalidAuthenticationTokenAudience');
  });

  test('tampered signature → 401 InvalidAuthenticationToken', async () => {
    const [h, p, s = ''] = armToken.split('.');
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    const r = await arm('/resourcegroups?api-version=2021-04-01', {}, `${h ?? ''}.${p ?? ''}.${flipped}`);
    assert.equal(r.status, 401);
    assert.equal(armCode(r), 'InvalidAuthenticationToken');
  });

  test('no Authorization header → 401 on ARM and on Batch', async () => {
    const r = await call(`${subUrl}/resourcegroups?api-version=2021-04-01`);
    assert.equal(r.status, 401);
    assert.equal(armCode(r), 'AuthenticationFailed');
    const b = await call(`${c.batchUrl}/supportedimages?api-version=2022-10-01.16.0`);
    assert.equal(b.status, 401);
    assert.equal(b.body.code, 'AuthenticationFailed');
    assert.equal((b.body.message as { lang: string }).lang, 'en-US');
  });

  test('SharedKey with a wrong key → 403 AuthenticationFailed through @azure/batch', async () => {
    const wrong = Buffer.from('x'.repeat(64)).toString('base64');
    const client = new BatchServiceClient(
      new BatchSharedKeyCredentials(c.batchAccountName, wrong),
      new URL(c.batchUrl).origin,
    );
    await assert.rejects(
      client.account.listSupportedImages(),
      (e: { statusCode?: number; code?: string }) =>
        e.statusCode === 403 && e.code === 'AuthenticationFailed',
    );
  });

  test('SharedKey with a stale ocp-date → 403 AuthenticationFailed', async () => {
    const client = new BatchServiceClient(
      new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
      new URL(c.batchUrl).origin,
    );
    const stale = new Date(Date.now() - 20 * 60 * 1000);
    await assert.rejects(
      client.account.listSupportedImages({ accountListSupportedImagesOptions: { ocpDate: stale } }),
      (e: { statusCode?: number; code?: string; body?: { values?: { key: string; value: string }[] } }) =>
        e.statusCode === 403 &&
        e.code === 'AuthenticationFailed' &&
        JSON.stringify(e.body ?? {}).includes('15 minutes'),
    );
  });

  test('a principal with no role gets 403 AuthorizationFailed from ARM and is refused by the Batch data plane', async () => {
    const cred = await newPrincipalCredential(server, 'no-role');
    const client = new ResourceManagementClient(cred, c.subscriptionId, { endpoint: c.armEndpoint });
    await assert.rejects(
      client.resourceGroups.createOrUpdate('forbidden-rg', { location: 'westeurope' }),
      (e: { statusCode?: number; code?: string }) => e.statusCode === 403 && e.code === 'AuthorizationFailed',
    );
    const token = (await cred.getToken('https://batch.core.windows.net//.default')).token;
    const b = await call(`${c.batchUrl}/supportedimages?api-version=2022-10-01.16.0`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(b.status, 403);
    assert.equal(b.body.code, 'InsufficientAccountPermissions');
  });

  test('an api-version Batch never had → 400 UnsupportedRequestVersion; several condition headers → 400', async () => {
    const token = (await credentialFor(c).getToken('https://batch.core.windows.net//.default')).token;
    const auth = { authorization: `Bearer ${token}` };
    for (const version of ['2019-01-01.8.0', '1', 'latest']) {
      const b = await call(`${c.batchUrl}/pools?api-version=${version}`, { headers: auth });
      assert.equal(b.status, 400, version);
      assert.equal(b.body.code, 'UnsupportedRequestVersion', version);
    }
    assert.equal(
      (await call(`${c.batchUrl}/pools?api-version=2024-07-01.20.0`, { headers: auth })).status,
      200,
    );
    const client = new BatchServiceClient(
      new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
      new URL(c.batchUrl).origin,
    );
    await client.pool.add({
      id: 'conditional',
      vmSize: 'standard_a1_v2',
      virtualMachineConfiguration: {
        imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
        nodeAgentSKUId: 'batch.node.lazurite tiny',
      },
      targetDedicatedNodes: 0,
    });
    await assert.rejects(
      client.pool.get('conditional', { poolGetOptions: { ifMatch: '"a"', ifModifiedSince: new Date() } }),
      (e: { statusCode?: number; code?: string }) =>
        e.statusCode === 400 && e.code === 'MultipleConditionHeadersNotSupported',
    );
    await client.pool.deleteMethod('conditional');
  });

  test('ARM: no api-version → 400 MissingApiVersionParameter, a malformed one → 400 InvalidApiVersionParameter', async () => {
    const bare = await call(`${subUrl}/resourcegroups`, { headers: { authorization: `Bearer ${armToken}` } });
    assert.deepEqual([bare.status, armCode(bare)], [400, 'MissingApiVersionParameter']);
    const odd = await arm('/resourcegroups?api-version=latest');
    assert.deepEqual([odd.status, armCode(odd)], [400, 'InvalidApiVersionParameter']);
    assert.equal((await arm('/resourcegroups?api-version=2021-04-01')).status, 200);
  });

  test('ARM tags: more than 50, a name over 512 characters or with reserved characters, a value over 256 → 400', async () => {
    const put = (tags: Record<string, string>) =>
      arm('/resourcegroups/tagged?api-version=2021-04-01', {
        method: 'PUT',
        body: JSON.stringify({ location: 'westeurope', tags }),
      });
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`t${String(i)}`, 'v']));
    assert.deepEqual(armCode(await put(many)), 'InvalidTag');
    assert.deepEqual(armCode(await put({ ['n'.repeat(513)]: 'v' })), 'InvalidTagNameCharacters');
    assert.deepEqual(armCode(await put({ 'a/b': 'v' })), 'InvalidTagNameCharacters');
    assert.deepEqual(armCode(await put({ a: 'v'.repeat(257) })), 'InvalidTagValue');
    assert.equal(
      (await arm('/resourcegroups/tagged?api-version=2021-04-01')).status,
      404,
      'nothing was stored',
    );
    const fifty = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [`t${String(i)}`, 'v'.repeat(256)]),
    );
    assert.equal((await put({ ...fifty })).status, 201);
  });

  test('ARM conditional writes: If-Match and If-None-Match answer 412 PreconditionFailed, nothing written', async () => {
    const rg = (name: string, headers: Record<string, string>, tags: Record<string, string> = {}) =>
      arm(`/resourcegroups/${name}?api-version=2021-04-01`, {
        method: 'PUT',
        headers,
        body: JSON.stringify({ location: 'westeurope', tags }),
      });
    assert.equal((await rg('cond-rg', {})).status, 201);
    const exists = await rg('cond-rg', { 'if-none-match': '*' }, { changed: 'yes' });
    assert.deepEqual([exists.status, armCode(exists)], [412, 'PreconditionFailed']);
    const missing = await rg('cond-missing', { 'if-match': '*' });
    assert.deepEqual([missing.status, armCode(missing)], [412, 'PreconditionFailed']);
    const stale = await rg('cond-rg', { 'if-match': '"not-its-etag"' }, { changed: 'yes' });
    assert.deepEqual([stale.status, armCode(stale)], [412, 'PreconditionFailed']);
    const got = await arm('/resourcegroups/cond-rg?api-version=2021-04-01');
    assert.deepEqual(got.body.tags, {}, 'nothing was written');
    assert.equal((await arm('/resourcegroups/cond-missing?api-version=2021-04-01')).status, 404);
    assert.equal((await rg('cond-rg', { 'if-match': '*' }, { changed: 'yes' })).status, 200);
    // A resource with an ETag (network security groups carry one) matches its own.
    const nsgPath = `/resourceGroups/cond-rg/providers/Microsoft.Network/networkSecurityGroups/nsg1?api-version=2022-01-01`;
    const nsg = await arm(nsgPath, {
      method: 'PUT',
      body: JSON.stringify({ location: 'westeurope', properties: {} }),
    });
    const etag = String(nsg.body.etag);
    const same = await arm(nsgPath, {
      method: 'PUT',
      headers: { 'if-match': etag },
      body: JSON.stringify({ location: 'westeurope', properties: {} }),
    });
    assert.ok(same.status === 200 || same.status === 201, String(same.status));
  });

  test('unknown route → 501 NotImplemented in the surface envelope, not a bare 404', async () => {
    const r = await arm('/providers/Microsoft.Fake/widgets?api-version=2021-04-01');
    assert.equal(r.status, 501);
    assert.equal(armCode(r), 'NotImplemented');
    const client = new BatchServiceClient(
      new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
      new URL(c.batchUrl).origin,
    );
    await assert.rejects(
      client.certificate.list(),
      (e: { statusCode?: number; code?: string }) => e.statusCode === 501 && e.code === 'NotImplemented',
    );
  });

  test('a verb a known ARM path does not serve → 405 MethodNotAllowed in the ARM envelope, not 501', async () => {
    for (const method of ['POST', 'PROPFIND']) {
      const r = await arm(`/resourcegroups/${c.resourceGroup}?api-version=2021-04-01`, { method });
      assert.equal(r.status, 405, method);
      assert.equal(armCode(r), 'MethodNotAllowed');
    }
    const unknown = await arm('/providers/Microsoft.Fake/widgets?api-version=2021-04-01', {
      method: 'PROPFIND',
    });
    assert.equal(unknown.status, 501);
  });

  test('malformed JSON → 400 InvalidRequestContent', async () => {
    const r = await arm('/resourcegroups/bad-json?api-version=2021-04-01', {
      method: 'PUT',
      body: '{"location": "westeurope",',
    });
    assert.equal(r.status, 400);
    assert.equal(armCode(r), 'InvalidRequestContent');
  });

  test("JSON nested 50,000 levels deep → the surface's 400, not a stack overflow", async () => {
    const deep = (levels: number) => `${'{"a":'.repeat(levels)}"x"${'}'.repeat(levels)}`;
    for (const levels of [9_000, 50_000]) {
      const r = await arm('/resourcegroups/deep-tags?api-version=2021-04-01', {
        method: 'PUT',
        body: `{"location":"westeurope","tags":${deep(levels)}}`,
      });
      assert.equal(r.status, 400);
      assert.equal(armCode(r), 'InvalidRequestContent');
      assert.match((r.body.error as { message: string }).message, /MaxDepth of 64/);
    }
    // @azure/batch types metadata values as strings, so the deep pool body goes out raw with a Batch token.
    const batchToken = (await credentialFor(c).getToken('https://batch.core.windows.net//.default')).token;
    const b = await call(`${c.batchUrl}/pools?api-version=2024-02-01.19.0`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${batchToken}`,
        'content-type': 'application/json; odata=minimalmetadata',
      },
      body: `{"id":"deep","vmSize":"standard_a1_v2","metadata":[{"name":"m","value":${deep(20_000)}}]}`,
    });
    assert.equal(b.status, 400);
    assert.equal(b.body.code, 'InvalidRequestBody');
  });

  test('missing required property → 400 naming the field', async () => {
    const r = await arm('/resourcegroups/no-location?api-version=2021-04-01', {
      method: 'PUT',
      body: '{"tags":{}}',
    });
    assert.equal(r.status, 400);
    assert.equal(armCode(r), 'LocationRequired');
    assert.equal((r.body.error as { target?: string }).target, 'location');
    const ra = await arm(
      `/providers/Microsoft.Authorization/roleAssignments/5a2e4f9a-8f7b-4d2c-9e1f-3b4a5c6d7e8f?api-version=2022-04-01`,
      {
        method: 'PUT',
        body: JSON.stringify({
          properties: {
            roleDefinitionId: `/subscriptions/${c.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`,
          },
        }),
      },
    );
    assert.equal(ra.status, 400);
    assert.match(JSON.stringify(ra.body), /principalId/);
  });

  test('oversize body → 413, and nothing was created', async () => {
    const big = JSON.stringify({ location: 'westeurope', tags: { pad: 'x'.repeat(5 * 1024 * 1024) } });
    const r = await arm('/resourcegroups/too-big?api-version=2021-04-01', { method: 'PUT', body: big });
    assert.equal(r.status, 413);
    assert.equal(armCode(r), 'RequestBodyTooLarge');
    const g = await arm('/resourcegroups/too-big?api-version=2021-04-01');
    assert.equal(g.status, 404);
  });

  test('an addtaskcollection body over 1 MB → 413 RequestBodyTooLarge through @azure/batch, nothing added', async () => {
    const client = new BatchServiceClient(
      new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
      new URL(c.batchUrl).origin,
    );
    await client.job.add({ id: 'bigcollection', poolInfo: { poolId: 'nowhere' } });
    const tasks = Array.from({ length: 100 }, (_, i) => ({
      id: `t${String(i)}`,
      commandLine: `/bin/echo ${'x'.repeat(12 * 1024)}`,
    }));
    await assert.rejects(
      client.task.addCollection('bigcollection', tasks),
      (e: { statusCode?: number; code?: string }) => e.statusCode === 413 && e.code === 'RequestBodyTooLarge',
    );
    assert.equal((await client.task.list('bigcollection')).length, 0);
    const small = await client.task.addCollection(
      'bigcollection',
      tasks.slice(0, 10).map((t) => ({ ...t, commandLine: 'true' })),
    );
    assert.equal(small.value?.length, 10);
    await client.job.deleteMethod('bigcollection');
  });
});
