import { lstat, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

/**
 * A node's holder (node-up.c, ADR 0017 and 0020; nodeUpCommand below starts it through the Launcher) is PID 1 of
 * the node's own namespaces. It mounts the overlay root (nodev: device nodes in an image are inert; the image with
 * the node layer of node-prepare.ts below the node's upper, every layer an idmapped mount) on a mount point every
 * node shares (each mounts it in its own namespace only), /proc, a tmpfs /dev with null, zero, full, random,
 * urandom, tty, shm and the fd links, /dev/pts and each data disk's overlay; adds the `_azbatch` user if the
 * node's files lack it, sets the hostname and records its host PID; pivot_roots, detaches the host tree, enters
 * the node's own user namespace, says `ready` and reaps the orphans the kernel hands to PID 1. Its argv carries
 * `lazurite-boot=<id>` until it is complete, then `lazurite-node=<id>`, so a restarted server finds it. Every
 * host-side path the set-up touches inside the node was checked by `checkInsideNode` first: none is a symbolic
 * link that would lead the host's root out of the node.
 */

/** Quotes a value for a POSIX shell. */
export const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Capabilities no node or VM process (nor its holder) keeps in its bounding set: creating device nodes, loading
 * modules, raw I/O, rebooting, the clock, MAC, ptrace and immutable files.
 */
export const NODE_DROPPED_CAPS =
  '-mknod,-sys_module,-sys_rawio,-sys_boot,-sys_time,-mac_admin,-mac_override,-sys_ptrace,-linux_immutable';
export const AUTO_USER = { name: '_azbatch', uid: 1000, gid: 1000, home: '/home/_azbatch' };
export const HOLDER_MARKER = 'lazurite-node=';
/** A node-up holder's marker until it is complete (as long as HOLDER_MARKER: rewritten in place). */
export const BOOT_MARKER = 'lazurite-boot=';
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const BATCH_DIRS = ['startup', 'shared', 'workitems', 'fsmounts'];

export interface HolderSpec {
  nodeId: string;
  nodeDir: string;
  hostname: string;
  /** Whether the node's upper was made just now (holds nothing yet). */
  fresh: boolean;
  /** The overlay's lowerdir: the node layer (if any) above the image, colon-separated. */
  lower: string;
  upper: string;
  work: string;
  merged: string;
  /** An empty host folder the holder mounts the idmapped layers under (in the node's mount namespace only). */
  layerAt: string;
  /** The node's range of host ids: node id k is host id idBase + k (ADR 0020). */
  idBase: number;
  /** Overlays of the data disks, mounted inside the node at `mountPoint`, parents first. */
  disks: { lower: string; upper: string; work: string; mountPoint: string }[];
  devSizeMB: number;
  /** Which parts of the auto-user the node's root still lacks. */
  addUser: { passwd: boolean; group: boolean };
}

/** The auto-user's /etc/passwd and /etc/group lines. */
export const AUTO_USER_LINES = {
  passwd: `${AUTO_USER.name}:x:${AUTO_USER.uid}:${AUTO_USER.gid}::${AUTO_USER.home}:/bin/sh`,
  group: `${AUTO_USER.name}:x:${AUTO_USER.gid}:`,
};

/** A data disk's folder (holding its `upper` and `work`), relative to the node's folder. */
function inNodeDir(spec: HolderSpec, disk: { upper: string; work: string }): string {
  const dir = dirname(disk.upper);
  if (dirname(disk.work) !== dir || relative(spec.nodeDir, dir).startsWith('..'))
    throw new Error(`node ${spec.nodeId}: a data disk's upper and work must share a folder in the node's`);
  return relative(spec.nodeDir, dir);
}

/**
 * The one-line script (Launcher request `id`, sourced: the launcher's subshell waits for the helper) that starts
 * a holder through the node-up helper; `caps`: the capability numbers it drops (enter-node.ts); `folders`: the
 * folders it makes in the upper before mounting it.
 */
export function nodeUpCommand(
  spec: HolderSpec,
  cgroupProcs: string[],
  id: string,
  helper: string,
  caps: string,
  folders: string[],
): string {
  const args = [
    id,
    `${BOOT_MARKER}${spec.nodeId}`,
    spec.hostname,
    join(spec.nodeDir, 'holder.pid'),
    caps,
    cgroupProcs.join('\n'),
    spec.merged,
    String(spec.devSizeMB),
    spec.addUser.passwd ? AUTO_USER_LINES.passwd : '',
    spec.addUser.group ? AUTO_USER_LINES.group : '',
    spec.nodeDir,
    folders.join('\n'),
    String(spec.idBase),
    spec.layerAt,
    spec.lower,
    ...spec.disks.flatMap((d) => [d.mountPoint, d.lower, inNodeDir(spec, d)]),
  ];
  return [helper, ...args].map(shq).join(' ');
}

type Entry = 'dir' | 'file' | 'absent' | 'whiteout' | 'other';

export async function entryAt(path: string): Promise<Entry> {
  try {
    const st = await lstat(path);
    if (st.isDirectory()) return 'dir';
    if (st.isFile()) return 'file';
    // An overlay whiteout (0/0 character device): deleted in the upper, absent in the node.
    if (st.isCharacterDevice() && st.rdev === 0) return 'whiteout';
    return 'other';
  } catch {
    return 'absent';
  }
}

/**
 * Whether `path` (absolute inside the node) resolves, in the node's merged root, without any symbolic link
 * (or other non-folder) on the way: checked layer by layer on the stopped node's upper and the image's lower.
 * The end may be missing or be a folder, or a regular file when `file` is true.
 */
export async function checkInsideNode(
  upper: string,
  lower: string,
  path: string,
  file = false,
): Promise<boolean> {
  const parts = path.split('/').filter(Boolean);
  let lowerLive = true;
  for (let i = 0; i < parts.length; i++) {
    const rel = parts.slice(0, i + 1).join('/');
    const up = await entryAt(join(upper, rel));
    const low: Entry = lowerLive ? await entryAt(join(lower, rel)) : 'absent';
    // The upper wins; a folder over a folder merges, a folder over anything else hides the lower below it.
    const seen = up === 'absent' ? low : up;
    if (seen === 'absent' || seen === 'whiteout') return true;
    if (seen === 'file' && file && i === parts.length - 1) return true;
    if (seen !== 'dir') return false;
    lowerLive = low === 'dir';
  }
  return true;
}

/** Whether the node's /etc/passwd and /etc/group (in the first of `layers`, topmost first, that has each) already name the auto-user. */
export async function autoUserPresent(layers: string[]): Promise<{ passwd: boolean; group: boolean }> {
  const has = async (file: string) => {
    for (const root of layers) {
      const kind = await entryAt(join(root, file));
      if (kind === 'absent') continue;
      if (kind !== 'file') return false;
      const text = await readFile(join(root, file), 'utf8');
      return text.split('\n').some((l) => l.startsWith(`${AUTO_USER.name}:`));
    }
    return false;
  };
  return { passwd: await has('etc/passwd'), group: await has('etc/group') };
}
