import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegionStores } from '../../content/regions.ts';
import { packDirectory, putManifest } from '../../content/manifests.ts';
import {
  buildDebianRootfs,
  debootstrapRootfs,
  MirrorUnreachableError,
  UBUNTU_KEYRING,
  ubuntuMirror,
  type BuildProgress,
} from '../../content/rootfs/debootstrap.ts';
import { importRootfs, readOsReleaseText } from '../../content/rootfs/import.ts';
import { buildTinyRootfs } from '../../content/rootfs/tiny.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { BaseImageRecord } from '../../storage/records.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { DomainError, invalidInput } from '../errors.ts';
import { BASE_IMAGES, type CatalogImage } from './catalog.ts';
import { describeRelease, parseOsRelease, releaseFitsSku } from './os-release.ts';

/** Short names for the entries Lazurite can build itself. */
export const BUILDABLE = {
  tiny: 'lazurite:tiny:busybox',
  'debian-12': 'debian:debian-12:12',
  'ubuntu-16.04': 'canonical:ubuntuserver:16.04-lts',
  'ubuntu-18.04': 'canonical:ubuntuserver:18.04-lts',
  'ubuntu-20.04': 'canonical:0001-com-ubuntu-server-focal:20_04-lts',
} as const;

/** The debootstrap script (Debian's debootstrap ships Ubuntu's) of each buildable Ubuntu entry. */
const UBUNTU_SUITES: Record<string, string> = {
  [BUILDABLE['ubuntu-16.04']]: 'xenial',
  [BUILDABLE['ubuntu-18.04']]: 'bionic',
  [BUILDABLE['ubuntu-20.04']]: 'focal',
};

export interface BuildOptions {
  force?: boolean;
  onProgress?: (p: BuildProgress) => void;
  /** Ubuntu builds: the archive to debootstrap from (default: Ubuntu's archive, or ports on arm64). */
  mirror?: string | undefined;
  /** Ubuntu builds: the keyring the Release file is checked with (default: Debian's ubuntu-keyring file). */
  keyring?: string | undefined;
}

export const catalogKey = (i: { publisher: string; offer: string; sku: string }): string =>
  `${i.publisher}:${i.offer}:${i.sku}`.toLowerCase();

export interface BaseImageView {
  entry: CatalogImage;
  image: BaseImageRecord | undefined;
}

/** Resolves a short name (`tiny`, `debian-12`, `ubuntu-18.04`, ...) or `publisher:offer:sku[:latest]`. */
export function findCatalogEntry(ref: string): CatalogImage {
  const short = (BUILDABLE as Record<string, string>)[ref];
  const key = short ?? ref.toLowerCase().replace(/:latest$/, '');
  const entry = BASE_IMAGES.find((i) => catalogKey(i) === key);
  if (!entry) {
    throw invalidInput(
      'ImageNotFound',
      `'${ref}' is not in the base image catalog (use publisher:offer:sku or one of ${Object.keys(BUILDABLE).join(', ')}).`,
      'image',
    );
  }
  return entry;
}

/** R9 where the bytes come in: the root file system's /etc/os-release must be the node agent SKU's OS. */
async function checkOsRelease(entry: CatalogImage, dir: string): Promise<void> {
  const text = await readOsReleaseText(dir);
  const release = text === undefined ? undefined : parseOsRelease(text);
  if (releaseFitsSku(entry.nodeAgentSkuId, release) === false) {
    throw invalidInput(
      'OSReleaseMismatch',
      `${release === undefined ? 'The root file system has no /etc/os-release' : `The root file system is ${describeRelease(release)} by its /etc/os-release`}, but '${catalogKey(entry)}' runs the node agent SKU '${entry.nodeAgentSkuId}'.`,
      'image',
    );
  }
}

function mirrorUnreachable(err: MirrorUnreachableError, key: string): DomainError {
  return invalidInput(
    'MirrorUnreachable',
    `cannot build '${key}': ${err.message}; without a reachable mirror, build or download a root file system elsewhere and run: lazurite images import ${key} <rootfs.tar|oci-archive>`,
    'mirror',
  );
}

/**
 * Base images (R1): which catalog entries have a root file system, building the ones Lazurite can build
 * (busybox tiny, Debian 12 and Ubuntu 16.04/18.04/20.04 with debootstrap) and importing others from a tarball or
 * OCI image; either way the root file system's /etc/os-release must be the entry's node agent SKU's OS.
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

  /** Builds `tiny`, `debian-12` or an Ubuntu release (debootstrap) unless already present (or `force`). */
  async build(ref: string, options: BuildOptions = {}): Promise<BaseImageRecord> {
    const entry = findCatalogEntry(ref);
    const key = catalogKey(entry);
    const suite = UBUNTU_SUITES[key];
    if (key !== BUILDABLE.tiny && key !== BUILDABLE['debian-12'] && suite === undefined) {
      throw invalidInput(
        'ImageNotBuildable',
        `Lazurite can build ${Object.keys(BUILDABLE).join(', ')}; import '${key}' from a root file system instead.`,
        'image',
      );
    }
    const existing = await this.ctx.store.transaction((tx) => tx.findBaseImage(key));
    if (existing && options.force !== true) return existing;
    const progress = options.onProgress ?? (() => undefined);
    if (suite !== undefined) return this.buildUbuntu(entry, suite, options, progress);
    return this.fromDirectory(entry, key === BUILDABLE.tiny ? 'busybox' : 'debootstrap', async (dir) => {
      if (key === BUILDABLE.tiny) await buildTinyRootfs(dir);
      else await buildDebianRootfs(dir, progress);
    });
  }

  private buildUbuntu(
    entry: CatalogImage,
    suite: string,
    options: BuildOptions,
    progress: (p: BuildProgress) => void,
  ): Promise<BaseImageRecord> {
    const key = catalogKey(entry);
    const keyring = options.keyring ?? UBUNTU_KEYRING;
    if (!existsSync(keyring)) {
      throw invalidInput(
        'KeyringNotFound',
        `cannot build '${key}': no Ubuntu archive keyring at ${keyring} to check the mirror's Release file with (give one with --keyring); or run: lazurite images import ${key} <rootfs.tar|oci-archive>`,
        'keyring',
      );
    }
    const mirror = options.mirror ?? ubuntuMirror();
    return this.fromDirectory(entry, 'debootstrap', async (dir) => {
      try {
        await debootstrapRootfs(dir, { suite, mirror, keyring }, progress);
      } catch (err) {
        if (err instanceof MirrorUnreachableError) throw mirrorUnreachable(err, key);
        throw err;
      }
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
      await checkOsRelease(entry, dir);
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
