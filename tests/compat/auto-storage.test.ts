import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchManagementClient } from '@azure/arm-batch';
import type { BatchServiceClient } from '@azure/batch';
import { knowStorageAccount, startAzuriteBlob, type AzuriteBlob } from './azurite.ts';
import { credentialFor, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPool, waitFor } from './pool-image.ts';

/**
 * `autoStorageContainerName` (issue 5): the Batch account names its auto-storage account through ARM
 * (`autoStorage.storageAccountId`); the server knows that account's blob endpoint and key
 * (LAZURITE_STORAGE_ACCOUNTS, here Azurite) and hands the task run the container's URL with a SAS.
 */
describe('auto-storage resource files', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  let server: TestServer;
  let blob: AzuriteBlob;
  let batch: BatchServiceClient;
  let forgetStorageAccount: () => void = () => undefined;

  before(async () => {
    blob = await startAzuriteBlob();
    forgetStorageAccount = knowStorageAccount(blob);
    server = await startServer();
    batch = sharedKeyBatch(server);
    await tinyPool(batch, 'auto', 1, { vmSize: 'standard_a1_v2', taskSlotsPerNode: 2 });
    await batch.job.add({ id: 'auto-job', poolInfo: { poolId: 'auto' } });
    const container = blob.serviceClient.getContainerClient('inputs');
    await container.create();
    await container.getBlockBlobClient('in/data.txt').upload('auto-storage-7', 14);
  });
  after(async () => {
    forgetStorageAccount();
    await server.stop();
    await blob.stop();
  });

  const finished = (id: string) =>
    waitFor(
      () => batch.task.get('auto-job', id),
      (t) => t.state === 'completed',
      `task ${id} completed`,
      60_000,
    );

  test('without auto-storage on the account the task fails with BlobDownloadMiscError, saying why', async () => {
    await batch.task.add('auto-job', {
      id: 'none',
      commandLine: 'cat in/data.txt',
      resourceFiles: [{ autoStorageContainerName: 'inputs', blobPrefix: 'in/' }],
    });
    const t = await finished('none');
    const info = t.executionInfo;
    assert.equal(info?.result, 'failure');
    assert.equal(info.failureInfo?.code, 'BlobDownloadMiscError');
    assert.match(info.failureInfo.message ?? '', /no auto-storage account/);
  });

  test('with autoStorage set through ARM, the container is downloaded with a SAS the server made', async () => {
    const c = server.connection;
    const arm = new BatchManagementClient(credentialFor(c), c.subscriptionId, { endpoint: c.armEndpoint });
    const storageAccountId = `/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroup}/providers/Microsoft.Storage/storageAccounts/${blob.accountName}`;
    const updated = await arm.batchAccountOperations.update(c.resourceGroup, c.batchAccountName, {
      autoStorage: { storageAccountId },
    });
    assert.equal(updated.autoStorage?.storageAccountId, storageAccountId);
    await batch.task.add('auto-job', {
      id: 'auto',
      commandLine: 'cat in/data.txt',
      resourceFiles: [{ autoStorageContainerName: 'inputs', blobPrefix: 'in/' }],
    });
    const t = await finished('auto');
    assert.deepEqual([t.executionInfo?.result, t.executionInfo?.exitCode], ['success', 0]);
    const out = await batch.file.getFromTask('auto-job', 'auto', 'stdout.txt');
    const text = await new Response(out.readableStreamBody as unknown as ReadableStream).text();
    assert.equal(text, 'auto-storage-7');
  });
});
