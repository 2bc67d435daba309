import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { BatchManagementClient } from '@azure/arm-batch';
import { ResourceManagementClient } from '@azure/arm-resources';
import { BatchServiceClient, BatchSharedKeyCredentials, type BatchServiceModels } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { WELL_KNOWN } from '../../src/domain/environment/well-known.ts';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.ts';
import { openStateStore } from '../../src/app/main.ts';
import { batchReadyVault } from './vaults.ts';
import { credentialFor, startServer, type TestServer } from './harness.ts';

type RestLike = { statusCode?: number; code?: string };

const OWNER = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635';
const READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';

describe('foundation through the official Azure clients', () => {
  let server: TestServer;
  let credential: ReturnType<typeof credentialFor>;
  let c: TestServer['connection'];

  before(async () => {
    server = await startServer();
    c = server.connection;
    credential = credentialFor(c);
  });
  after(async () => {
    await server.stop();
  });

  test('the data dir is 0700 and connection.json (client secret, account key) 0600', () => {
    assert.equal(statSync(server.dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(server.dataDir, 'connection.json')).mode & 0o777, 0o600);
  });

  test('the database never holds a Batch account key in plain text', () => {
    const state = join(server.dataDir, 'state');
    const bytes = readdirSync(state).map((f) => readFileSync(join(state, f)).toString('latin1'));
    assert.ok(bytes.length > 0);
    for (const key of [c.batchAccountKey, WELL_KNOWN.batchAccountSecondaryKey])
      assert.ok(!bytes.some((b) => b.includes(key)), 'account key found in the database files');
  });

  test('@azure/identity gets tokens for ARM and Batch', async () => {
    const arm = await credential.getToken('https://management.azure.com/.default');
    const batch = await credential.getToken('https://batch.core.windows.net//.default');
    const claims = JSON.parse(Buffer.from(arm.token.split('.')[1] ?? '', 'base64url').toString()) as Record<
      string,
      unknown
    >;
    assert.equal(claims.aud, 'https://management.azure.com/');
    assert.equal(claims.tid, c.tenantId);
    assert.equal(claims.appid, c.clientId);
    assert.ok(typeof claims.oid === 'string' && typeof claims.exp === 'number');
    assert.notEqual(batch.token, arm.token);
    assert.ok(arm.expiresOnTimestamp > Date.now());
  });

  test('@azure/arm-resources: resource group create, get, list, delete; provider register', async () => {
    const client = new ResourceManagementClient(credential, c.subscriptionId, { endpoint: c.armEndpoint });
    const created = await client.resourceGroups.createOrUpdate('compat-rg', {
      location: 'West Europe',
      tags: { team: 'lazurite' },
    });
    assert.equal(created.name, 'compat-rg');
    assert.equal(created.location, 'westeurope');
    assert.equal(created.properties?.provisioningState, 'Succeeded');
    const got = await client.resourceGroups.get('COMPAT-RG');
    assert.deepEqual(got.tags, { team: 'lazurite' });
    assert.equal((await client.resourceGroups.checkExistence('compat-rg')).body, true);
    const names: string[] = [];
    for await (const g of client.resourceGroups.list()) names.push(g.name ?? '');
    assert.ok(names.includes('compat-rg') && names.includes(c.resourceGroup));
    const provider = await client.providers.register('Microsoft.Batch');
    assert.equal(provider.registrationState, 'Registered');
    assert.ok(provider.resourceTypes?.some((t) => t.resourceType === 'batchAccounts'));
    await client.resourceGroups.beginDeleteAndWait('compat-rg');
    assert.equal((await client.resourceGroups.checkExistence('compat-rg')).body, false);
    await assert.rejects(
      client.resourceGroups.get('compat-rg'),
      (e: { statusCode?: number; code?: string }) =>
        e.statusCode === 404 && e.code === 'ResourceGroupNotFound',
    );
  });

  test('@azure/arm-authorization: role assignment create, get, list, delete', async () => {
    const client = new AuthorizationManagementClient(credential, c.subscriptionId, {
      endpoint: c.armEndpoint,
    });
    const scope = `/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroup}`;
    const name = randomUUID();
    const reader = await client.roleDefinitions.get(scope, READER);
    assert.equal(reader.roleName, 'Reader');
    const principalId = '6c6f6361-6c00-4a7a-8000-0000000000b1';
    const created = await client.roleAssignments.create(scope, name, {
      roleDefinitionId: `/subscriptions/${c.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
      principalId,
      principalType: 'ServicePrincipal',
    });
    assert.equal(created.name, name);
    assert.equal(created.scope, scope);
    const got = await client.roleAssignments.get(scope, name);
    assert.equal(got.principalId, principalId);
    const atScope: string[] = [];
    for await (const a of client.roleAssignments.listForScope(scope)) atScope.push(a.roleDefinitionId ?? '');
    assert.ok(atScope.some((id) => id.endsWith(READER)));
    assert.ok(
      atScope.some((id) => id.endsWith(OWNER)),
      'the subscription-level Owner assignment is inherited',
    );
    const deleted = await client.roleAssignments.delete(scope, name);
    assert.equal(deleted.name, name);
    await assert.rejects(
      client.roleAssignments.get(scope, name),
      (e: { statusCode?: number }) => e.statusCode === 404,
    );
  });

  test('@azure/arm-batch: account create (polled), get, listKeys, regenerate, delete', async () => {
    const client = new BatchManagementClient(credential, c.subscriptionId, { endpoint: c.armEndpoint });
    const account = await client.batchAccountOperations.beginCreateAndWait(c.resourceGroup, 'compatacct', {
      location: c.location,
      poolAllocationMode: 'BatchService',
    });
    assert.equal(account.provisioningState, 'Succeeded');
    const host = new URL(c.armEndpoint).host;
    assert.equal(account.accountEndpoint, `${host}/batch/compatacct`);
    const got = await client.batchAccountOperations.get(c.resourceGroup, 'compatacct');
    assert.equal(got.poolAllocationMode, 'BatchService');
    const keys = await client.batchAccountOperations.getKeys(c.resourceGroup, 'compatacct');
    assert.equal(Buffer.from(keys.primary ?? '', 'base64').length, 64);
    const regenerated = await client.batchAccountOperations.regenerateKey(c.resourceGroup, 'compatacct', {
      keyName: 'Secondary',
    });
    assert.equal(regenerated.primary, keys.primary);
    assert.notEqual(regenerated.secondary, keys.secondary);
    const listed: string[] = [];
    for await (const a of client.batchAccountOperations.listByResourceGroup(c.resourceGroup))
      listed.push(a.name ?? '');
    assert.deepEqual(listed.sort(), ['compatacct', c.batchAccountName].sort());
    await client.batchAccountOperations.beginDeleteAndWait(c.resourceGroup, 'compatacct');
    await assert.rejects(
      client.batchAccountOperations.get(c.resourceGroup, 'compatacct'),
      (e: { statusCode?: number }) => e.statusCode === 404,
    );
  });

  test('UserSubscription accounts: listKeys and SharedKey are refused (clients must use Microsoft Entra ID)', async () => {
    const client = new BatchManagementClient(credential, c.subscriptionId, { endpoint: c.armEndpoint });
    const vault = await batchReadyVault(server, 'kv1');
    await client.batchAccountOperations.beginCreateAndWait(c.resourceGroup, 'usersubacct', {
      location: c.location,
      poolAllocationMode: 'UserSubscription',
      keyVaultReference: { id: vault.id ?? '', url: vault.properties.vaultUri ?? '' },
    });
    await assert.rejects(
      client.batchAccountOperations.getKeys(c.resourceGroup, 'usersubacct'),
      (e: RestLike) => {
        assert.equal(e.statusCode, 409);
        assert.equal(e.code, 'OperationNotAllowed');
        return true;
      },
    );
    // The account does have keys inside the store: signing with the real one must still be refused.
    const store = await openStateStore(loadConfig({ dataDir: server.dataDir }, {}));
    const key = (await store.transaction((tx) => tx.findBatchAccountByName('usersubacct')))?.primaryKey ?? '';
    await store.close();
    assert.ok(key.length > 0);
    const batch = new BatchServiceClient(new BatchSharedKeyCredentials('usersubacct', key), jsBatchUrl());
    await assert.rejects(batch.pool.list(), (e: RestLike) => {
      assert.equal(e.statusCode, 403);
      assert.equal(e.code, 'AuthenticationFailed');
      return true;
    });
    await client.batchAccountOperations.beginDeleteAndWait(c.resourceGroup, 'usersubacct');
  });

  // @azure/batch 10.2.0 drops the operation path when batchUrl has one (ms-rest-js URLBuilder), so the JS client
  // is given the server origin; the account comes from the SharedKey header (ADR 0006).
  const jsBatchUrl = () => new URL(c.batchUrl).origin;

  test('@azure/batch lists supported images with SharedKey', async () => {
    const client = new BatchServiceClient(
      new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
      jsBatchUrl(),
    );
    const images = await client.account.listSupportedImages();
    assert.ok(images.length > 5);
    const ubuntu = images.find((i) => i.nodeAgentSKUId === 'batch.node.ubuntu 22.04');
    assert.ok(ubuntu);
    assert.equal(ubuntu.osType, 'linux');
    assert.equal(ubuntu.imageReference.publisher, 'canonical');
    const windows = await client.account.listSupportedImages({
      accountListSupportedImagesOptions: { filter: "osType eq 'windows'" },
    });
    assert.ok(windows.length > 0 && windows.every((i) => i.osType === 'windows'));
    const counts = await client.account.listPoolNodeCounts();
    assert.equal(counts.length, 0);
  });

  test('@azure/batch lists supported images with an Entra ID token, paging through odata.nextLink', async () => {
    const token = await credential.getToken('https://batch.core.windows.net//.default');
    const client = new BatchServiceClient(new TokenCredentials(token.token), jsBatchUrl());
    const first = await client.account.listSupportedImages({
      accountListSupportedImagesOptions: { maxResults: 4 },
    });
    assert.equal(first.length, 4);
    assert.ok(first.odatanextLink);
    const all = [...first];
    let next: string | undefined = first.odatanextLink;
    while (next) {
      const page: BatchServiceModels.AccountListSupportedImagesResponse =
        await client.account.listSupportedImagesNext(next);
      all.push(...page);
      next = page.odatanextLink;
    }
    const everything = await client.account.listSupportedImages();
    assert.deepEqual(
      all.map((i) => `${i.imageReference.offer ?? ''}/${i.imageReference.sku ?? ''}`),
      everything.map((i) => `${i.imageReference.offer ?? ''}/${i.imageReference.sku ?? ''}`),
    );
  });
});
