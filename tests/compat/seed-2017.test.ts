import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BatchManagementClient } from '@azure/arm-batch';
import type { ComputeManagementClient } from '@azure/arm-compute';
import { StorageManagementClient } from '@azure/arm-storage';
import { BatchServiceClient } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { buildTinyRootfs } from '../../src/content/rootfs/tiny.ts';
import { partitionedVhd } from '../../src/content/rootfs/vhd.fixture.ts';
import { startAzuriteBlob, type AzuriteBlob } from './azurite.ts';
import { computeClient, credentialFor, runCli, startServer, type TestServer } from './harness.ts';
import { failsWith, waitFor } from './pool-image.ts';
import { openBrowser, screenshot } from './portal-browser.ts';
import { batchReadyVault } from './vaults.ts';

const ACCOUNT = 'seedacct';
const SKU = 'batch.node.lazurite tiny';

/**
 * The 2017 seed (001, mission R17): a Batch account in UserSubscription pool allocation mode with its Key Vault, a
 * storage account in the same subscription and region, a generalized partitioned VHD uploaded to its container
 * `system` (the name Save-AzureRmVMImage gives), a managed image from the blob's URL (read with the account's
 * key), a pool from that image whose OS is "Custom VM image", and a task that reads the image's data.
 */
describe(
  'seed 001: a pool from a custom VHD in a storage account',
  { skip: process.getuid?.() === 0 ? false : 'needs root' },
  () => {
    let server: TestServer;
    let blob: AzuriteBlob;
    let compute: ComputeManagementClient;
    let batch: BatchServiceClient;
    let work: string;
    let vhdUrl = '';
    let vhdName = '';
    let imageId = '';
    const previous = {
      accounts: process.env.LAZURITE_STORAGE_ACCOUNTS,
      batch: process.env.LAZURITE_DEFAULT_BATCH_ACCOUNT,
    };
    const rg = () => server.connection.resourceGroup;

    before(async () => {
      blob = await startAzuriteBlob();
      process.env.LAZURITE_STORAGE_ACCOUNTS = JSON.stringify({
        [blob.accountName]: { blobEndpoint: blob.blobEndpoint, key: blob.accountKey },
      });
      // @azure/batch 10.2.0 with Entra ID reaches the default account (ADR 0006): the seed's account.
      process.env.LAZURITE_DEFAULT_BATCH_ACCOUNT = ACCOUNT;
      server = await startServer();
      const c = server.connection;
      compute = computeClient(c);
      const token = await credentialFor(c).getToken('https://batch.core.windows.net//.default');
      batch = new BatchServiceClient(new TokenCredentials(token.token), new URL(c.batchUrl).origin);
      work = mkdtempSync(join(tmpdir(), 'lazurite-seed2017-'));
    });
    after(async () => {
      if (previous.accounts === undefined) delete process.env.LAZURITE_STORAGE_ACCOUNTS;
      else process.env.LAZURITE_STORAGE_ACCOUNTS = previous.accounts;
      if (previous.batch === undefined) delete process.env.LAZURITE_DEFAULT_BATCH_ACCOUNT;
      else process.env.LAZURITE_DEFAULT_BATCH_ACCOUNT = previous.batch;
      rmSync(work, { recursive: true, force: true });
      await server.stop();
      await blob.stop();
    });

    test('a UserSubscription Batch account with its Key Vault', async () => {
      const c = server.connection;
      const vault = await batchReadyVault(server, 'seed-vault');
      const arm = new BatchManagementClient(credentialFor(c), c.subscriptionId, { endpoint: c.armEndpoint });
      const account = await arm.batchAccountOperations.beginCreateAndWait(rg(), ACCOUNT, {
        location: c.location,
        poolAllocationMode: 'UserSubscription',
        keyVaultReference: { id: vault.id ?? '', url: vault.properties.vaultUri ?? '' },
      });
      assert.equal(account.poolAllocationMode, 'UserSubscription');
      assert.equal(account.keyVaultReference?.id, vault.id);
    });

    test('a storage account; a generalized partitioned VHD uploaded to its container system with its key', async () => {
      const c = server.connection;
      const storage = new StorageManagementClient(credentialFor(c), c.subscriptionId, {
        endpoint: c.armEndpoint,
      });
      const account = await storage.storageAccounts.create(rg(), blob.accountName, {
        location: c.location,
        sku: { name: 'Standard_LRS' },
        kind: 'StorageV2',
      });
      const endpoint = account.primaryEndpoints?.blob ?? '';
      const keys = await storage.storageAccounts.listKeys(rg(), blob.accountName);
      const key = keys.keys?.[0]?.value ?? '';
      const root = join(work, 'root');
      await buildTinyRootfs(root);
      mkdirSync(join(root, 'opt'), { recursive: true });
      writeFileSync(join(root, 'opt', 'seed-data.txt'), 'reference data from the 2017 seed\n');
      mkdirSync(join(work, 'empty'));
      const vhd = join(work, 'custom.vhd');
      partitionedVhd(root, join(work, 'empty'), vhd, 'gpt');
      const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(blob.accountName, key));
      const container = service.getContainerClient('system');
      await container.create(); // private: no public access, so only the key reads it
      const name = `Microsoft.Compute/Images/batchimages/custom-osDisk.${randomUUID()}.vhd`;
      const blobClient = container.getBlockBlobClient(name);
      await blobClient.uploadData(readFileSync(vhd));
      vhdUrl = blobClient.url;
      vhdName = name;
      const anonymous = await fetch(vhdUrl);
      assert.equal(anonymous.status >= 400, true, 'the blob is private');
    });

    test('a managed image from the blob URL (read with the storage account key)', async () => {
      const image = await compute.images.createOrUpdate(
        rg(),
        'seed-image',
        {
          location: server.connection.location,
          storageProfile: { osDisk: { osType: 'Linux', osState: 'Generalized', blobUri: vhdUrl } },
        },
        { updateIntervalInMs: 200 },
      );
      assert.equal(image.provisioningState, 'Succeeded');
      imageId = image.id ?? '';
    });

    test('a pool from the image; a task reads the image data; the OS shows as Custom VM image', async () => {
      await batch.pool.add({
        id: 'seed-pool',
        vmSize: 'standard_a1_v2',
        virtualMachineConfiguration: {
          imageReference: { virtualMachineImageId: imageId },
          nodeAgentSKUId: SKU,
        },
        targetDedicatedNodes: 1,
      });
      await batch.job.add({ id: 'seed-job', poolInfo: { poolId: 'seed-pool' } });
      await batch.task.add('seed-job', { id: 'read', commandLine: 'cat /opt/seed-data.txt' });
      const done = await waitFor(
        () => batch.task.get('seed-job', 'read'),
        (t) => t.state === 'completed',
        'the task completed',
        300_000,
      );
      assert.deepEqual([done.executionInfo?.result, done.executionInfo?.exitCode], ['success', 0]);
      const out = await batch.file.getFromTask('seed-job', 'read', 'stdout.txt');
      const text = await new Response(out.readableStreamBody as unknown as ReadableStream).text();
      assert.equal(text, 'reference data from the 2017 seed\n');
      const listed = await runCli(['pools', 'list', '--data-dir', server.dataDir, '--account', ACCOUNT]);
      assert.match(listed, /seed-pool.*Custom VM image/);
    });

    test('the portal: Add pool from a Custom image (VHD) browsed in container system; the pool shows Custom VM image', async () => {
      const origin = new URL(server.connection.batchUrl).origin;
      // The browser lists the container on the blob endpoint itself: the blob service allows the portal's origin.
      await blob.serviceClient.setProperties({
        cors: [
          {
            allowedOrigins: origin,
            allowedMethods: 'GET,OPTIONS',
            allowedHeaders: '*',
            exposedHeaders: '*',
            maxAgeInSeconds: 60,
          },
        ],
      });
      const browser = await openBrowser();
      try {
        const page = browser.page;
        await page.goto(`${origin}/portal`);
        await page.getByLabel('Client secret').fill(server.connection.clientSecret);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('heading', { name: `Batch account ${ACCOUNT}` }).waitFor();
        await page.goto(`${origin}/portal#/pools/new`);
        await page.getByRole('heading', { name: 'Add pool' }).waitFor();
        await page.getByLabel('Pool ID').fill('portal-vhd');
        await page.getByRole('radio', { name: 'Custom image (VHD)' }).check();
        await page.getByLabel('Storage account').selectOption({ label: blob.accountName });
        assert.equal(await page.getByLabel('Container').inputValue(), 'system');
        await page.getByRole('button', { name: 'Browse' }).click();
        await page.getByLabel('VHD', { exact: true }).selectOption({ label: vhdName });
        await page.getByLabel('VM size').selectOption('standard_a1_v2');
        await page.getByLabel('Node agent SKU').selectOption(SKU);
        await page.getByLabel('Dedicated nodes').fill('0');
        await screenshot(page, 'add-pool-custom-vhd');
        await page.getByRole('button', { name: 'Create pool' }).click();
        await page.waitForURL(/#\/pools\/portal-vhd$/, { timeout: 120_000 });
        await page.getByRole('heading', { name: 'Pool portal-vhd' }).waitFor();
        assert.equal(await page.locator('#pool-os').innerText(), 'Custom VM image');
        await screenshot(page, 'pool-custom-vhd');
        assert.deepEqual(browser.errors, []);
      } finally {
        await browser.close();
      }
      const pool = await batch.pool.get('portal-vhd');
      assert.match(
        pool.virtualMachineConfiguration?.imageReference.virtualMachineImageId ?? '',
        /\/images\/portal-vhd-vhd$/,
      );
    });

    test('bad input: a Specialized image, a blob of no storage account here, a vault-less UserSubscription account', async () => {
      const c = server.connection;
      await compute.images.createOrUpdate(
        rg(),
        'seed-specialized',
        {
          location: c.location,
          storageProfile: { osDisk: { osType: 'Linux', osState: 'Specialized', blobUri: vhdUrl } },
        },
        { updateIntervalInMs: 200 },
      );
      await assert.rejects(
        batch.pool.add({
          id: 'spec-pool',
          vmSize: 'standard_a1_v2',
          virtualMachineConfiguration: {
            imageReference: { virtualMachineImageId: imageId.replace(/seed-image$/, 'seed-specialized') },
            nodeAgentSKUId: SKU,
          },
          targetDedicatedNodes: 0,
        }),
        failsWith(400, 'InvalidPropertyValue'),
      );
      const foreign = vhdUrl.replace(/\/devstoreaccount1\//, '/otheraccount/');
      await assert.rejects(
        compute.images.createOrUpdate(
          rg(),
          'seed-foreign',
          {
            location: c.location,
            storageProfile: { osDisk: { osType: 'Linux', osState: 'Generalized', blobUri: foreign } },
          },
          { updateIntervalInMs: 200 },
        ),
        (e: { code?: string; message?: string }) => {
          assert.equal(e.code, 'InvalidParameter', e.message);
          return true;
        },
      );
      const arm = new BatchManagementClient(credentialFor(c), c.subscriptionId, { endpoint: c.armEndpoint });
      await assert.rejects(
        arm.batchAccountOperations.beginCreateAndWait(rg(), 'novault', {
          location: c.location,
          poolAllocationMode: 'UserSubscription',
        }),
        (e: { statusCode?: number }) => e.statusCode === 400,
      );
    });
  },
);
