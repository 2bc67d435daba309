import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Digest } from '../../content/blob-store.ts';
import { reachableBlobs } from '../../content/manifests.ts';
import { regionPaths, RegionStores } from '../../content/regions.ts';
import { ManualClock } from '../../platform/clock.ts';
import { sequentialIds } from '../../platform/ids.ts';
import type { ComputeResourceRecord } from '../../storage/records.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import type { Caller } from '../authorization/access.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from '../environment/well-known.ts';
import { DomainError } from '../errors.ts';
import { BaseImageService } from '../images/base-images.ts';
import type { ComputeAddress } from './common.ts';
import { VmHost } from '../../backends/local/vm-host.ts';
import { DiskService } from './disks.ts';
import { VmService } from './vms.ts';
import { GalleryService } from './gallery.ts';
import { ComputeQueries } from './queries.ts';
import { ReplicationReconciler } from './replication.ts';
import { compareVersions, parseVersionName, resolveLatest } from './versions.ts';

const owner: Caller = {
  objectId: WELL_KNOWN.principalObjectId,
  tenantId: WELL_KNOWN.tenantId,
  appId: WELL_KNOWN.clientId,
};
const at = (...pairs: [string, string][]): ComputeAddress => ({
  subscriptionId: WELL_KNOWN.subscriptionId,
  resourceGroup: WELL_KNOWN.resourceGroup,
  segments: pairs.map(([type, name]) => ({ type, name })),
});

function version(name: string, props: Record<string, unknown>): ComputeResourceRecord {
  return {
    id: name,
    subscriptionId: 's',
    resourceGroup: 'g',
    type: 'Microsoft.Compute/galleries/images/versions',
    name,
    parentId: null,
    location: 'westeurope',
    tags: {},
    sku: null,
    content: null,
    lineage: {},
    createdAt: '',
    updatedAt: '',
    properties: {
      provisioningState: 'Succeeded',
      ...props,
      publishingProfile: {
        targetRegions: [{ name: 'westeurope', excludeFromLatest: false }],
        ...(props.publishingProfile as object),
      },
    },
  };
}

describe('gallery versions', () => {
  test('names are MAJOR.MINOR.PATCH int32 and compare numerically', () => {
    assert.deepEqual(parseVersionName('1.10.0'), [1, 10, 0]);
    assert.ok(compareVersions('1.10.0', '1.9.9') > 0);
    for (const bad of ['1.0', '1.0.0.0', 'v1.0.0', '1.0.-1', '1.2147483648.0'])
      assert.throws(() => parseVersionName(bad), DomainError, bad);
  });

  test('latest skips excluded, unfinished, end-of-life and non-replicated versions', () => {
    const now = new Date('2026-06-01T00:00:00Z');
    const versions = [
      version('1.0.0', {}),
      version('1.2.0', { publishingProfile: { excludeFromLatest: true } }),
      version('1.3.0', { provisioningState: 'Creating' }),
      version('1.4.0', { publishingProfile: { endOfLifeDate: '2026-01-01T00:00:00Z' } }),
      version('1.5.0', { publishingProfile: { targetRegions: [{ name: 'eastus' }] } }),
      version('0.9.0', {}),
    ];
    assert.equal(resolveLatest(versions, 'westeurope', now)?.name, '1.0.0');
    assert.equal(resolveLatest(versions, 'eastus', now)?.name, '1.5.0');
    assert.equal(resolveLatest([], 'westeurope', now), undefined);
  });

  test('replication resumes after an interruption and completes the version; removed regions are dropped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lzr-compute-'));
    const regions = new RegionStores(regionPaths(dir, ['westeurope', 'eastus', 'westus'], {}));
    const ctx = { store: await openSqliteStore(':memory:'), clock: new ManualClock(), ids: sequentialIds() };
    await seedWellKnownEnvironment(ctx);
    const images = new BaseImageService(ctx, regions, join(dir, 'build'), 'westeurope');
    await images.build('tiny');
    const disks = new DiskService(
      ctx,
      regions,
      images,
      new VmService(ctx, regions, images, new VmHost(dir, regions)),
      join(dir, 'uploads'),
    );
    const gallery = new GalleryService(ctx, regions);
    const queries = new ComputeQueries(ctx);
    const platform = `/Subscriptions/${WELL_KNOWN.subscriptionId}/Providers/Microsoft.Compute/Locations/westeurope/Publishers/lazurite/ArtifactTypes/VMImage/Offers/tiny/Skus/busybox/Versions/latest`;
    const disk = await disks.putDiskOrSnapshot(owner, at(['disks', 'd1']), {
      location: 'westeurope',
      properties: { creationData: { createOption: 'FromImage', imageReference: { id: platform } } },
    });
    await gallery.putGallery(owner, at(['galleries', 'g1']), { location: 'westeurope' });
    await gallery.putDefinition(owner, at(['galleries', 'g1'], ['images', 'def']), {
      location: 'westeurope',
      properties: {
        osType: 'Linux',
        osState: 'Generalized',
        identifier: { publisher: 'p', offer: 'o', sku: 's' },
      },
    });
    const v = at(['galleries', 'g1'], ['images', 'def'], ['versions', '1.0.0']);
    const body = (targets: string[]) => ({
      location: 'westeurope',
      properties: {
        storageProfile: { osDiskImage: { source: { id: disk.resource.id } } },
        publishingProfile: { targetRegions: targets.map((name) => ({ name })) },
      },
    });
    const { version: created } = await gallery.putVersion(owner, v, body(['westeurope', 'eastus']));
    assert.equal(created.properties.provisioningState, 'Creating');
    // Simulate a crash part-way: one blob already copied to East US, the root manifest not.
    const root = created.content?.manifest as Digest;
    const west = await regions.get('westeurope');
    const east = await regions.get('eastus');
    const [firstBlob] = await reachableBlobs(west, root);
    await east.copyFrom(west, firstBlob as Digest);
    const status = async () => (await queries.get(owner, v)).replicationStatus;
    assert.equal((await status()).aggregatedState, 'InProgress');
    const copied = new Map<string, number>();
    const meter = {
      copied: (region: string, bytes: number) => copied.set(region, (copied.get(region) ?? 0) + bytes),
    };
    const reconciler = new ReplicationReconciler(ctx, regions, undefined, meter);
    await reconciler.tick();
    const sizes = await Promise.all(
      (await reachableBlobs(west, root)).map(async (d) => (await stat(west.path(d))).size),
    );
    const total = sizes.reduce((a, b) => a + b, 0);
    // The meter counts bytes written: East US already had the first blob; West Europe is the source.
    assert.equal(copied.get('eastus'), total - (sizes[0] ?? 0));
    assert.equal(copied.get('westeurope'), undefined);
    assert.equal((await status()).aggregatedState, 'Completed');
    assert.equal((await queries.get(owner, v)).resource.properties.provisioningState, 'Succeeded');
    assert.ok(await east.has(root));
    // Move East US out and West US in: West US replicates, East US's row goes.
    await gallery.putVersion(owner, v, body(['westeurope', 'westus']));
    await reconciler.tick();
    assert.equal(copied.get('westus'), total);
    assert.deepEqual(
      (await status()).summary.map((s) => [s.region, s.state]),
      [
        ['West Europe', 'Completed'],
        ['West US', 'Completed'],
      ],
    );
    await assert.rejects(
      gallery.putVersion(
        owner,
        at(['galleries', 'g1'], ['images', 'def'], ['versions', '1.0.1']),
        body(['eastus']),
      ),
      (e: DomainError) => e.target === 'properties.publishingProfile.targetRegions',
    );
  });
});
