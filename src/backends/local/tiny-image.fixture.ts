import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { packDirectory, putManifest } from '../../content/manifests.ts';
import { regionPaths, RegionStores } from '../../content/regions.ts';
import { buildTinyRootfs } from '../../content/rootfs/tiny.ts';
import type { NodeImage } from '../port.ts';

/**
 * For tests and benchmarks of the local executor: the region stores of `dataDir` with the tiny busybox root
 * file system packed into them, and that image as a node image (no data disks).
 */
export async function tinyNodeImage(
  dataDir: string,
  region = 'westeurope',
): Promise<{ regions: RegionStores; image: NodeImage }> {
  const regions = new RegionStores(regionPaths(dataDir, [region], {}));
  const store = await regions.get(region);
  const root = join(dataDir, 'build');
  mkdirSync(root);
  await buildTinyRootfs(root);
  const layers = [await packDirectory(store, root)];
  const image: NodeImage = {
    region,
    osManifest: await putManifest(store, { kind: 'filesystem', sizeGB: 1, layers }),
    dataDisks: [],
  };
  return { regions, image };
}
