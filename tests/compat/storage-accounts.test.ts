import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { knowStorageAccount, startAzuriteBlob, type AzuriteBlob } from './azurite.ts';
import { azSession, type AzSession } from './az.ts';
import { BATCH_SERVICE_OBJECT_ID } from '../../src/domain/keyvault/vaults.ts';
import { startServer, type TestServer } from './harness.ts';

/**
 * Microsoft.Storage/storageAccounts (issue 17 item 5) through the az CLI: each account is backed by a blob
 * endpoint the server knows (LAZURITE_STORAGE_ACCOUNTS, here Azurite), whose key `keys list` returns; and
 * Microsoft.KeyVault/vaults through `az keyvault`.
 */
describe('storage accounts through ARM (az storage account)', () => {
  let server: TestServer;
  let blob: AzuriteBlob;
  let az: AzSession;
  let forgetStorageAccount: () => void = () => undefined;

  before(async () => {
    blob = await startAzuriteBlob();
    forgetStorageAccount = knowStorageAccount(blob);
    server = await startServer();
    az = await azSession(server);
  });
  after(async () => {
    forgetStorageAccount();
    az.close();
    await server.stop();
    await blob.stop();
  });

  test('create (LRO), show, list by group and subscription, keys list, delete', () => {
    const rg = ['-g', server.connection.resourceGroup];
    const created = az.json([
      'storage',
      'account',
      'create',
      ...rg,
      '-n',
      blob.accountName,
      '--sku',
      'Standard_LRS',
      '--kind',
      'StorageV2',
    ]) as {
      name: string;
      provisioningState: string;
      primaryEndpoints: { blob: string };
      sku: { name: string };
      kind: string;
    };
    assert.deepEqual(
      [created.name, created.provisioningState, created.sku.name, created.kind],
      [blob.accountName, 'Succeeded', 'Standard_LRS', 'StorageV2'],
    );
    assert.equal(created.primaryEndpoints.blob, `${blob.blobEndpoint}/`);
    const shown = az.json(['storage', 'account', 'show', ...rg, '-n', blob.accountName]) as { id: string };
    assert.match(shown.id, /\/providers\/Microsoft\.Storage\/storageAccounts\/devstoreaccount1$/);
    assert.deepEqual(az.json(['storage', 'account', 'list', ...rg, '--query', '[].name']), [
      blob.accountName,
    ]);
    assert.deepEqual(az.json(['storage', 'account', 'list', '--query', '[].name']), [blob.accountName]);
    const keys = az.json(['storage', 'account', 'keys', 'list', ...rg, '-n', blob.accountName]) as {
      keyName: string;
      value: string;
    }[];
    assert.deepEqual(
      keys.map((k) => [k.keyName, k.value]),
      [['key1', blob.accountKey]],
    );
    assert.equal(az.run(['storage', 'account', 'delete', ...rg, '-n', blob.accountName, '--yes']).status, 0);
    assert.deepEqual(az.json(['storage', 'account', 'list', '--query', '[].name']), []);
  });

  test('bad input is refused with the storage RP codes, naming the field', () => {
    const rg = ['-g', server.connection.resourceGroup];
    const bad = az.run(['storage', 'account', 'create', ...rg, '-n', 'Not_Valid', '--sku', 'Standard_LRS']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /AccountNameInvalid/);
    const unknown = az.run([
      'storage',
      'account',
      'create',
      ...rg,
      '-n',
      'nobackinghere',
      '--sku',
      'Standard_LRS',
    ]);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /StorageAccountNotConfigured/);
  });

  test('az keyvault create, set-policy for the Batch service, show, delete', () => {
    const rg = ['-g', server.connection.resourceGroup];
    const created = az.json(['keyvault', 'create', ...rg, '-n', 'az-vault', '--no-self-perms']) as {
      name: string;
      properties: { vaultUri: string; accessPolicies: unknown[] };
    };
    assert.equal(created.name, 'az-vault');
    assert.match(created.properties.vaultUri, /^https:\/\/az-vault\.vault\./);
    assert.deepEqual(created.properties.accessPolicies, []);
    const policy = az.run([
      'keyvault',
      'set-policy',
      ...rg,
      '-n',
      'az-vault',
      '--object-id',
      BATCH_SERVICE_OBJECT_ID,
      '--secret-permissions',
      'get',
      'list',
      'set',
      'delete',
    ]);
    assert.equal(policy.status, 0, policy.stderr);
    const shown = az.json(['keyvault', 'show', ...rg, '-n', 'az-vault']) as {
      properties: { accessPolicies: { objectId: string; permissions: { secrets: string[] } }[] };
    };
    assert.deepEqual(
      shown.properties.accessPolicies.map((p) => [p.objectId, [...p.permissions.secrets].sort()]),
      [[BATCH_SERVICE_OBJECT_ID, ['delete', 'get', 'list', 'set']]],
    );
    assert.equal(az.run(['keyvault', 'delete', ...rg, '-n', 'az-vault']).status, 0);
    assert.deepEqual(az.json(['keyvault', 'list', ...rg, '--query', '[].name']), []);
  });
});
