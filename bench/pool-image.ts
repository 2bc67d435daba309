import { join } from 'node:path';
import { VmHost } from '../src/backends/local/vm-host.ts';
import type { RegionStores } from '../src/content/regions.ts';
import type { Caller } from '../src/domain/authorization/access.ts';
import type { DomainContext } from '../src/domain/context.ts';
import { DiskService } from '../src/domain/compute/disks.ts';
import { GalleryService } from '../src/domain/compute/gallery.ts';
import { ReplicationReconciler } from '../src/domain/compute/replication.ts';
import { VmService } from '../src/domain/compute/vms.ts';
import { WELL_KNOWN } from '../src/domain/environment/well-known.ts';
import { BaseImageService } from '../src/domain/images/base-images.ts';

const SUB = WELL_KNOWN.subscriptionId;
const owner: Caller = {
  objectId: WELL_KNOWN.principalObjectId,
  tenantId: WELL_KNOWN.tenantId,
  appId: WELL_KNOWN.clientId,
};
const at = (...pairs: [string, string][]) => ({
  subscriptionId: SUB,
  resourceGroup: WELL_KNOWN.resourceGroup,
  segments: pairs.map(([type, name]) => ({ type, name })),
});

/** A gallery image version (tiny base, generalized Linux) replicated to westeurope with `replicas` replicas. */
export async function galleryVersionFromTiny(
  ctx: DomainContext,
  regions: RegionStores,
  dir: string,
  replicas: number,
): Promise<string> {
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
  const disk = await disks.putDiskOrSnapshot(owner, at(['disks', 'd']), {
    location: 'westeurope',
    properties: { creationData: { createOption: 'FromImage', imageReference: { id: platform } } },
  });
  await gallery.putGallery(owner, at(['galleries', 'g']), { location: 'westeurope' });
  await gallery.putDefinition(owner, at(['galleries', 'g'], ['images', 'tool']), {
    location: 'westeurope',
    properties: {
      osType: 'Linux',
      osState: 'Generalized',
      identifier: { publisher: 'p', offer: 'o', sku: 's' },
    },
  });
  await gallery.putVersion(owner, at(['galleries', 'g'], ['images', 'tool'], ['versions', '1.0.0']), {
    location: 'westeurope',
    properties: {
      storageProfile: { osDiskImage: { source: { id: disk.resource.id } } },
      publishingProfile: { targetRegions: [{ name: 'westeurope', regionalReplicaCount: replicas }] },
    },
  });
  await new ReplicationReconciler(ctx, regions).tick();
  return `/subscriptions/${SUB}/resourceGroups/${WELL_KNOWN.resourceGroup}/providers/Microsoft.Compute/galleries/g/images/tool/versions/1.0.0`;
}
