import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { importRootfs } from './import.ts';
import { readPartitions } from './partitions.ts';

const run = promisify(execFile);

/** The VHD footer cookie: a fixed VHD is the raw disk followed by a 512-byte footer starting with it. */
const VHD_COOKIE = 'conectix';

/**
 * A tar archive, plain (ustar magic at byte 257) or compressed (gzip, xz, zstd, bzip2 magic). `tar -t` alone is
 * no test: it reads a disk image's zero first block as an empty archive and succeeds.
 */
async function isTar(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(512);
    await handle.read(head, 0, 512, 0);
    const starts = (hex: string) => head.subarray(0, hex.length / 2).equals(Buffer.from(hex, 'hex'));
    return (
      head.subarray(257, 262).toString('latin1') === 'ustar' ||
      ['1f8b', 'fd377a585a00', '28b52ffd', '425a68'].some(starts)
    );
  } finally {
    await handle.close();
  }
}

/** Byte length of the disk data: the whole file, or without the VHD footer. */
async function diskLength(file: string): Promise<{ size: number; vhd: boolean }> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const footer = Buffer.alloc(512);
    if (size >= 512) await handle.read(footer, 0, 512, size - 512);
    const vhd = footer.subarray(0, 8).toString('latin1') === VHD_COOKIE;
    return { size: vhd ? size - 512 : size, vhd };
  } finally {
    await handle.close();
  }
}

/**
 * Attaches `size` bytes of `file` from `offset` to a read-only loop device and mounts it at `mnt`: the loop device,
 * or undefined (and no device left attached) when it does not mount.
 */
async function mountSlice(
  file: string,
  offset: number,
  size: number,
  mnt: string,
): Promise<string | undefined> {
  const loop = (
    await run('losetup', [
      '--find',
      '--show',
      '--read-only',
      '--offset',
      String(offset),
      '--sizelimit',
      String(size),
      file,
    ])
  ).stdout.trim();
  const mounted = await run('mount', ['-o', 'ro', loop, mnt]).then(
    () => true,
    () => false,
  );
  if (mounted) return loop;
  await run('losetup', ['-d', loop]).catch(() => undefined);
  return undefined;
}

/**
 * Mounts the image's root file system read-only and copies its tree to `dest`: the first partition (MBR or GPT,
 * read by `readPartitions`) that mounts and has an `/etc`, as a VHD saved from a VM has (root in partition 1, boot
 * or EFI partitions beside it), else the whole disk.
 */
async function copyOutFilesystem(
  file: string,
  size: number,
  dest: string,
  signal?: AbortSignal,
): Promise<void> {
  const mnt = await mkdtemp(join(dirname(dest), '.mnt-'));
  let loop: string | undefined;
  try {
    const partitions = await readPartitions(file, size);
    for (const p of partitions) {
      loop = await mountSlice(file, p.offset, p.size, mnt);
      if (loop !== undefined && existsSync(join(mnt, 'etc'))) break;
      if (loop !== undefined) {
        await run('umount', [mnt]);
        await run('losetup', ['-d', loop]).catch(() => undefined);
        loop = undefined;
      }
    }
    // No table, or none of its partitions holds a root: the whole disk (a FAT boot sector also ends in 0x55AA).
    loop ??= await mountSlice(file, 0, size, mnt);
    if (loop === undefined)
      throw new Error(
        partitions.length === 0
          ? 'the disk holds no file system that mounts'
          : `neither the disk nor any of its ${String(partitions.length)} partitions holds a file system that mounts with an /etc`,
      );
    try {
      await mkdir(dest, { recursive: true });
      await run('nice', ['-n', '10', 'cp', '-a', `${mnt}/.`, dest], { signal });
    } finally {
      await run('umount', [mnt]);
    }
  } finally {
    if (loop !== undefined) await run('losetup', ['-d', loop]).catch(() => undefined);
    await rm(mnt, { recursive: true, force: true });
  }
}

/**
 * Turns an uploaded generalized OS disk into a root file system tree at `dest`: a root file system tarball
 * (plain or compressed), or a raw / fixed-VHD disk image holding an ext4 (or other mountable) file system, on the
 * whole disk or in a partition (MBR or GPT).
 * `signal` stops the copy out of a mounted image (the mount and loop device are still released).
 */
export async function importDiskImage(
  file: string,
  dest: string,
  signal?: AbortSignal,
): Promise<'tarball' | 'raw' | 'vhd'> {
  signal?.throwIfAborted();
  if (await isTar(file)) {
    await importRootfs(file, dest);
    return 'tarball';
  }
  const { size, vhd } = await diskLength(file);
  await copyOutFilesystem(file, size, dest, signal);
  return vhd ? 'vhd' : 'raw';
}
