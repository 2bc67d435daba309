import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isDigest, type Digest } from '../../content/blob-store.ts';
import { unpackFilesystem, writeRawFile } from '../../content/manifests.ts';
import type { RegionStores } from '../../content/regions.ts';

const run = promisify(execFile);

/** A data disk's file system, mounted read-only once per host. */
export interface MountedDisk {
  /** Where the file system is mounted (read-only) on the host. */
  dir: string;
  type: string;
  uuid?: string;
  label?: string;
}

const hexOf = (manifest: string): string => {
  if (!isDigest(manifest)) throw new Error(`not a manifest digest: ${manifest}`);
  return manifest.slice('sha256:'.length);
};

/** Decodes the octal escapes (`\040` for a space) mount tables use in paths. */
const unescapeMount = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Mount points of this process's mount namespace. */
export async function mountPoints(): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  return table
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map(unescapeMount);
}

/** What `blkid` finds in a disk image; undefined when it holds no file system it knows. */
async function probe(file: string): Promise<Record<string, string> | undefined> {
  try {
    const { stdout } = await run('blkid', ['-p', '-o', 'export', file]);
    const fields = Object.fromEntries(
      stdout
        .split('\n')
        .map((l) => l.split('='))
        .filter((kv) => kv.length >= 2)
        .map(([k, ...v]) => [k, v.join('=')]),
    ) as Record<string, string>;
    return fields.TYPE !== undefined && fields.USAGE !== 'raid' ? fields : undefined;
  } catch {
    return undefined; // exit 2: nothing found
  }
}

/**
 * What hosts keep once per image, shared by VMs and nodes under `<dataDir>/cache`:
 * - `rootfs/<digest-hex>/root`: a filesystem manifest unpacked (the read-only overlay lower), `.complete` beside
 *   it once finished. Unpacks go to a temporary folder renamed into place, so two processes never see a half tree;
 * - `disks/<digest-hex>.raw`: a raw disk manifest written out as a sparse file, and `<digest-hex>.mnt`: its file
 *   system loop-mounted read-only (the lower of every node's copy of that data disk).
 * Concurrent callers for the same manifest share one promise.
 */
export class ImageCache {
  private readonly root: string;
  private readonly regions: RegionStores;
  private readonly rootfsDone = new Map<string, Promise<string>>();
  private readonly rawDone = new Map<string, Promise<string>>();
  private readonly mountDone = new Map<string, Promise<MountedDisk | undefined>>();

  constructor(dataDir: string, regions: RegionStores) {
    this.root = join(dataDir, 'cache');
    this.regions = regions;
  }

  private swept: Promise<void> | undefined;

  /** Removes half-written entries an interrupted process left (older than an hour: never one in progress). */
  private sweep(): Promise<void> {
    this.swept ??= (async () => {
      for (const sub of ['rootfs', 'disks']) {
        const dir = join(this.root, sub);
        for (const name of await readdir(dir).catch(() => [])) {
          if (!name.includes('.tmp-')) continue;
          const st = await stat(join(dir, name)).catch(() => undefined);
          if (st && Date.now() - st.mtimeMs > 3_600_000)
            await rm(join(dir, name), { recursive: true, force: true });
        }
      }
    })();
    return this.swept;
  }

  /** Shares one promise per key; a failure is forgotten so the next caller retries. */
  private once<T>(map: Map<string, Promise<T>>, key: string, work: () => Promise<T>): Promise<T> {
    let p = map.get(key);
    if (!p) {
      p = work();
      map.set(key, p);
      p.catch(() => map.delete(key));
    }
    return p;
  }

  /** The unpacked root file system of a filesystem manifest (read-only: never write into it). */
  rootfs(region: string, manifest: string): Promise<string> {
    const hex = hexOf(manifest);
    return this.once(this.rootfsDone, hex, async () => {
      const dir = join(this.root, 'rootfs', hex);
      if (existsSync(join(dir, '.complete'))) return join(dir, 'root');
      await this.sweep();
      const tmp = `${dir}.tmp-${randomUUID()}`;
      try {
        await unpackFilesystem(await this.regions.get(region), manifest as Digest, join(tmp, 'root'));
        await writeFile(join(tmp, '.complete'), '');
        if (!existsSync(join(dir, '.complete'))) {
          await rm(dir, { recursive: true, force: true }); // a partial unpack by an older version
          await rename(tmp, dir);
        }
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      return join(dir, 'root');
    });
  }

  /** A raw disk manifest as a sparse file (read-only: never write into it). */
  rawDisk(region: string, manifest: string): Promise<string> {
    const hex = hexOf(manifest);
    return this.once(this.rawDone, hex, async () => {
      const file = join(this.root, 'disks', `${hex}.raw`);
      if (existsSync(file)) return file;
      await this.sweep();
      await mkdir(join(this.root, 'disks'), { recursive: true });
      const tmp = `${file}.tmp-${randomUUID()}`;
      try {
        await writeRawFile(await this.regions.get(region), manifest as Digest, tmp);
        await rename(tmp, file);
      } finally {
        await rm(tmp, { force: true });
      }
      return file;
    });
  }

  /**
   * A raw disk's file system mounted read-only on the host (the loop device is set up read-only by mount(8) with
   * autoclear, so it goes away with the last mount); undefined when the disk holds no file system.
   */
  mountedDisk(region: string, manifest: string): Promise<MountedDisk | undefined> {
    const hex = hexOf(manifest);
    return this.once(this.mountDone, hex, async () => {
      const file = await this.rawDisk(region, manifest);
      const fs = await probe(file);
      if (!fs?.TYPE) return undefined;
      const dir = join(this.root, 'disks', `${hex}.mnt`);
      if (!(await mountPoints()).includes(dir)) {
        await mkdir(dir, { recursive: true });
        // ext2 and ext3 through the ext4 driver: nodes see this mount through an idmapped mount (ADR 0020), which
        // the ext2 driver does not support.
        const type = /^ext[23]$/.test(fs.TYPE) ? 'ext4' : fs.TYPE;
        const mount = (opts: string) => run('mount', ['-t', type, '-o', opts, file, dir]);
        // A journal left dirty cannot be replayed on a read-only device: mount ext3/4 without replaying it.
        await mount('ro,loop,nodev,nosuid')
          .catch((err: unknown) => {
            if (!/^ext[34]$/.test(fs.TYPE ?? '')) throw err;
            return mount('ro,loop,nodev,nosuid,noload');
          })
          .catch(async (err: unknown) => {
            // Another process sharing this cache (the one-node agents of a Slurm host, ADR 0030) mounted it first.
            if (!(await mountPoints()).includes(dir)) throw err;
          });
      }
      const disk: MountedDisk = { dir, type: fs.TYPE };
      if (fs.UUID) disk.uuid = fs.UUID;
      if (fs.LABEL) disk.label = fs.LABEL;
      return disk;
    });
  }

  /**
   * Unmounts every data disk file system this host mounted (their loop devices detach once no node uses them);
   * the raw files and unpacked roots stay. For tests and for removing images from a host.
   */
  async detachDisks(): Promise<void> {
    this.mountDone.clear();
    const prefix = `${join(this.root, 'disks')}/`;
    for (const m of await mountPoints()) {
      if (!m.startsWith(prefix) || !m.endsWith('.mnt')) continue;
      await run('umount', [m]).catch(() => run('umount', ['-l', m]));
    }
  }
}
