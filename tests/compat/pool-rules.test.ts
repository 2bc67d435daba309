import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import {
  computeClient,
  credentialFor,
  newPrincipalCredential,
  startServer,
  type TestServer,
} from './harness.ts';
import { buildToolImage, waitFor } from './pool-image.ts';

const SKU = 'batch.node.lazurite tiny';
type RestError = { statusCode?: number; code?: string; message?: unknown; body?: unknown };
/** The Batch error's message text (the JS client keeps Batch's {lang, value} object as `message`). */
const text = (e: RestError): string => JSON.stringify(e.message ?? '') + JSON.stringify(e.body ?? '');

/** Each rule of the seeds (R3, R9–R12, R15) with the code the Batch service gives. */
describe('pool rules for custom images (@azure/batch)', () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  let image: { versionId: string; definitionId: string; imageId: string };
  const poolOf = (id: string, virtualMachineImageId: string, nodeAgentSKUId = SKU, dedicated = 1) => ({
    id,
    vmSize: 'standard_a1_v2',
    virtualMachineConfiguration: { imageReference: { virtualMachineImageId }, nodeAgentSKUId },
    targetDedicatedNodes: dedicated,
  });

  before(async () => {
    server = await startServer();
    const c = server.connection;
    image = await buildToolImage(computeClient(c), c.resourceGroup, [{ name: 'westeurope' }]);
    const token = await credentialFor(c).getToken('https://batch.core.windows.net//.default');
    batch = new BatchServiceClient(new TokenCredentials(token.token), new URL(c.batchUrl).origin);
  });
  after(async () => {
    await server.stop();
  });

  test('R11: a gallery-image pool requested with SharedKey → 403 AuthenticationFailed', async () => {
    const c = server.connection;
    const shared = new BatchServiceClient(
      new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
      new URL(c.batchUrl).origin,
    );
    await assert.rejects(shared.pool.add(poolOf('sk', image.versionId)), (e: RestError) => {
      assert.equal(e.statusCode, 403);
      assert.equal(e.code, 'AuthenticationFailed');
      assert.match(
        text(e),
        /The specified type of authentication SharedKey is not allowed when external resources of type Compute are linked\./,
      );
      return true;
    });
  });

  test('R11: a principal whose roles do not reach the image → 403 AuthorizationFailed naming it', async () => {
    const c = server.connection;
    const account = `/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroup}/providers/Microsoft.Batch/batchAccounts/${c.batchAccountName}`;
    const cred = await newPrincipalCredential(server, 'batch-only', { role: 'Contributor', scope: account });
    const token = (await cred.getToken('https://batch.core.windows.net//.default')).token;
    const client = new BatchServiceClient(new TokenCredentials(token), new URL(c.batchUrl).origin);
    await assert.rejects(client.pool.add(poolOf('norole', image.versionId)), (e: RestError) => {
      assert.equal(e.statusCode, 403);
      assert.equal(e.code, 'AuthorizationFailed');
      assert.ok(text(e).includes(image.versionId));
      return true;
    });
  });

  test('R9: unknown nodeAgentSKUId → 404 NodeAgentSKUNotFound; a SKU for another OS → 400 naming nodeAgentSKUId', async () => {
    await assert.rejects(
      batch.pool.add(poolOf('nosku', image.versionId, 'batch.node.nothing 1.0')),
      (e: RestError) => e.statusCode === 404 && e.code === 'NodeAgentSKUNotFound',
    );
    await assert.rejects(
      batch.pool.add(poolOf('winsku', image.versionId, 'batch.node.windows amd64')),
      (e: RestError) => {
        assert.equal(e.statusCode, 400);
        assert.equal(e.code, 'InvalidPropertyValue');
        assert.match(JSON.stringify(e.body), /nodeAgentSKUId/);
        return true;
      },
    );
  });

  test('R10: a Specialized image definition is refused with 400 InvalidPropertyValue', async () => {
    const c = server.connection;
    const compute = computeClient(c);
    const poll = { updateIntervalInMs: 100 };
    const platform = `/Subscriptions/${c.subscriptionId}/Providers/Microsoft.Compute/Locations/westeurope/Publishers/lazurite/ArtifactTypes/VMImage/Offers/tiny/Skus/busybox/Versions/latest`;
    const disk = await compute.disks.createOrUpdate(
      c.resourceGroup,
      'special-os',
      {
        location: 'westeurope',
        creationData: { createOption: 'FromImage', imageReference: { id: platform } },
      },
      poll,
    );
    await compute.galleryImages.createOrUpdate(
      c.resourceGroup,
      'pools',
      'special',
      {
        location: 'westeurope',
        osType: 'Linux',
        osState: 'Specialized',
        identifier: { publisher: 'contoso', offer: 'special', sku: 'v1' },
      },
      poll,
    );
    const version = await compute.galleryImageVersions.createOrUpdate(
      c.resourceGroup,
      'pools',
      'special',
      '1.0.0',
      {
        location: 'westeurope',
        storageProfile: { osDiskImage: { source: { id: disk.id } } },
        publishingProfile: { targetRegions: [{ name: 'westeurope' }] },
      },
      poll,
    );
    const spec = { versionId: version.id ?? '' };
    await assert.rejects(batch.pool.add(poolOf('special', spec.versionId)), (e: RestError) => {
      assert.equal(e.statusCode, 400);
      assert.equal(e.code, 'InvalidPropertyValue');
      assert.match(JSON.stringify(e.body), /Specialized/);
      return true;
    });
  });

  test('R12: no replica in the account region → the pool settles with resize error AllocationFailed', async () => {
    const compute = computeClient(server.connection);
    const rg = server.connection.resourceGroup;
    const poll = { updateIntervalInMs: 100 };
    await compute.galleries.createOrUpdate(rg, 'fargallery', { location: 'eastus' }, poll);
    await compute.galleryImages.createOrUpdate(
      rg,
      'fargallery',
      'tool',
      {
        location: 'eastus',
        osType: 'Linux',
        osState: 'Generalized',
        identifier: { publisher: 'contoso', offer: 'far', sku: 'v1' },
      },
      poll,
    );
    const far = await compute.galleryImageVersions.createOrUpdate(
      rg,
      'fargallery',
      'tool',
      '1.0.0',
      {
        location: 'eastus',
        storageProfile: { source: { id: image.imageId } },
        publishingProfile: { targetRegions: [{ name: 'eastus' }] },
      },
      { updateIntervalInMs: 100 },
    );
    await batch.pool.add(poolOf('faraway', far.id ?? ''));
    const pool = await waitFor(
      () => batch.pool.get('faraway'),
      (p) => p.allocationState === 'steady',
      'steady',
    );
    assert.equal(pool.resizeErrors?.[0]?.code, 'AllocationFailed');
    assert.match(pool.resizeErrors[0].message ?? '', /image is not found/);
    assert.equal(pool.currentDedicatedNodes, 0);
  });

  test('bad input: resizeTimeout under 5 minutes, missing vmSize, duplicate id, unknown pool', async () => {
    await assert.rejects(
      batch.pool.add({ ...poolOf('short', image.versionId), resizeTimeout: 'PT4M' }),
      (e: RestError) =>
        e.statusCode === 400 &&
        e.code === 'InvalidPropertyValue' &&
        JSON.stringify(e.body).includes('resizeTimeout'),
    );
    // @azure/batch refuses a pool without vmSize before sending it; the server's own answer, over plain HTTPS:
    const c = server.connection;
    const token = (await credentialFor(c).getToken('https://batch.core.windows.net//.default')).token;
    const res = await fetch(`${new URL(c.batchUrl).origin}/pools?api-version=2022-10-01.16.0`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json; odata=minimalmetadata',
      },
      body: JSON.stringify({
        id: 'novm',
        virtualMachineConfiguration: poolOf('x', image.versionId).virtualMachineConfiguration,
      }),
    });
    const body = (await res.json()) as { code: string; values: { key: string; value: string }[] };
    assert.equal(res.status, 400);
    assert.equal(body.code, 'MissingRequiredProperty');
    assert.deepEqual(body.values[0], { key: 'PropertyName', value: 'vmSize' });
    await batch.pool.add(poolOf('dup', image.versionId, SKU, 0));
    await assert.rejects(
      batch.pool.add(poolOf('DUP', image.versionId)),
      (e: RestError) => e.statusCode === 409 && e.code === 'PoolExists',
    );
    await assert.rejects(
      batch.pool.get('nope'),
      (e: RestError) => e.statusCode === 404 && e.code === 'PoolNotFound',
    );
  });

  test('R15: stopresize while the pool is allocating → ResizeStopped, steady', async () => {
    await batch.pool.add(poolOf('stopme', image.versionId, SKU, 30));
    await batch.pool.stopResize('stopme');
    const pool = await waitFor(
      () => batch.pool.get('stopme'),
      (p) => p.allocationState === 'steady',
      'steady',
    );
    assert.equal(pool.resizeErrors?.[0]?.code, 'ResizeStopped');
    assert.ok((pool.currentDedicatedNodes ?? 0) < 30);
    await batch.pool.deleteMethod('stopme');
  });
});
