import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ComputeManagementClient } from '@azure/arm-compute';
import {
  blobPath,
  computeClient,
  credentialFor,
  startServer,
  storedContent,
  type TestServer,
} from './harness.ts';

describe('image pipeline through @azure/arm-compute (disks → snapshots → image → gallery version replicated)', () => {
  let server: TestServer;
  let compute: ComputeManagementClient;
  let rg: string;
  let sub: string;

  before(async () => {
    server = await startServer();
    const c = server.connection;
    rg = c.resourceGroup;
    sub = c.subscriptionId;
    compute = computeClient(c);
  });
  after(async () => {
    await server.stop();
  });

  const id = (type: string, name: string) =>
    `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/${type}/${name}`;
  const poll = { updateIntervalInMs: 100 };

  test('a version made from snapshots is replicated to two regions, byte for byte', async () => {
    const osDisk = await compute.disks.createOrUpdate(
      rg,
      'os-disk',
      {
        location: 'westeurope',
        creationData: {
          createOption: 'FromImage',
          imageReference: {
            id: `/Subscriptions/${sub}/Providers/Microsoft.Compute/Locations/westeurope/Publishers/lazurite/ArtifactTypes/VMImage/Offers/tiny/Skus/busybox/Versions/latest`,
          },
        },
      },
      poll,
    );
    assert.equal(osDisk.provisioningState, 'Succeeded');
    assert.equal(osDisk.osType, 'Linux');
    await compute.disks.createOrUpdate(
      rg,
      'data-disk',
      { location: 'westeurope', diskSizeGB: 4, creationData: { createOption: 'Empty' } },
      poll,
    );
    const osSnap = await compute.snapshots.createOrUpdate(
      rg,
      'os-snap',
      {
        location: 'westeurope',
        creationData: { createOption: 'Copy', sourceResourceId: id('disks', 'os-disk') },
      },
      poll,
    );
    assert.equal(osSnap.osType, 'Linux');
    await compute.snapshots.createOrUpdate(
      rg,
      'data-snap',
      {
        location: 'westeurope',
        creationData: { createOption: 'Copy', sourceResourceId: id('disks', 'data-disk') },
      },
      poll,
    );
    const image = await compute.images.createOrUpdate(
      rg,
      'img',
      {
        location: 'westeurope',
        storageProfile: {
          osDisk: { osType: 'Linux', osState: 'Generalized', snapshot: { id: id('snapshots', 'os-snap') } },
          dataDisks: [{ lun: 0, snapshot: { id: id('snapshots', 'data-snap') } }],
        },
      },
      poll,
    );
    assert.equal(image.provisioningState, 'Succeeded');
    await compute.galleries.createOrUpdate(
      rg,
      'gallery1',
      { location: 'westeurope', description: 'Batch images' },
      poll,
    );
    await compute.galleryImages.createOrUpdate(
      rg,
      'gallery1',
      'batch-tiny',
      {
        location: 'westeurope',
        osType: 'Linux',
        osState: 'Generalized',
        identifier: { publisher: 'contoso', offer: 'batch', sku: 'tiny' },
      },
      poll,
    );
    const version = await compute.galleryImageVersions.createOrUpdate(
      rg,
      'gallery1',
      'batch-tiny',
      '1.0.0',
      {
        location: 'westeurope',
        storageProfile: { source: { id: id('images', 'img') } },
        publishingProfile: {
          targetRegions: [
            { name: 'West Europe', regionalReplicaCount: 2 },
            { name: 'eastus', regionalReplicaCount: 1 },
          ],
        },
      },
      poll,
    );
    assert.equal(version.provisioningState, 'Succeeded');
    const withStatus = await compute.galleryImageVersions.get(rg, 'gallery1', 'batch-tiny', '1.0.0', {
      expand: 'ReplicationStatus',
    });
    const status = withStatus.replicationStatus;
    assert.ok(status?.summary);
    assert.equal(status.aggregatedState, 'Completed');
    assert.deepEqual(
      status.summary.map((s) => [s.region, s.state, s.progress]),
      [
        ['East US', 'Completed', 100],
        ['West Europe', 'Completed', 100],
      ],
    );
    assert.deepEqual(
      version.publishingProfile?.targetRegions?.map((t) => [t.name, t.regionalReplicaCount]),
      [
        ['westeurope', 2],
        ['eastus', 1],
      ],
    );
    // The bytes, checked on disk: every blob the version reaches is in both regions' stores, identical.
    const read = (region: string, digest: string) => readFileSync(blobPath(server.dataDir, region, digest));
    const root = storedContent(server.dataDir, 'Microsoft.Compute/galleries/images/versions', '1.0.0');
    const imageManifest = JSON.parse(read('westeurope', root).toString()) as {
      osDisk: string;
      dataDisks: { lun: number; disk: string }[];
    };
    const os = JSON.parse(read('westeurope', imageManifest.osDisk).toString()) as { layers: string[] };
    const blobs = [root, imageManifest.osDisk, ...os.layers, ...imageManifest.dataDisks.map((d) => d.disk)];
    assert.equal(blobs.length, 4);
    for (const digest of blobs) assert.ok(read('eastus', digest).equals(read('westeurope', digest)), digest);
    assert.ok(
      read('eastus', os.layers[0] ?? '').includes(readFileSync('/bin/busybox').subarray(0, 4096)),
      'busybox is in the replicated layer',
    );

    const newer = await compute.galleryImageVersions.createOrUpdate(
      rg,
      'gallery1',
      'batch-tiny',
      '1.1.0',
      {
        location: 'westeurope',
        storageProfile: { source: { id: id('images', 'img') } },
        publishingProfile: { excludeFromLatest: true, targetRegions: [{ name: 'westeurope' }] },
      },
      poll,
    );
    assert.equal(newer.publishingProfile?.excludeFromLatest, true);
    const names: string[] = [];
    for await (const v of compute.galleryImageVersions.listByGalleryImage(rg, 'gallery1', 'batch-tiny'))
      names.push(v.name ?? '');
    assert.deepEqual(names.sort(), ['1.0.0', '1.1.0']);
  });

  test('bad input gets the real error with the field named (raw ARM calls, to read the error target)', async () => {
    const c = server.connection;
    const cred = credentialFor(c);
    const token = (await cred.getToken('https://management.azure.com/.default')).token;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${c.armEndpoint}${path}?api-version=2022-03-03`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = (await res.json().catch(() => ({}))) as { error?: { code?: string; target?: string } };
      return `${res.status} ${json.error?.code ?? ''} ${json.error?.target ?? ''}`.trim();
    };
    const def = `${id('galleries', 'gallery1')}/images/batch-tiny`;
    const versionBody = (regions: { name: string; regionalReplicaCount?: number }[]) => ({
      location: 'westeurope',
      properties: {
        storageProfile: { source: { id: id('images', 'img') } },
        publishingProfile: { targetRegions: regions },
      },
    });
    assert.equal(
      await call('PUT', `${def}/versions/1.0`, versionBody([{ name: 'westeurope' }])),
      '400 InvalidParameter galleryImageVersionName',
    );
    assert.equal(
      await call(
        'PUT',
        `${def}/versions/2.0.0`,
        versionBody([{ name: 'westeurope' }, { name: 'japaneast' }]),
      ),
      '400 InvalidParameter properties.publishingProfile.targetRegions[1].name',
    );
    assert.equal(
      await call(
        'PUT',
        `${def}/versions/2.0.0`,
        versionBody([{ name: 'westeurope', regionalReplicaCount: 0 }]),
      ),
      '400 InvalidParameter properties.publishingProfile.targetRegions[0].regionalReplicaCount',
    );
    assert.equal(
      await call(
        'PUT',
        `${def}/versions/2.0.0`,
        versionBody([{ name: 'westeurope', regionalReplicaCount: 101 }]),
      ),
      '400 InvalidParameter properties.publishingProfile.targetRegions[0].regionalReplicaCount',
    );
    assert.equal(
      await call('PUT', `${id('galleries', 'gallery1')}/images/other-def`, {
        location: 'westeurope',
        properties: {
          osType: 'Linux',
          osState: 'Generalized',
          identifier: { publisher: 'CONTOSO', offer: 'batch', sku: 'tiny' },
        },
      }),
      '409 Conflict properties.identifier',
    );
    assert.equal(
      await call('PUT', id('snapshots', 'snap-x'), {
        location: 'westeurope',
        properties: { creationData: { createOption: 'Copy', sourceResourceId: id('disks', 'no-such-disk') } },
      }),
      '404 ResourceNotFound properties.creationData.sourceResourceId',
    );
    const vm = (hardwareProfile: unknown, dataDisks: unknown[] = []) => ({
      location: 'westeurope',
      properties: {
        hardwareProfile,
        storageProfile: {
          imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox', version: 'latest' },
          osDisk: { createOption: 'FromImage' },
          dataDisks,
        },
        osProfile: { computerName: 'badvm', adminUsername: 'azureuser' },
      },
    });
    assert.equal(
      await call('PUT', id('virtualMachines', 'badvm'), vm({ vmSize: 'Standard_Nope_v99' })),
      '400 InvalidParameter properties.hardwareProfile.vmSize',
    );
    assert.equal(
      await call(
        'PUT',
        id('virtualMachines', 'badvm'),
        vm({ vmSize: 'Standard_D2s_v3' }, [{ lun: 0, createOption: 'Bogus', diskSizeGB: 1 }]),
      ),
      '400 InvalidParameter properties.storageProfile.dataDisks[0].createOption',
    );
    assert.equal(await call('GET', id('virtualMachines', 'badvm')), '404 ResourceNotFound');
    assert.equal(await call('DELETE', def), '409 OperationNotAllowed');
    // The SDK surfaces the same codes.
    await assert.rejects(
      compute.galleryImages.delete(rg, 'gallery1', 'batch-tiny', poll),
      (e: { statusCode?: number; code?: string }) => e.statusCode === 409 && e.code === 'OperationNotAllowed',
    );
  });

  test('platform image look-ups come from the Batch catalog', async () => {
    const skus = await compute.virtualMachineImages.listSkus('westeurope', 'lazurite', 'tiny');
    assert.deepEqual(
      skus.map((s) => s.name),
      ['busybox'],
    );
    const versions = await compute.virtualMachineImages.list(
      'westeurope',
      'Canonical',
      'ubuntu-24_04-lts',
      'server',
    );
    assert.deepEqual(
      versions.map((v) => v.name),
      ['1.0.0'],
    );
    const plan = await compute.virtualMachineImages.get(
      'westeurope',
      'cognosys',
      'centos-8-stream-free',
      'centos-8-stream-free',
      '1.0.0',
    );
    assert.equal(plan.osDiskImage?.operatingSystem, 'Linux');
    assert.equal(plan.plan?.publisher, 'cognosys', 'third-party bases carry their purchase plan');
    await assert.rejects(
      compute.virtualMachineImages.listOffers('westeurope', 'nobody'),
      (e: { statusCode?: number }) => e.statusCode === 404,
    );
  });
});
