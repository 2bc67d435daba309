import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { VmHost } from '../../backends/local/vm-host.ts';
import { regionPaths, RegionStores } from '../../content/regions.ts';
import { ManualClock } from '../../platform/clock.ts';
import { sequentialIds } from '../../platform/ids.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import type { Caller } from '../authorization/access.ts';
import { OWNER_ROLE_ID } from '../authorization/roles.ts';
import type { ComputeAddress } from '../compute/common.ts';
import { DiskService } from '../compute/disks.ts';
import { GalleryService } from '../compute/gallery.ts';
import { ReplicationReconciler } from '../compute/replication.ts';
import { VmService } from '../compute/vms.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from '../environment/well-known.ts';
import { DomainError } from '../errors.ts';
import { BaseImageService } from '../images/base-images.ts';
import { PrincipalService } from '../identity/principals.ts';
import { resolvePoolImage, type PoolAccount, type PoolCaller } from './image-rules.ts';
import { findVmSize } from './vm-sizes.ts';

const SUB = WELL_KNOWN.subscriptionId;
const owner: Caller = {
  objectId: WELL_KNOWN.principalObjectId,
  tenantId: WELL_KNOWN.tenantId,
  appId: WELL_KNOWN.clientId,
};
const aad: PoolCaller = { scheme: 'AAD', caller: owner };
const west: PoolAccount = { subscriptionId: SUB, tenantId: WELL_KNOWN.tenantId, location: 'westeurope' };
const at = (sub: string, ...pairs: [string, string][]): ComputeAddress => ({
  subscriptionId: sub,
  resourceGroup: WELL_KNOWN.resourceGroup,
  segments: pairs.map(([type, name]) => ({ type, name })),
});

async function world() {
  const dir = mkdtempSync(join(tmpdir(), 'lzr-pools-'));
  const regions = new RegionStores(regionPaths(dir, ['westeurope', 'eastus'], {}));
  const clock = new ManualClock('2026-06-01T00:00:00Z');
  const ctx = { store: await openSqliteStore(':memory:'), clock, ids: sequentialIds() };
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
  const platform = `/Subscriptions/${SUB}/Providers/Microsoft.Compute/Locations/westeurope/Publishers/lazurite/ArtifactTypes/VMImage/Offers/tiny/Skus/busybox/Versions/latest`;
  const disk = await disks.putDiskOrSnapshot(owner, at(SUB, ['disks', 'd']), {
    location: 'westeurope',
    properties: { creationData: { createOption: 'FromImage', imageReference: { id: platform } } },
  });
  await gallery.putGallery(owner, at(SUB, ['galleries', 'g']), { location: 'westeurope' });
  for (const [def, osState] of [
    ['gen', 'Generalized'],
    ['spec', 'Specialized'],
  ] as const) {
    await gallery.putDefinition(owner, at(SUB, ['galleries', 'g'], ['images', def]), {
      location: 'westeurope',
      properties: { osType: 'Linux', osState, identifier: { publisher: 'p', offer: 'o', sku: def } },
    });
    await gallery.putVersion(owner, at(SUB, ['galleries', 'g'], ['images', def], ['versions', '1.0.0']), {
      location: 'westeurope',
      properties: {
        storageProfile: { osDiskImage: { source: { id: disk.resource.id } } },
        publishingProfile: { targetRegions: [{ name: 'westeurope' }] },
      },
    });
  }
  for (const [name, osState] of [
    ['managed-gen', 'Generalized'],
    ['managed-spec', 'Specialized'],
  ] as const) {
    await disks.putImage(owner, at(SUB, ['images', name]), {
      location: 'westeurope',
      properties: {
        storageProfile: { osDisk: { osType: 'Linux', osState, managedDisk: { id: disk.resource.id } } },
      },
    });
  }
  await new ReplicationReconciler(ctx, regions).tick();
  const id = (def: string, version = '') =>
    `/subscriptions/${SUB}/resourceGroups/${WELL_KNOWN.resourceGroup}/providers/Microsoft.Compute/galleries/g/images/${def}${version === '' ? '' : `/versions/${version}`}`;
  return { ctx, id, principals: new PrincipalService(ctx) };
}

const code = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof DomainError, String(e));
    return `${e.code}${e.values.Reason === undefined ? '' : `: ${e.values.Reason}`}`;
  }
};

describe('pool image rules (R3, R9–R12)', () => {
  test('a gallery version, or its definition meaning latest, resolves with its replica state', async () => {
    const { ctx, id } = await world();
    const tiny = 'batch.node.lazurite tiny';
    const version = await ctx.store.transaction((tx) =>
      resolvePoolImage(
        tx,
        aad,
        west,
        { imageReference: { virtualMachineImageId: id('gen', '1.0.0') }, nodeAgentSKUId: tiny },
        ctx.clock.now(),
      ),
    );
    assert.deepEqual(
      [version.kind, version.exactVersion, version.inAccountRegion],
      ['gallery', '1.0.0', true],
    );
    const latest = await ctx.store.transaction((tx) =>
      resolvePoolImage(
        tx,
        aad,
        west,
        { imageReference: { virtualMachineImageId: id('gen') }, nodeAgentSKUId: tiny },
        ctx.clock.now(),
      ),
    );
    assert.equal(latest.exactVersion, '1.0.0');
    const east = await ctx.store.transaction((tx) =>
      resolvePoolImage(
        tx,
        aad,
        { ...west, location: 'eastus' },
        { imageReference: { virtualMachineImageId: id('gen', '1.0.0') }, nodeAgentSKUId: tiny },
        ctx.clock.now(),
      ),
    );
    assert.equal(
      east.inAccountRegion,
      false,
      'no replica in the account region: allocation will fail, the add does not',
    );
  });

  test('each rule answers with its own error', async () => {
    const { ctx, id, principals } = await world();
    const run = (who: PoolCaller, ref: Record<string, unknown>, sku: string, account = west) =>
      code(
        ctx.store.transaction((tx) =>
          resolvePoolImage(tx, who, account, { imageReference: ref, nodeAgentSKUId: sku }, ctx.clock.now()),
        ),
      );
    const gen = { virtualMachineImageId: id('gen', '1.0.0') };
    assert.equal(await run({ scheme: 'SharedKey' }, gen, 'batch.node.lazurite tiny'), 'AuthenticationFailed');
    assert.equal(await run(aad, gen, 'batch.node.nope 1'), 'NodeAgentSKUNotFound');
    assert.match(await run(aad, gen, 'batch.node.windows amd64'), /^InvalidPropertyValue: .*is for windows/);
    assert.match(
      await run(aad, gen, 'batch.node.ubuntu 20.04'),
      /^InvalidPropertyValue: .*derives from 'lazurite:tiny:busybox'/,
    );
    assert.match(
      await run(aad, { virtualMachineImageId: id('spec', '1.0.0') }, 'batch.node.lazurite tiny'),
      /Specialized/,
    );
    assert.match(
      await run(aad, { virtualMachineImageId: id('gen', '9.9.9') }, 'batch.node.lazurite tiny'),
      /does not exist/,
    );
    assert.match(
      await run(aad, { ...gen, publisher: 'x' }, 'batch.node.lazurite tiny'),
      /cannot be combined/,
    );
    const { principal } = await principals.create({ tenantId: WELL_KNOWN.tenantId, displayName: 'no-role' });
    const nobody: PoolCaller = {
      scheme: 'AAD',
      caller: { objectId: principal.objectId, tenantId: principal.tenantId, appId: principal.appId },
    };
    assert.equal(await run(nobody, gen, 'batch.node.lazurite tiny'), 'AuthorizationFailed');
    assert.equal(
      await run(aad, { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' }, 'batch.node.lazurite tiny'),
      'ok',
    );
    assert.match(
      await run(aad, { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' }, 'batch.node.debian 12'),
      /InvalidPropertyValue/,
    );
  });

  test('a Specialized managed image is refused for a pool, a Generalized one resolves', async () => {
    const { ctx } = await world();
    const managed = (name: string) =>
      code(
        ctx.store.transaction((tx) =>
          resolvePoolImage(
            tx,
            aad,
            west,
            {
              imageReference: {
                virtualMachineImageId: `/subscriptions/${SUB}/resourceGroups/${WELL_KNOWN.resourceGroup}/providers/Microsoft.Compute/images/${name}`,
              },
              nodeAgentSKUId: 'batch.node.lazurite tiny',
            },
            ctx.clock.now(),
          ),
        ),
      );
    assert.equal(await managed('managed-gen'), 'ok');
    assert.match(await managed('managed-spec'), /^InvalidPropertyValue: .*'managed-spec' is Specialized/);
  });

  test('R3: an image whose lineage has extensions, encryption or a purchase plan is refused', async () => {
    const { ctx, id } = await world();
    for (const lineage of [
      { extensions: ['CustomScript'] },
      { osDiskEncrypted: true },
      { purchasePlan: { name: 'x', product: 'y', publisher: 'z' } },
    ]) {
      await ctx.store.transaction(async (tx) => {
        const v = await tx.findComputeResource(id('gen', '1.0.0'));
        if (v)
          await tx.putComputeResource({
            ...v,
            lineage: { ...v.lineage, extensions: [], osDiskEncrypted: false, purchasePlan: null, ...lineage },
          });
      });
      const result = await code(
        ctx.store.transaction((tx) =>
          resolvePoolImage(
            tx,
            aad,
            west,
            {
              imageReference: { virtualMachineImageId: id('gen', '1.0.0') },
              nodeAgentSKUId: 'batch.node.lazurite tiny',
            },
            ctx.clock.now(),
          ),
        ),
      );
      assert.match(
        result,
        /^InvalidPropertyValue: .*(extensions|encrypted|purchase plan)/,
        JSON.stringify(lineage),
      );
    }
  });

  test('R12: an image in another subscription needs the same tenant and Microsoft.Batch registered there', async () => {
    const { ctx, id } = await world();
    const other = '6c6f6361-6c00-4a7a-8000-0000000000a2';
    await ctx.store.transaction(async (tx) => {
      await tx.putSubscription({
        id: other,
        tenantId: WELL_KNOWN.tenantId,
        displayName: 'other',
        state: 'Enabled',
      });
      await tx.putRoleAssignment({
        name: '00000000-0000-4000-8000-00000000ee01',
        scope: `/subscriptions/${other}`,
        roleDefinitionName: OWNER_ROLE_ID,
        principalId: owner.objectId,
        principalType: 'ServicePrincipal',
        description: null,
        createdOn: '',
        updatedOn: '',
        createdBy: null,
      });
      const v = await tx.findComputeResource(id('gen', '1.0.0'));
      if (v) await tx.putComputeResource({ ...v, id: v.id.replace(SUB, other), subscriptionId: other });
    });
    const otherId = id('gen', '1.0.0').replace(SUB, other);
    const run = () =>
      code(
        ctx.store.transaction((tx) =>
          resolvePoolImage(
            tx,
            aad,
            west,
            {
              imageReference: { virtualMachineImageId: otherId },
              nodeAgentSKUId: 'batch.node.lazurite tiny',
            },
            ctx.clock.now(),
          ),
        ),
      );
    assert.match(await run(), /Microsoft\.Batch resource provider registered/);
    await ctx.store.transaction((tx) =>
      tx.setProviderState({ subscriptionId: other, namespace: 'Microsoft.Batch', state: 'Registered' }),
    );
    assert.equal(await run(), 'ok');
    assert.match(
      await code(
        ctx.store.transaction((tx) =>
          resolvePoolImage(
            tx,
            aad,
            { ...west, tenantId: '00000000-0000-4000-8000-0000000000ff' },
            {
              imageReference: { virtualMachineImageId: otherId },
              nodeAgentSKUId: 'batch.node.lazurite tiny',
            },
            ctx.clock.now(),
          ),
        ),
      ),
      /not in the Batch account's tenant/,
    );
  });

  test('VM sizes are looked up case-insensitively', () => {
    assert.equal(findVmSize('STANDARD_D2S_V3')?.cores, 2);
    assert.equal(findVmSize('standard_nope'), undefined);
  });
});
