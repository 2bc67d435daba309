import { join, resolve } from 'node:path';
import { BlobStore } from './blob-store.ts';

/** Where each configured region keeps its content: `<data-dir>/regions/<name>` unless pointed elsewhere. */
export function regionPaths(
  dataDir: string,
  regions: readonly string[],
  overrides: Record<string, string>,
): Record<string, string> {
  return Object.fromEntries(regions.map((r) => [r, resolve(overrides[r] ?? join(dataDir, 'regions', r))]));
}

/** One blob store per configured region, opened lazily. */
export class RegionStores {
  private readonly paths: Record<string, string>;
  private readonly opened = new Map<string, Promise<BlobStore>>();

  constructor(paths: Record<string, string>) {
    this.paths = paths;
  }

  names(): string[] {
    return Object.keys(this.paths);
  }

  has(region: string): boolean {
    return region in this.paths;
  }

  get(region: string): Promise<BlobStore> {
    const path = this.paths[region];
    if (path === undefined) return Promise.reject(new Error(`region '${region}' is not configured`));
    let store = this.opened.get(region);
    if (!store) {
      store = BlobStore.open(path);
      this.opened.set(region, store);
    }
    return store;
  }
}
