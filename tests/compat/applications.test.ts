import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchManagementClient } from '@azure/arm-batch';
import type { BatchServiceClient } from '@azure/batch';
import { BlockBlobClient } from '@azure/storage-blob';
import { knowStorageAccount, startAzuriteBlob, type AzuriteBlob } from './azurite.ts';
import { credentialFor, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch } from './pool-image.ts';

/** The code of a failed SDK call (ARM's `error.code`, Batch's `code`). */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: string; statusCode?: number };
    return `${String(err.statusCode)} ${err.code ?? ''}`;
  }
  return 'no error';
}

/**
 * Application packages (issue 16 item 3, ADR 0040) through the official clients: `@azure/arm-batch` creates the
 * application and a version, `@azure/storage-blob` uploads the zip to the version's storageUrl in the account's
 * auto-storage (Azurite), `activate` makes it Active, and `@azure/batch` lists it on the data plane.
 */
describe('application packages', () => {
  let server: TestServer;
  let blob: AzuriteBlob;
  let arm: BatchManagementClient;
  let batch: BatchServiceClient;
  let rg = '';
  let account = '';
  let forgetStorageAccount: () => void = () => undefined;

  before(async () => {
    blob = await startAzuriteBlob();
    forgetStorageAccount = knowStorageAccount(blob);
    server = await startServer(['--node-backend', 'simulated']);
    const c = server.connection;
    arm = new BatchManagementClient(credentialFor(c), c.subscriptionId, { endpoint: c.armEndpoint });
    batch = sharedKeyBatch(server);
    rg = c.resourceGroup;
    account = c.batchAccountName;
  });
  after(async () => {
    forgetStorageAccount();
    await server.stop();
    await blob.stop();
  });

  test('without auto-storage a version is refused with AutoStorageNotConfigured', async () => {
    await arm.applicationOperations.create(rg, account, 'early');
    assert.equal(
      await codeOf(arm.applicationPackageOperations.create(rg, account, 'early', '1.0')),
      '409 AutoStorageNotConfigured',
    );
    await arm.applicationOperations.delete(rg, account, 'early');
  });

  test('create, upload to storageUrl, activate, list on both planes', async () => {
    const c = server.connection;
    const storageAccountId = `/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Storage/storageAccounts/${blob.accountName}`;
    await arm.batchAccountOperations.update(rg, account, { autoStorage: { storageAccountId } });
    const app = await arm.applicationOperations.create(rg, account, 'blender', {
      parameters: { displayName: 'Blender', allowUpdates: true },
    });
    assert.deepEqual([app.name, app.displayName, app.allowUpdates], ['blender', 'Blender', true]);

    const pending = await arm.applicationPackageOperations.create(rg, account, 'blender', '2.80');
    assert.equal(pending.state, 'Pending');
    assert.ok(pending.storageUrl?.startsWith(blob.blobEndpoint), pending.storageUrl);
    assert.ok(pending.storageUrlExpiry instanceof Date);
    assert.equal(
      await codeOf(
        arm.applicationPackageOperations.activate(rg, account, 'blender', '2.80', { format: 'zip' }),
      ),
      '409 ApplicationPackageBlobNotFound',
      'nothing uploaded yet',
    );
    assert.deepEqual(
      (await batch.application.list()).map((a) => a.id),
      [],
      'no active version yet',
    );

    const bytes = Buffer.from('PK\u0005\u0006'.padEnd(22, '\0'), 'latin1');
    await new BlockBlobClient(pending.storageUrl ?? '').upload(bytes, bytes.length);
    const active = await arm.applicationPackageOperations.activate(rg, account, 'blender', '2.80', {
      format: 'zip',
    });
    assert.deepEqual([active.state, active.format], ['Active', 'zip']);
    assert.ok(active.lastActivationTime instanceof Date);

    await arm.applicationPackageOperations.create(rg, account, 'blender', '2.81');
    const versions = [];
    for await (const v of arm.applicationPackageOperations.list(rg, account, 'blender')) versions.push(v);
    assert.deepEqual(
      versions.map((v) => [v.name, v.state]),
      [
        ['2.80', 'Active'],
        ['2.81', 'Pending'],
      ],
    );

    const updated = await arm.applicationOperations.update(rg, account, 'blender', {
      defaultVersion: '2.80',
    });
    assert.equal(updated.defaultVersion, '2.80');
    const apps = [];
    for await (const a of arm.applicationOperations.list(rg, account)) apps.push(a.name);
    assert.deepEqual(apps, ['blender']);

    const listed = await batch.application.list();
    assert.deepEqual(
      listed.map((a) => ({ id: a.id, displayName: a.displayName, versions: a.versions })),
      [{ id: 'blender', displayName: 'Blender', versions: ['2.80'] }],
      'only active versions',
    );
    const one = await batch.application.get('blender');
    assert.deepEqual(one.versions, ['2.80']);
  });

  test('bad input: unknown application or version, defaultVersion naming no package, bad format', async () => {
    assert.equal(await codeOf(batch.application.get('nothing')), '404 ApplicationNotFound');
    assert.equal(
      await codeOf(arm.applicationOperations.get(rg, account, 'nothing')),
      '404 ApplicationNotFound',
    );
    assert.equal(
      await codeOf(arm.applicationPackageOperations.get(rg, account, 'blender', '9.9')),
      '404 ApplicationPackageNotFound',
    );
    assert.equal(
      await codeOf(arm.applicationOperations.update(rg, account, 'blender', { defaultVersion: '9.9' })),
      '400 InvalidDefaultVersion',
    );
    assert.equal(
      await codeOf(
        arm.applicationPackageOperations.activate(rg, account, 'blender', '2.80', { format: 'tar' }),
      ),
      '400 InvalidApplicationPackageFormat',
    );
  });

  test('ARM pools take applicationPackages by ARM id; one naming a missing application is 409', async () => {
    const c = server.connection;
    const appId = (name: string) =>
      `/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Batch/batchAccounts/${account}/applications/${name}`;
    const tiny = {
      vmSize: 'STANDARD_A1_V2',
      deploymentConfiguration: {
        virtualMachineConfiguration: {
          imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
          nodeAgentSkuId: 'batch.node.lazurite tiny',
        },
      },
      scaleSettings: { fixedScale: { targetDedicatedNodes: 0 } },
    };
    assert.equal(
      await codeOf(
        arm.poolOperations.create(rg, account, 'nopkg', {
          ...tiny,
          applicationPackages: [{ id: appId('nothing') }],
        }),
      ),
      '409 InvalidApplicationPackageReferences',
    );
    const created = await arm.poolOperations.create(rg, account, 'withpkg', {
      ...tiny,
      applicationPackages: [{ id: appId('blender') }],
    });
    assert.deepEqual(created.applicationPackages, [{ id: appId('blender') }]);
    const dataPlane = await batch.pool.get('withpkg');
    assert.deepEqual(dataPlane.applicationPackageReferences, [{ applicationId: appId('blender') }]);
    await batch.pool.deleteMethod('withpkg');
  });

  test('deleting a version and the application', async () => {
    await arm.applicationPackageOperations.delete(rg, account, 'blender', '2.80');
    assert.equal((await arm.applicationOperations.get(rg, account, 'blender')).defaultVersion, undefined);
    assert.deepEqual(
      (await batch.application.list()).map((a) => a.id),
      [],
    );
    await arm.applicationOperations.delete(rg, account, 'blender');
    assert.equal(
      await codeOf(arm.applicationOperations.get(rg, account, 'blender')),
      '404 ApplicationNotFound',
    );
  });
});
