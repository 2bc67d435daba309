import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegionStores } from '../../content/regions.ts';
import { packDirectory, putManifest } from '../../content/manifests.ts';
import { buildDebianRootfs, type BuildProgress } from '../../content/rootfs/debootstrap.ts';
import { importRootfs } from '../../content/rootfs/import.ts';
import { buildTinyRootfs } from '../../content/rootfs/tiny.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { BaseImageRecord } from '../../storage/records.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { DomainError, invalidInput } from '../errors.ts';
import { BASE_IMAGES, type CatalogImage } from './catalog.ts';

/** Short names for the entries Lazurite can build itself. */
export const BUILDABLE = { tiny: 'lazurite:tiny:busybox', 'debian-12': 'debian:debian-12:12' } as const;

export const catalogKey = (i: { publisher: string; offer: string; sku: string }): string =>
  `${i.publisher}:${i.offer}:${i.sku}`.toLowerCase();

export interface BaseImageView {
  entry: CatalogImage;
  image: BaseImageRecord | undefined;
}

/** Resolves `tiny`, `debian-12` or `publisher:offer:sku` to a catalog entry. */
export function findCatalogEntry(ref: string): CatalogImage {
  const key = (BUILDABLE as Record<string, string>)[ref] ?? ref.toLowerCase();
  const entry = BASE_IMAGES.find((i) => catalogKey(i) === key);
  if (!entry) {
    throw invalidInput(
      'ImageNotFound',
      `'${ref}' is not in the base image catalog (use publisher:offer:sku, 'tiny' or 'debian-12').`,
      'image',
    );
  }
  return entry;
}

/**
 * Base images (R1): which catalog entries have a root file system, building the ones Lazurite can build
 * (busybox tiny, Debian 12 with debootstrap) and importing others from a tarball or OCI image.
 */
export class BaseImageService {
  private readonly ctx: DomainContext;
  private readonly regions: RegionStores;
  private readonly workDir: string;
  private readonly homeRegion: string;

  constructor(ctx: DomainContext, regions: RegionStores, workDir: string, homeRegion: string) {
    this.ctx = ctx;
    this.regions = regions;
    this.workDir = workDir;
    this.homeRegion = homeRegion;
  }

  list(): Promise<BaseImageView[]> {
    return this.ctx.store.transaction(async (tx) => {
      const present = new Map((await tx.listBaseImages()).map((b) => [b.key, b]));
      return BASE_IMAGES.map((entry) => ({ entry, image: present.get(catalogKey(entry)) }));
    });
  }

  /** The root file system of a catalog entry, or the clear error Azure users need when it cannot run here. */
  requireRunnable(ref: { publisher: string; offer: string; sku: string }): Promise<BaseImageRecord> {
    return this.ctx.store.transaction((tx) => this.requireRunnableIn(tx, ref));
  }

  /** As `requireRunnable`, inside the caller's transaction (store transactions do not nest). */
  async requireRunnableIn(
    tx: StoreTx,
    ref: { publisher: string; offer: string; sku: string },
  ): Promise<BaseImageRecord> {
    const entry = findCatalogEntry(catalogKey(ref));
    if (entry.osType === 'windows') throw windowsUnsupported(entry);
    const image = await tx.findBaseImage(catalogKey(entry));
    if (!image) {
      throw new DomainError(
        'conflict',
        'ImageNotRunnable',
        `The base image '${catalogKey(entry)}' has no root file system on this server yet. Import one with: lazurite images import ${catalogKey(entry)} <rootfs.tar|oci-archive>.`,
        {
          target: 'imageReference',
        },
      );
    }
    return image;
  }

  /** Builds `tiny` or `debian-12` unless already present (or `force`). */
  async build(
    ref: string,
    options: { force?: boolean; onProgress?: (p: BuildProgress) => void } = {},
  ): Promise<BaseImageRecord> {
    const entry = findCatalogEntry(ref);
    const key = catalogKey(entry);
    if (key !== BUILDABLE.tiny && key !== BUILDABLE['debian-12']) {
      throw invalidInput(
        'ImageNotBuildable',
        `Lazurite can build 'tiny' and 'debian-12'; import '${key}' from a root file system instead.`,
        'image',
      );
    }
    const existing = await this.ctx.store.transaction((tx) => tx.findBaseImage(key));
    if (existing && options.force !== true) return existing;
    const progress = options.onProgress ?? (() => undefined);
    return this.fromDirectory(entry, key === BUILDABLE.tiny ? 'busybox' : 'debootstrap', async (dir) => {
      if (key === BUILDABLE.tiny) await buildTinyRootfs(dir);
      else await buildDebianRootfs(dir, progress);
    });
  }

  /** Imports any Linux catalog entry's root file system from a tarball, OCI layout or OCI archive. */
  async import(ref: string, source: string): Promise<BaseImageRecord> {
    const entry = findCatalogEntry(ref);
    if (entry.osType === 'windows') throw windowsUnsupported(entry);
    let kind = 'tarball';
    return this.fromDirectory(
      entry,
      () => `import:${kind}`,
      async (dir) => {
        kind = await importRootfs(source, dir);
      },
    );
  }

  private async fromDirectory(
    entry: CatalogImage,
    source: string | (() => string),
    fill: (dir: string) => Promise<void>,
  ): Promise<BaseImageRecord> {
    const dir = join(this.workDir, `rootfs-${randomUUID()}`);
    await mkdir(dir, { recursive: true });
    try {
      await fill(dir);
      const store = await this.regions.get(this.homeRegion);
      const layer = await packDirectory(store, dir);
      const manifest = await putManifest(store, { kind: 'filesystem', sizeGB: 30, layers: [layer] });
      const record: BaseImageRecord = {
        key: catalogKey(entry),
        manifest,
        region: this.homeRegion,
        source: typeof source === 'string' ? source : source(),
        sizeBytes: await store.size(layer),
        createdAt: isoNow(this.ctx),
      };
      await this.ctx.store.transaction((tx) => tx.putBaseImage(record));
      return record;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function windowsUnsupported(entry: CatalogImage): DomainError {
  return new DomainError(
    'invalid-input',
    'OSTypeNotSupported',
    `'${catalogKey(entry)}' is a Windows image; Lazurite runs Linux nodes only. It is listed because Batch supports it.`,
    {
      target: 'imageReference',
    },
  );
}
