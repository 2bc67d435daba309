import { open } from 'node:fs/promises';

/** One partition of a disk image, in bytes from the start of the disk. */
export interface Partition {
  index: number;
  offset: number;
  size: number;
}

const SECTOR = 512;
/** MBR partition type of a GPT protective entry. */
const GPT_PROTECTIVE = 0xee;
/** Extended partition types (CHS, LBA, Linux): containers, not file systems. */
const EXTENDED = new Set([0x05, 0x0f, 0x85]);
/** Partition entries read at most from a GPT (the usual array holds 128). */
const MAX_GPT_ENTRIES = 256;

function mbrPartitions(mbr: Buffer, diskSize: number): Partition[] | 'gpt' {
  const out: Partition[] = [];
  for (let i = 0; i < 4; i++) {
    const entry = mbr.subarray(446 + i * 16, 446 + (i + 1) * 16);
    const type = entry.readUInt8(4);
    if (type === GPT_PROTECTIVE) return 'gpt';
    const start = entry.readUInt32LE(8) * SECTOR;
    const size = entry.readUInt32LE(12) * SECTOR;
    if (type === 0 || EXTENDED.has(type) || size === 0 || start + size > diskSize) continue;
    out.push({ index: i + 1, offset: start, size });
  }
  return out;
}

async function gptPartitions(read: (pos: number, len: number) => Promise<Buffer>, diskSize: number) {
  const header = await read(SECTOR, 92);
  if (header.subarray(0, 8).toString('latin1') !== 'EFI PART') return [];
  const entriesLba = Number(header.readBigUInt64LE(72));
  const count = Math.min(header.readUInt32LE(80), MAX_GPT_ENTRIES);
  const entrySize = header.readUInt32LE(84);
  if (entrySize < 128 || entrySize > 4096) return [];
  const table = await read(entriesLba * SECTOR, count * entrySize);
  const out: Partition[] = [];
  for (let i = 0; i < count; i++) {
    const e = table.subarray(i * entrySize, (i + 1) * entrySize);
    if (e.length < 48 || e.subarray(0, 16).every((b) => b === 0)) continue;
    const first = Number(e.readBigUInt64LE(32));
    const last = Number(e.readBigUInt64LE(40));
    const offset = first * SECTOR;
    const size = (last - first + 1) * SECTOR;
    if (last < first || offset + size > diskSize) continue;
    out.push({ index: i + 1, offset, size });
  }
  return out;
}

/**
 * The partitions of a raw disk image's first `diskSize` bytes (a fixed VHD without its footer), read from its
 * MBR or, behind a protective MBR, its GPT: so a partitioned disk is imported without the kernel making partition
 * devices (`/dev/loopNp1`), which it does not do everywhere. Empty when the disk has no partition table.
 */
export async function readPartitions(file: string, diskSize: number): Promise<Partition[]> {
  const handle = await open(file, 'r');
  try {
    const read = async (pos: number, len: number) => {
      const buf = Buffer.alloc(Math.max(0, Math.min(len, diskSize - pos)));
      if (buf.length > 0) await handle.read(buf, 0, buf.length, pos);
      return buf;
    };
    const mbr = await read(0, SECTOR);
    if (mbr.length < SECTOR || mbr.readUInt16LE(510) !== 0xaa55) return [];
    const found = mbrPartitions(mbr, diskSize);
    return found === 'gpt' ? await gptPartitions(read, diskSize) : found;
  } finally {
    await handle.close();
  }
}
