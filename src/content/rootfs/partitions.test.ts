import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { importDiskImage } from './disk-image.ts';
import { readPartitions } from './partitions.ts';
import { buildTinyRootfs } from './tiny.ts';
import { partitionedVhd, writePartitionedDisk } from './vhd.fixture.ts';

const MIB = 1024 * 1024;

describe('partition tables of uploaded disks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-parts-'));
  const diskOf = (file: string) => statSync(file).size - 512;

  test('an MBR disk: its primary partitions in bytes, the VHD footer left out', async () => {
    const file = join(dir, 'mbr.vhd');
    writePartitionedDisk(file, [{ sizeBytes: 3 * MIB }, { sizeBytes: 5 * MIB }], 'mbr', true);
    assert.deepEqual(await readPartitions(file, diskOf(file)), [
      { index: 1, offset: MIB, size: 3 * MIB },
      { index: 2, offset: 4 * MIB, size: 5 * MIB },
    ]);
  });

  test('a GPT disk behind a protective MBR', async () => {
    const file = join(dir, 'gpt.vhd');
    writePartitionedDisk(file, [{ sizeBytes: 2 * MIB }, { sizeBytes: 4 * MIB }], 'gpt', true);
    assert.deepEqual(await readPartitions(file, diskOf(file)), [
      { index: 1, offset: MIB, size: 2 * MIB },
      { index: 2, offset: 3 * MIB, size: 4 * MIB },
    ]);
  });

  test('no table (a whole-disk file system, zeros) and entries past the disk end give no partitions', async () => {
    const zeros = join(dir, 'zeros.raw');
    writeFileSync(zeros, Buffer.alloc(4 * MIB));
    assert.deepEqual(await readPartitions(zeros, 4 * MIB), []);
    const file = join(dir, 'short.raw');
    writePartitionedDisk(file, [{ sizeBytes: 8 * MIB }], 'mbr', false);
    assert.deepEqual(await readPartitions(file, 4 * MIB), []);
  });

  for (const table of ['mbr', 'gpt'] as const) {
    test(
      `a partitioned fixed VHD (${table}) imports its root partition, not the boot partition before it`,
      { skip: process.getuid?.() === 0 ? false : 'needs root (loop devices)' },
      async () => {
        const root = join(dir, `root-${table}`);
        const empty = join(dir, `empty-${table}`);
        mkdirSync(empty);
        await buildTinyRootfs(root);
        writeFileSync(join(root, 'etc', 'seed-2017'), 'from a partition\n');
        const vhd = join(dir, `disk-${table}.vhd`);
        partitionedVhd(root, empty, vhd, table);
        const dest = join(dir, `out-${table}`);
        assert.equal(await importDiskImage(vhd, dest), 'vhd');
        assert.equal(readFileSync(join(dest, 'etc', 'seed-2017'), 'utf8'), 'from a partition\n');
      },
    );
  }

  test('cleanup', () => {
    rmSync(dir, { recursive: true, force: true });
  });
});
