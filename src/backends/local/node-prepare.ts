import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NODE_ROOT_DIR, type NodeSpec, type NodeUserAccount } from '../port.ts';
import type { DiskPlan } from './node-disks.ts';
import { userLines, type UserLines } from './node-users.ts';
import { autoUserPresent, BATCH_DIRS, checkInsideNode, entryAt, type HolderSpec } from './node-sandbox.ts';

/** An image ready for nodes on this host, with what booting a fresh node from it needs checked once. */
export interface PreparedImage {
  lower: string;
  /** The image's node layer (an overlay lower above it): the users it lacks (node-users.ts). */
  layer: string | undefined;
  disks: DiskPlan[];
  /** Whether the image (with its node layer) names the auto-user in /etc/passwd and /etc/group already. */
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

/** Gives `path` the mode, owner and times of `like`. */
async function sameAttributes(path: string, like: string): Promise<void> {
  const st = await lstat(like);
  await chown(path, st.uid, st.gid);
  await chmod(path, st.mode & 0o7777);
  await utimes(path, st.atime, st.mtime);
}

/** Whether the image's /etc/<file> names `name` (a line starting `name:`). */
async function imageNames(
  lower: string,
): Promise<(file: 'passwd' | 'group' | 'shadow', name: string) => boolean> {
  const names = new Map<string, Set<string>>();
  for (const file of ['passwd', 'group', 'shadow']) {
    const path = join(lower, 'etc', file);
    const text = (await entryAt(path)) === 'file' ? await readFile(path, 'utf8') : '';
    names.set(file, new Set(text.split('\n').map((l) => l.slice(0, l.indexOf(':')))));
  }
  return (file, name) => names.get(file)?.has(name) === true;
}

/** Writes `<tmp>/etc/<name>`: the image's file (its mode, owner and times) with `lines` appended. */
async function extendFile(tmp: string, lower: string, name: string, lines: string[], mode: number) {
  const image = join(lower, 'etc', name);
  const file = (await entryAt(image)) === 'file';
  const text = file ? await readFile(image) : Buffer.alloc(0);
  const sep = text.length > 0 && text[text.length - 1] !== 0x0a ? '\n' : '';
  const target = join(tmp, 'etc', name);
  await writeFile(target, Buffer.concat([text, Buffer.from(`${sep}${lines.join('\n')}\n`)]), { mode });
  if (file) await sameAttributes(target, image);
}

/**
 * The node layer of an image (ADR 0017, 0026): its /etc/passwd, /etc/group and /etc/shadow with the lines of
 * node-users.ts appended where the image lacks them (the auto-users, the shared folder's group, the pool's
 * accounts), and a sudoers rule per admin account, so a fresh node's upper needs no copy of /etc. Made once per
 * image, host and set of lines (`<layers>/<hash>`, renamed into place: never changed while a node uses it), in a
 * 0700 folder (the shadow lines hold password hashes). Only for an image whose /etc is a folder and whose files
 * were checked (no links); otherwise undefined and each node's set-up appends the pool auto-user, as before.
 */
async function nodeLayer(layersDir: string, lower: string, lines: UserLines): Promise<string | undefined> {
  const files = (['passwd', 'group', 'shadow'] as const).filter((f) => lines[f].length > 0);
  if (files.length === 0 && lines.sudoers.length === 0) return undefined;
  if ((await entryAt(join(lower, 'etc'))) !== 'dir') return undefined;
  const hash = createHash('sha256').update(`v2\0${lower}\0${JSON.stringify(lines)}`);
  const dir = join(layersDir, hash.digest('hex').slice(0, 32));
  if (existsSync(dir)) return dir;
  await mkdir(layersDir, { recursive: true, mode: 0o700 });
  await chmod(layersDir, 0o700);
  const tmp = `${dir}.tmp-${randomUUID()}`;
  try {
    await mkdir(join(tmp, 'etc'), { recursive: true });
    await sameAttributes(join(tmp, 'etc'), join(lower, 'etc'));
    for (const name of files)
      await extendFile(tmp, lower, name, lines[name], name === 'shadow' ? 0o600 : 0o644);
    if (lines.sudoers.length > 0) {
      const sudoers = join(tmp, 'etc', 'sudoers.d');
      await mkdir(sudoers, { mode: 0o755 });
      if ((await entryAt(join(lower, 'etc', 'sudoers.d'))) === 'dir')
        await sameAttributes(sudoers, join(lower, 'etc', 'sudoers.d'));
      await writeFile(join(sudoers, 'lazurite-accounts'), `${lines.sudoers.join('\n')}\n`, { mode: 0o440 });
    }
    await rename(tmp, dir).catch((err: unknown) => {
      if (!existsSync(dir)) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** The node layer's files, which must be plain files (or absent) in the image: checked like the set-up's paths. */
function layerPaths(lines: UserLines): [string, boolean][] {
  const files = (['passwd', 'group', 'shadow'] as const).filter((f) => lines[f].length > 0);
  return [
    ...files.map((f): [string, boolean] => [`/etc/${f}`, true]),
    ...(lines.sudoers.length > 0 ? [['/etc/sudoers.d/lazurite-accounts', true] as [string, boolean]] : []),
  ];
}

/** An image ready for nodes of a pool with `accounts` (its node layer made for them). */
export async function prepareImage(
  lower: string,
  disks: DiskPlan[],
  layersDir: string,
  accounts: NodeUserAccount[] = [],
): Promise<PreparedImage> {
  const user = await autoUserPresent([lower]);
  const add = { passwd: !user.passwd, group: !user.group };
  const lines = userLines(accounts, await imageNames(lower));
  const unsafe = await firstUnsafe(lower, lower, [...mergedPaths(disks, add), ...layerPaths(lines)]);
  const layer = unsafe === undefined ? await nodeLayer(layersDir, lower, lines) : undefined;
  return { lower, layer, disks, user: layer === undefined ? user : { passwd: true, group: true }, unsafe };
}

/** The Batch folders, relative to a node's root (the node-up helper makes them itself). */
export const BATCH_FOLDERS = BATCH_DIRS.map((leaf) => `${NODE_ROOT_DIR.slice(1)}/${leaf}`);

/**
 * Creates the node's disk folders (upper, work) and checks every path the set-up will touch inside the node (the
 * Batch folders are made by node-up): a fresh node is its
 * image (checked once per image); a node with a disk is checked layer by layer, since it may have planted links.
 * `at`: the mount points the node's root and its idmapped layers go on (in its own mount namespace);
 * `idBase`: the node's range of host ids.
 */
export async function prepareNode(
  node: NodeSpec,
  dir: string,
  image: PreparedImage,
  at: { merged: string; layerAt: string },
  idBase: (nodeId: string) => Promise<number>,
): Promise<HolderSpec> {
  const upper = join(dir, 'upper');
  const fresh = !existsSync(upper);
  const disks = image.disks.map((d) => ({
    lower: d.lower,
    upper: join(dir, 'disks', `lun${d.lun}`, 'upper'),
    work: join(dir, 'disks', `lun${d.lun}`, 'work'),
    mountPoint: d.mountPoint,
  }));
  for (const d of [upper, join(dir, 'work'), ...disks.flatMap((d) => [d.upper, d.work])])
    await mkdir(d, { recursive: true });
  const lowers = image.layer === undefined ? [image.lower] : [image.layer, image.lower];
  const user = fresh ? image.user : await autoUserPresent([upper, ...lowers]);
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
  return {
    fresh,
    nodeId: node.nodeId,
    nodeDir: dir,
    hostname: node.hostname,
    lower: lowers.join(':'),
    upper,
    work: join(dir, 'work'),
    merged: at.merged,
    layerAt: at.layerAt,
    idBase: await idBase(node.nodeId),
    disks,
    devSizeMB: Math.max(64, Math.floor(node.size.memoryMB / 2)),
    addUser,
  };
}
