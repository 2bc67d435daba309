import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { MountedDisk } from './image-cache.ts';
import { checkInsideNode } from './node-sandbox.ts';

/** A data disk as a node sees it: the host's read-only mount of it, and where it goes inside the node. */
export interface DiskPlan {
  lun: number;
  lower: string;
  mountPoint: string;
}

const decode = (s: string): string =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** fstab entries of the image: device spec → mount point (swap and `none` mount points left out). */
async function readFstab(lower: string): Promise<{ spec: string; at: string }[]> {
  if (!(await checkInsideNode(lower, lower, '/etc/fstab', true))) return [];
  let text: string;
  try {
    text = await readFile(join(lower, 'etc', 'fstab'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(/\s+/).map(decode))
    .filter((f): f is [string, string, ...string[]] => f.length >= 2 && f[1]?.startsWith('/') === true)
    .map(([spec, at]) => ({ spec, at }));
}

/** Mount points a node may get a disk at: absolute, normalised, not `/`, not over /proc, /dev or Batch's. */
function acceptable(at: string): boolean {
  const clean = posix.normalize(at);
  return (
    clean === at.replace(/\/+$/, '') &&
    clean !== '/' &&
    !clean.split('/').includes('..') &&
    /^[\w./@+-]+$/.test(clean) &&
    !['/proc', '/dev', '/sys', '/mnt/batch'].some((p) => clean === p || clean.startsWith(`${p}/`))
  );
}

function matches(spec: string, lun: number, disk: MountedDisk): boolean {
  const [key, value] = spec.includes('=') ? spec.split(/=(.*)/s) : [spec, ''];
  if (spec === `/dev/disk/azure/scsi1/lun${lun}`) return true;
  const uuid = disk.uuid?.toLowerCase();
  const label = disk.label;
  if (uuid !== undefined && key?.toUpperCase() === 'UUID' && value?.toLowerCase() === uuid) return true;
  if (uuid !== undefined && spec.toLowerCase() === `/dev/disk/by-uuid/${uuid}`) return true;
  if (label !== undefined && key?.toUpperCase() === 'LABEL' && value === label) return true;
  return label !== undefined && spec === `/dev/disk/by-label/${label}`;
}

const nested = (a: string, b: string): boolean => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

/**
 * Where each data disk with a file system goes inside the node: the mount point the image's /etc/fstab gives
 * for `/dev/disk/azure/scsi1/lun<N>` (or for the disk's UUID= / LABEL=), else `/mnt/disks/lun<N>`. Disks
 * without a file system (`undefined` here) are left out: there is nothing to mount. A mount point inside (or
 * around) another disk's falls back to the default, and the disk is left out if that clashes too: the host
 * creates mount points, and it must only ever do so in the root file system it has checked, never inside a
 * disk's content. Parents come first.
 */
export async function planDisks(
  lower: string,
  disks: { lun: number; fs: MountedDisk | undefined }[],
): Promise<DiskPlan[]> {
  const entries = disks.some((d) => d.fs !== undefined) ? await readFstab(lower) : [];
  const plans: DiskPlan[] = [];
  for (const { lun, fs } of disks) {
    if (fs === undefined) continue;
    const entry = entries.find((e) => matches(e.spec, lun, fs) && acceptable(e.at));
    const wanted = entry ? posix.normalize(entry.at).replace(/\/+$/, '') : undefined;
    const at = [wanted, `/mnt/disks/lun${lun}`].find(
      (p) => p !== undefined && !plans.some((q) => nested(p, q.mountPoint)),
    );
    if (at !== undefined) plans.push({ lun, lower: fs.dir, mountPoint: at });
  }
  return plans.sort((a, b) => a.mountPoint.split('/').length - b.mountPoint.split('/').length);
}
