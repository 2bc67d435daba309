import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { compileHelper } from './compile-helper.ts';
import type { NodeSize } from '../port.ts';

const run = promisify(execFile);
const SOURCE = fileURLToPath(new URL('./node-disk.c', import.meta.url));

/** The node-disk helper (node-disk.c: loop device and mount by system calls); throws when it cannot be built. */
export function nodeDiskHelper(dataDir: string): string {
  return compileHelper(dataDir, SOURCE);
}

/** The smallest node disk (`--node-disk-mb` may not go below it): room for the Batch folders and a few tasks. */
export const MIN_NODE_DISK_MB = 32;
const IMAGE_SUFFIX = '.ext4';
const PARTIAL_SUFFIX = '.ext4.partial';
/** node-disk's exit code for a node made before nodes had disks (an `upper/` in its folder, no image). */
const LEGACY_NODE = 3;

const helperError = (err: unknown): Error =>
  new Error(String((err as { stderr?: unknown }).stderr ?? err).trim(), { cause: err });

/**
 * Each local node's own disk (ADR 0025): a sparse ext4 image file `<dataDir>/node-disks/<nodeId>.ext4`,
 * loop-mounted on the host over the node's folder `<dataDir>/nodes/<nodeId>`, so the overlay's `upper/` and
 * `work/` (the node's writable layer, holding AZ_BATCH_NODE_ROOT_DIR: task folders, stdout/stderr, the shared
 * folder) and its data disks' uppers are on it, and the kernel stops the node at its size with ENOSPC. The mount
 * is the host's (in the host's mount namespace, owned by the host's user namespace): node root can neither
 * unmount nor remount it. Sized from the VM size's temporary disk (`tempDiskGB`), capped by `--node-disk-mb`.
 * The file system is made without a journal and with lazily initialised inode tables, and mounted with
 * `noinit_itable` (and without bitmap prefetch or cache flushes: node-disk.c), so a fresh image holds about 0.2 MB
 * of host disk whatever its size. It is made once per size (`<dataDir>/node-disks/templates/<MiB>.ext4`) and copied
 * sparse (its data extents only) for each new node by the same helper exec that mounts it (ADR 0034): the copies
 * share the template's file system UUID, which nothing but the host's mount table sees. No blocks are
 * reserved for root: the overlay writes with its mounter's (host root's) credentials, so the node could use them.
 */
export class NodeOwnDisks {
  private readonly nodesDir: string;
  private readonly imagesDir: string;
  private readonly capMB: number | undefined;
  private readonly helper: string;
  private nodesMade: Promise<void> | undefined;
  /** A freshly made file system per size, copied (sparse) for each new node: one mkfs per size, not per node. */
  private readonly templates = new Map<number, Promise<string>>();

  constructor(options: { nodesDir: string; imagesDir: string; helper: string; capMB?: number | undefined }) {
    if (options.capMB !== undefined && (!Number.isInteger(options.capMB) || options.capMB < MIN_NODE_DISK_MB))
      throw new Error(`node disk size must be an integer of at least ${String(MIN_NODE_DISK_MB)} MB`);
    this.nodesDir = options.nodesDir;
    this.imagesDir = options.imagesDir;
    this.capMB = options.capMB;
    this.helper = options.helper;
  }

  /** The node's disk size in MiB: its size's temporary disk, at most the cap. */
  sizeMB(size: NodeSize): number {
    const own = Math.max(MIN_NODE_DISK_MB, Math.floor(size.tempDiskGB * 1024));
    return this.capMB === undefined ? own : Math.min(own, this.capMB);
  }

  imagePath(nodeId: string): string {
    return join(this.imagesDir, `${nodeId}${IMAGE_SUFFIX}`);
  }

  /** Whether the node's folder is a mount point (of its disk). */
  async mounted(nodeId: string): Promise<boolean> {
    const dir = join(this.nodesDir, nodeId);
    try {
      const [own, parent] = await Promise.all([stat(dir), stat(this.nodesDir)]);
      return own.dev !== parent.dev;
    } catch {
      return false;
    }
  }

  /**
   * Mounts the node's disk over its folder, making the image first for a new node. Returns false for a node made
   * before nodes had disks (its folder holds an `upper/` and there is no image): it keeps its folder on the host's
   * file system.
   */
  async attach(nodeId: string, size: NodeSize): Promise<boolean> {
    const image = this.imagePath(nodeId);
    // One exec of the helper does it all (mounted? legacy node? copy, folder, loop device, mount): ADR 0034.
    const template = existsSync(image) ? '-' : await this.template(this.sizeMB(size));
    await (this.nodesMade ??= mkdir(this.nodesDir, { recursive: true }).then(() => undefined));
    try {
      await run(this.helper, ['attach', template, image, join(this.nodesDir, nodeId)]);
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === LEGACY_NODE) return false;
      throw helperError(err);
    }
  }

  private async helped(args: string[]): Promise<void> {
    try {
      await run(this.helper, args);
    } catch (err) {
      throw helperError(err);
    }
  }

  /** The template image of `sizeMB` (made on first use; `templates/` is left alone by the sweep). */
  private template(sizeMB: number): Promise<string> {
    let made = this.templates.get(sizeMB);
    if (made === undefined) {
      const file = join(this.imagesDir, 'templates', `${String(sizeMB)}${IMAGE_SUFFIX}`);
      made = (async () => {
        await mkdir(join(this.imagesDir, 'templates'), { recursive: true, mode: 0o700 });
        if (!existsSync(file)) await makeImage(file, sizeMB);
        return file;
      })();
      this.templates.set(sizeMB, made);
      made.catch(() => this.templates.delete(sizeMB));
    }
    return made;
  }

  /** Unmounts the node's disk (its loop device detaches with its last mount), keeping the image. */
  async unmount(nodeId: string): Promise<void> {
    if (!(await this.mounted(nodeId))) return;
    // Lazily when something still holds it (a file read in flight): the superblock goes with its last user.
    await this.helped(['umount', join(this.nodesDir, nodeId)]);
  }

  /** Unmounts the node's disk and deletes its image (the node is destroyed). */
  async remove(nodeId: string): Promise<void> {
    await this.unmount(nodeId);
    await rm(this.imagePath(nodeId), { force: true });
    await rm(join(this.imagesDir, `${nodeId}${PARTIAL_SUFFIX}`), { force: true });
  }

  /**
   * Deletes images (and half-made ones) whose node folder is gone: a crash between deleting a node's folder and
   * its image, or while making one. Level-triggered: run at every listing of the nodes.
   */
  async sweep(): Promise<void> {
    if (!existsSync(this.imagesDir)) return;
    for (const name of await readdir(this.imagesDir)) {
      const partial = name.endsWith(PARTIAL_SUFFIX);
      const id = name.slice(0, -(partial ? PARTIAL_SUFFIX : IMAGE_SUFFIX).length);
      if (!partial && !name.endsWith(IMAGE_SUFFIX)) continue;
      if (partial || !existsSync(join(this.nodesDir, id)))
        await rm(join(this.imagesDir, name), { force: true });
    }
  }
}

/**
 * A sparse file of `sizeMB` MiB with an ext4 file system: no journal (a node's scratch disk, like Azure's
 * temporary disk, does not survive what a journal protects against), no resize inode (its reserved GDT blocks
 * would cost 4 MB per node), inode tables left uninitialised. Made under a temporary name and renamed into place.
 */
async function makeImage(image: string, sizeMB: number): Promise<void> {
  const partial = `${image.slice(0, -IMAGE_SUFFIX.length)}.${randomUUID()}${PARTIAL_SUFFIX}`;
  const file = await open(partial, 'w', 0o600);
  try {
    await file.truncate(sizeMB * 1024 * 1024);
  } finally {
    await file.close();
  }
  try {
    await run('mkfs.ext4', [
      '-q',
      '-F',
      '-O',
      '^has_journal,^resize_inode',
      '-E',
      'lazy_itable_init=1,nodiscard',
      '-m',
      '0',
      partial,
    ]);
  } catch (err) {
    await rm(partial, { force: true });
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(
      missing
        ? 'mkfs.ext4 is missing: apt-get install e2fsprogs (local nodes need it for their disks)'
        : `mkfs.ext4 failed for a node disk: ${String((err as { stderr?: unknown }).stderr ?? err)}`,
      { cause: err },
    );
  }
  await rename(partial, image);
}
