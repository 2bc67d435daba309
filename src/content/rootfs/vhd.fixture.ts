import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync, ftruncateSync } from 'node:fs';
import { crc32 } from 'node:zlib';

const SECTOR = 512;
const MIB = 1024 * 1024;
/** GPT partition type "Linux filesystem data" (0FC63DAF-8483-4772-8E79-3D69D8477DE4) in its on-disk byte order. */
const LINUX_FS_TYPE = Buffer.from('af3dc60f838472478e793d69d8477de4', 'hex');

export interface DiskPartition {
  /** A file whose bytes fill the partition from its start (else it stays zero). */
  source?: string;
  sizeBytes: number;
}

function mbrEntry(mbr: Buffer, i: number, type: number, startLba: number, sectors: number): void {
  const at = 446 + i * 16;
  mbr.writeUInt8(type, at + 4);
  mbr.writeUInt32LE(startLba, at + 8);
  mbr.writeUInt32LE(sectors, at + 12);
}

/** The primary GPT (header at LBA 1, 128 entries from LBA 2) for partitions at the given LBAs. */
function gptSectors(totalSectors: number, parts: { first: number; last: number }[]): Buffer {
  const entries = Buffer.alloc(128 * 128);
  parts.forEach((p, i) => {
    const e = entries.subarray(i * 128, (i + 1) * 128);
    LINUX_FS_TYPE.copy(e, 0);
    randomBytes(16).copy(e, 16);
    e.writeBigUInt64LE(BigInt(p.first), 32);
    e.writeBigUInt64LE(BigInt(p.last), 40);
    e.write(`part${String(i + 1)}`, 56, 'utf16le');
  });
  const header = Buffer.alloc(SECTOR);
  header.write('EFI PART', 0, 'latin1');
  header.writeUInt32LE(0x00010000, 8);
  header.writeUInt32LE(92, 12);
  header.writeBigUInt64LE(1n, 24);
  header.writeBigUInt64LE(BigInt(totalSectors - 1), 32);
  header.writeBigUInt64LE(34n, 40);
  header.writeBigUInt64LE(BigInt(totalSectors - 34), 48);
  randomBytes(16).copy(header, 56);
  header.writeBigUInt64LE(2n, 72);
  header.writeUInt32LE(128, 80);
  header.writeUInt32LE(128, 84);
  header.writeUInt32LE(crc32(entries), 88);
  header.writeUInt32LE(crc32(header.subarray(0, 92)), 16);
  return Buffer.concat([header, entries]);
}

/** A fixed VHD footer (big-endian fields, one's complement checksum) for a disk of `size` bytes. */
export function vhdFooter(size: number): Buffer {
  const f = Buffer.alloc(SECTOR);
  f.write('conectix', 0, 'latin1');
  f.writeUInt32BE(2, 8);
  f.writeUInt32BE(0x00010000, 12);
  f.writeBigUInt64BE(0xffffffffffffffffn, 16);
  f.write('lzrt', 28, 'latin1');
  f.writeUInt32BE(0x00010000, 32);
  f.write('Wi2k', 36, 'latin1');
  f.writeBigUInt64BE(BigInt(size), 40);
  f.writeBigUInt64BE(BigInt(size), 48);
  const sectors = Math.floor(size / SECTOR);
  const cylinders = Math.min(65535, Math.floor(sectors / (16 * 63)));
  f.writeUInt16BE(cylinders, 56);
  f.writeUInt8(16, 58);
  f.writeUInt8(63, 59);
  f.writeUInt32BE(2, 60);
  randomBytes(16).copy(f, 68);
  let sum = 0;
  for (const b of f) sum += b;
  f.writeUInt32BE(~sum >>> 0, 64);
  return f;
}

/**
 * Writes a partitioned disk image to `out`: partitions from 1 MiB on, each 1 MiB-aligned, an MBR or a protective
 * MBR and GPT in front, and with `vhd` a fixed VHD footer after the disk (what Save-AzureRmVMImage-style VHDs are).
 */
export function writePartitionedDisk(
  out: string,
  parts: DiskPartition[],
  table: 'mbr' | 'gpt',
  vhd: boolean,
): void {
  const aligned = parts.map((p) => Math.ceil(p.sizeBytes / MIB) * MIB);
  const size = MIB + aligned.reduce((a, b) => a + b, 0) + MIB;
  const lbas: { first: number; last: number }[] = [];
  let at = MIB;
  for (const s of aligned) {
    lbas.push({ first: at / SECTOR, last: (at + s) / SECTOR - 1 });
    at += s;
  }
  const fd = openSync(out, 'w');
  try {
    ftruncateSync(fd, size);
    const mbr = Buffer.alloc(SECTOR);
    mbr.writeUInt16LE(0xaa55, 510);
    if (table === 'gpt') {
      mbrEntry(mbr, 0, 0xee, 1, Math.min(size / SECTOR - 1, 0xffffffff));
      writeSync(fd, gptSectors(size / SECTOR, lbas), 0, undefined, SECTOR);
    } else
      lbas.forEach((l, i) => {
        mbrEntry(mbr, i, 0x83, l.first, l.last - l.first + 1);
      });
    writeSync(fd, mbr, 0, SECTOR, 0);
    parts.forEach((p, i) => {
      if (p.source !== undefined)
        writeSync(fd, readFileSync(p.source), 0, undefined, (lbas[i]?.first ?? 0) * SECTOR);
    });
    if (vhd) writeSync(fd, vhdFooter(size), 0, SECTOR, size);
  } finally {
    closeSync(fd);
  }
}

/** An ext4 file system image of `sizeMiB` holding the tree at `root` (mkfs.ext4 -d). */
export function ext4Image(root: string, out: string, sizeMiB: number): string {
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', root, out, `${String(sizeMiB)}M`]);
  return out;
}

/**
 * A generalized, partitioned fixed VHD of the tree at `root`: an empty 2 MiB ext4 first (a boot partition without
 * `/etc`) and the root file system in partition 2, as a VM's saved OS disk has it.
 */
export function partitionedVhd(root: string, emptyRoot: string, out: string, table: 'mbr' | 'gpt'): void {
  const rootFs = ext4Image(root, `${out}.root`, 32);
  const bootFs = ext4Image(emptyRoot, `${out}.boot`, 2);
  try {
    writePartitionedDisk(
      out,
      [
        { source: bootFs, sizeBytes: statSync(bootFs).size },
        { source: rootFs, sizeBytes: statSync(rootFs).size },
      ],
      table,
      true,
    );
  } finally {
    rmSync(rootFs, { force: true });
    rmSync(bootFs, { force: true });
  }
}
