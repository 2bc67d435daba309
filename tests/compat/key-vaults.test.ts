import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchManagementClient } from '@azure/arm-batch';
import { WELL_KNOWN } from '../../src/domain/environment/well-known.ts';
import { BATCH_SERVICE_OBJECT_ID } from '../../src/domain/keyvault/vaults.ts';
import { credentialFor, startServer, type TestServer } from './harness.ts';
import { batchReadyVault, keyVaultClient } from './vaults.ts';

interface RestLike {
  statusCode?: number;
  code?: string;
  message?: string;
  details?: unknown;
}

/** Rejects with `status` and `code`, and (when given) a message matching `message`. */
async function refused(p: Promise<unknown>, status: number, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: RestLike) => {
    assert.equal(e.statusCode, status, JSON.stringify(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(JSON.stringify(e.details ?? e.message), message);
    return true;
  });
}

/**
 * Microsoft.KeyVault/vaults as ARM resources (access policies kept, no secret store) and the Batch accounts in
 * UserSubscription pool allocation mode that name one (issue 17 item 4), through the official ARM clients.
 */
describe('key vaults and UserSubscription Batch accounts', () => {
  let server: TestServer;
  let batch: BatchManagementClient;
  const rg = () => server.connection.resourceGroup;

  before(async () => {
    server = await startServer();
    const c = server.connection;
    batch = new BatchManagementClient(credentialFor(c), c.subscriptionId, { endpoint: c.armEndpoint });
  });
  after(async () => {
    await server.stop();
  });

  test('a vault is created, read, listed, its access policies changed and kept, then deleted', async () => {
    const kv = keyVaultClient(server);
    const c = server.connection;
    const created = await kv.vaults.createOrUpdate(rg(), 'kv-policies', {
      location: c.location,
      properties: {
        tenantId: c.tenantId,
        sku: { family: 'A', name: 'standard' },
        enabledForDeployment: true,
        accessPolicies: [
          { tenantId: c.tenantId, objectId: WELL_KNOWN.principalObjectId, permissions: { secrets: ['get'] } },
        ],
      },
    });
    assert.equal(created.properties.vaultUri, `https://kv-policies.vault.${new URL(c.armEndpoint).host}/`);
    assert.equal(created.properties.enabledForDeployment, true);
    await kv.vaults.updateAccessPolicy(rg(), 'kv-policies', 'add', {
      properties: {
        accessPolicies: [
          {
            tenantId: c.tenantId,
            objectId: WELL_KNOWN.principalObjectId,
            permissions: { secrets: ['list'] },
          },
          { tenantId: c.tenantId, objectId: BATCH_SERVICE_OBJECT_ID, permissions: { secrets: ['get'] } },
        ],
      },
    });
    await kv.vaults.updateAccessPolicy(rg(), 'kv-policies', 'remove', {
      properties: {
        accessPolicies: [
          { tenantId: c.tenantId, objectId: BATCH_SERVICE_OBJECT_ID, permissions: { secrets: ['get'] } },
        ],
      },
    });
    const got = await kv.vaults.get(rg(), 'kv-policies');
    assert.deepEqual(
      got.properties.accessPolicies?.map((p) => [p.objectId, p.permissions.secrets]),
      [[WELL_KNOWN.principalObjectId, ['get', 'list']]],
    );
    const names: string[] = [];
    for await (const v of kv.vaults.listByResourceGroup(rg())) names.push(v.name ?? '');
    assert.ok(names.includes('kv-policies'));
    await refused(
      kv.vaults.createOrUpdate(rg(), '1-bad--name', {
        location: c.location,
        properties: { tenantId: c.tenantId, sku: { family: 'A', name: 'standard' } },
      }),
      400,
      'VaultNameNotValid',
    );
    await kv.vaults.delete(rg(), 'kv-policies');
    await refused(kv.vaults.get(rg(), 'kv-policies'), 404, 'ResourceNotFound');
  });

  test('a UserSubscription account needs an existing vault that grants the Batch service', async () => {
    const c = server.connection;
    const kv = keyVaultClient(server);
    const id = (name: string) =>
      `/subscriptions/${c.subscriptionId}/resourceGroups/${rg()}/providers/Microsoft.KeyVault/vaults/${name}`;
    const account = (name: string, vault: string, url = `https://${vault}.vault.azure.net/`) =>
      batch.batchAccountOperations.beginCreateAndWait(rg(), name, {
        location: c.location,
        poolAllocationMode: 'UserSubscription',
        keyVaultReference: { id: id(vault), url },
      });
    await refused(account('usersub1', 'kv-missing'), 400, 'InvalidKeyVaultReference', /does not exist/);
    await kv.vaults.createOrUpdate(rg(), 'kv-nobatch', {
      location: c.location,
      properties: { tenantId: c.tenantId, sku: { family: 'A', name: 'standard' }, accessPolicies: [] },
    });
    await refused(
      account('usersub1', 'kv-nobatch'),
      400,
      'InvalidKeyVaultReference',
      /Batch Service in access policies/,
    );
    const ready = await batchReadyVault(server, 'kv-batch');
    await refused(
      account('usersub1', 'kv-batch', 'https://elsewhere.vault.azure.net/'),
      400,
      'InvalidKeyVaultReference',
    );
    await account('usersub1', 'kv-batch', ready.properties.vaultUri);
    const got = await batch.batchAccountOperations.get(rg(), 'usersub1');
    assert.equal(got.poolAllocationMode, 'UserSubscription');
    assert.deepEqual(got.keyVaultReference, { id: ready.id, url: ready.properties.vaultUri });
    assert.equal(got.dedicatedCoreQuota, undefined);
    assert.equal(got.lowPriorityCoreQuota, undefined);
    await batch.batchAccountOperations.beginDeleteAndWait(rg(), 'usersub1');
  });
});
