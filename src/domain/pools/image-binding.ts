import type { Digest } from '../../content/blob-store.ts';
import { readManifest } from '../../content/manifests.ts';
import type { RegionStores } from '../../content/regions.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { PoolImageBinding } from '../../storage/records.ts';
import { catalogKey } from '../images/base-images.ts';
import type { PoolImage } from './image-rules.ts';
import { invalidProperty } from './pool-spec.ts';

/** Where a pool's nodes get their bytes: the image manifest read from the account region's replica. */
export async function bindPoolImage(
  tx: StoreTx,
  regions: RegionStores,
  image: PoolImage,
  imageReference: Record<string, unknown>,
  location: string,
): Promise<PoolImageBinding> {
  if (image.kind === 'marketplace') {
    const key = catalogKey({
      publisher: String(imageReference.publisher),
      offer: String(imageReference.offer),
      sku: String(imageReference.sku),
    });
    const base = await tx.findBaseImage(key);
    if (!base) {
      throw invalidProperty(
        'imageReference',
        `The base image '${key}' has no root file system on this server yet. Build or import it: lazurite images build tiny | lazurite images import ${key} <rootfs>.`,
      );
    }
    return {
      kind: 'marketplace',
      source: key,
      region: base.region,
      osManifest: base.manifest,
      dataDisks: [],
      replicaCount: 1,
      available: true,
    };
  }
  const resource = image.resource;
  if (!resource?.content) throw new Error('custom image without content');
  const replicaCount =
    image.kind === 'gallery'
      ? ((await tx.listReplicas(resource.id)).find((r) => r.region === location && r.state === 'Completed')
          ?.replicaCount ?? 0)
      : 1;
  const binding: PoolImageBinding = {
    kind: image.kind,
    source: resource.id,
    region: location,
    osManifest: '',
    dataDisks: [],
    replicaCount,
    available: image.inAccountRegion,
  };
  if (!image.inAccountRegion) return binding;
  const manifest = await readManifest(await regions.get(location), resource.content.manifest as Digest);
  if (manifest.kind !== 'image') throw new Error(`${resource.id} content is not an image manifest`);
  return {
    ...binding,
    osManifest: manifest.osDisk,
    dataDisks: manifest.dataDisks.map((d) => ({ lun: d.lun, manifest: d.disk })),
  };
}

/**
 * The pool's operating system as the portal's pool summary names it: "Custom VM image" for a pool from a managed
 * or gallery image (the seed 001 check), else the marketplace image as publisher, offer and SKU.
 */
export function poolOsLabel(image: { kind: PoolImageBinding['kind']; source: string }): string {
  return image.kind === 'marketplace' ? image.source : 'Custom VM image';
}
