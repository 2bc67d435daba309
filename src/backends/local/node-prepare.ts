import { existsSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NODE_ROOT_DIR, type NodeSpec } from '../port.ts';
import type { DiskPlan } from './node-disks.ts';
import { autoUserPresent, BATCH_DIRS, checkInsideNode, entryAt, type HolderSpec } from './node-sandbox.ts';

/** An image ready for nodes on this host, with what booting a fresh node from it needs checked once. */
export interface PreparedImage {
  lower: string;
  disks: DiskPlan[];
  /** Whether the image's /etc/passwd and /etc/group name the auto-user already. */
  user: { passwd: boolean; group: boolean };
  /** The first path the set-up would touch that is a link in the image (such an image cannot boot). */
  unsafe: string | undefined;
}

/** Paths the host-side set-up resolves in the node's merged root (mount points, the files it appends to). */
function mergedPaths(disks: DiskPlan[], addUser: { passwd: boolean; group: boolean }): [string, boolean][] {
  return [
    ['/proc', false],
    ['/dev', false],
    ...disks.map((d): [string, boolean] => [d.mountPoint, false]),
    ...(addUser.passwd ? [['/etc/passwd', true] as [string, boolean]] : []),
    ...(addUser.group ? [['/etc/group', true] as [string, boolean]] : []),
  ];
}

async function firstUnsafe(upper: string, lower: string, paths: [string, boolean][]) {
  for (const [p, file] of paths) if (!(await checkInsideNode(upper, lower, p, file))) return p;
  return undefined;
}

export async function prepareImage(lower: string, disks: DiskPlan[]): Promise<PreparedImage> {
  const user = await autoUserPresent(lower, lower);
  const add = { passwd: !user.passwd, group: !user.group };
  return { lower, disks, user, unsafe: await firstUnsafe(lower, lower, mergedPaths(disks, add)) };
}

/**
 * The Batch folders, made directly in the upper before it is mounted (no process, no copy-up): a folder in the
 * upper merges with the image's. Only folders or nothing may be on the way (checked by the caller); a
 * whiteout (the node deleted the folder) is removed, which brings the image's folder back.
 */
async function batchFolders(upper: string): Promise<void> {
  for (const leaf of BATCH_DIRS) {
    const parts = `${NODE_ROOT_DIR.slice(1)}/${leaf}`.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = join(upper, ...parts.slice(0, i));
      const kind = await entryAt(dir);
      if (kind === 'dir') continue;
      if (kind === 'whiteout') await rm(dir);
      await mkdir(dir);
      await chmod(dir, 0o755);
    }
  }
}

/**
 * Creates the node's folders and checks every path the set-up will touch inside the node: a fresh node is its
 * image (checked once per image); a node with a disk is checked layer by layer, since it may have planted links.
 */
export async function prepareNode(
  node: NodeSpec,
  dir: string,
  image: PreparedImage,
  files: { devTemplate: string; fstabFile: string },
): Promise<HolderSpec> {
  const upper = join(dir, 'upper');
  const fresh = !existsSync(upper);
  const disks = image.disks.map((d) => ({
    lower: d.lower,
    upper: join(dir, 'disks', `lun${d.lun}`, 'upper'),
    work: join(dir, 'disks', `lun${d.lun}`, 'work'),
    mountPoint: d.mountPoint,
  }));
  for (const d of [upper, join(dir, 'work'), join(dir, 'merged'), ...disks.flatMap((d) => [d.upper, d.work])])
    await mkdir(d, { recursive: true });
  const user = fresh ? image.user : await autoUserPresent(upper, image.lower);
  const addUser = { passwd: !user.passwd, group: !user.group };
  let unsafe = fresh
    ? image.unsafe
    : await firstUnsafe(upper, image.lower, mergedPaths(image.disks, addUser));
  // The Batch folders are made in the upper itself: only the upper's entries matter on their way.
  if (!fresh && unsafe === undefined)
    for (const d of BATCH_DIRS)
      if (!(await checkInsideNode(upper, join(dir, 'no-lower'), `${NODE_ROOT_DIR}/${d}`)))
        unsafe = `${NODE_ROOT_DIR}/${d}`;
  if (unsafe !== undefined)
    throw new Error(`node ${node.nodeId}: ${unsafe} is a link or not a folder on its disk; it cannot boot`);
  await batchFolders(upper);
  return {
    nodeId: node.nodeId,
    nodeDir: dir,
    hostname: node.hostname,
    lower: image.lower,
    upper,
    work: join(dir, 'work'),
    merged: join(dir, 'merged'),
    disks,
    devTemplate: files.devTemplate,
    devSizeMB: Math.max(64, Math.floor(node.size.memoryMB / 2)),
    fstabFile: files.fstabFile,
    addUser,
  };
}
