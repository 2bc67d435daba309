import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BlobStore, digestOf } from './blob-store.ts';
import {
  chunkRawFile,
  packDirectory,
  putManifest,
  reachableBlobs,
  readManifest,
  unpackFilesystem,
  writeRawFile,
} from './manifests.ts';
import { regionPaths, RegionStores } from './regions.ts';
import { replicaComplete, replicate } from './replication.ts';

const scratch = () => mkdtempSync(join(tmpdir(), 'lzr-content-'));

describe('content store', () => {
  test('blobs are content-addressed, deduplicated and never visible half-written', async () => {
    const store = await BlobStore.open(scratch());
    const a = await store.putBuffer(Buffer.from('hello'));
    assert.equal(a, digestOf(Buffer.from('hello')));
    assert.equal(await store.putBuffer(Buffer.from('hello')), a);
    const file = join(scratch(), 'f');
    writeFileSync(file, 'hello');
    assert.deepEqual(await store.putFile(file), { digest: a, added: false });
    assert.deepEqual(await store.list(), [a]);
    assert.equal(readFileSync(store.path(a), 'utf8'), 'hello');
    // A crash leaves only temp files; reopening clears them and the blob set is unchanged.
    writeFileSync(join(store.root, 'tmp', 'partial'), 'hel');
    const reopened = await BlobStore.open(store.root);
    assert.deepEqual(readdirSync(join(reopened.root, 'tmp')), []);
    assert.deepEqual(await reopened.list(), [a]);
    // A file written into tmp/ is moved into place, not copied; adopting known content drops the file.
    const staged = join(reopened.root, 'tmp', 'staged');
    writeFileSync(staged, 'world');
    const b = digestOf(Buffer.from('world'));
    assert.deepEqual(await reopened.adoptFile(staged), { digest: b, added: true });
    assert.equal(existsSync(staged), false);
    writeFileSync(staged, 'hello');
    assert.deepEqual(await reopened.adoptFile(staged), { digest: a, added: false });
    assert.deepEqual(readdirSync(join(reopened.root, 'tmp')), []);
    assert.deepEqual(await reopened.list(), [a, b].sort());
  });

  test('raw disks are chunked without their zero ranges and written back byte-identical and sparse', async () => {
    const store = await BlobStore.open(scratch());
    const disk = join(scratch(), 'disk.raw');
    const handle = await open(disk, 'w');
    await handle.truncate(64 * 1024 * 1024);
    await handle.write(Buffer.from('ext4 superblock-ish'), 0, undefined, 1024);
    await handle.write(Buffer.from('data at 40 MiB'), 0, undefined, 40 * 1024 * 1024 + 7);
    await handle.close();
    const manifest = await chunkRawFile(store, disk);
    const m = await readManifest(store, manifest);
    if (m.kind !== 'raw') assert.fail('expected a raw manifest');
    assert.equal(m.chunks.filter((c) => c !== null).length, 2, 'only the two written chunks are stored');
    const out = join(scratch(), 'copy.raw');
    await writeRawFile(store, manifest, out);
    assert.ok(readFileSync(out).equals(readFileSync(disk)));
    assert.ok(statSync(out).blocks * 512 < 16 * 1024 * 1024, 'the copy is sparse');
    assert.equal(await chunkRawFile(store, out), manifest, 'same bytes, same manifest');
  });

  test('file systems pack into layers that unpack with modes and links intact', async () => {
    const store = await BlobStore.open(scratch());
    const root = scratch();
    mkdirSync(join(root, 'opt', 'app'), { recursive: true });
    writeFileSync(join(root, 'opt', 'app', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    const layer = await packDirectory(store, root);
    assert.equal(await packDirectory(store, root), layer, 'packing is deterministic');
    const fs = await putManifest(store, { kind: 'filesystem', sizeGB: 30, layers: [layer] });
    const dest = join(scratch(), 'rootfs');
    await unpackFilesystem(store, fs, dest);
    assert.equal(readFileSync(join(dest, 'opt', 'app', 'run.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(statSync(join(dest, 'opt', 'app', 'run.sh')).mode & 0o777, 0o755);
  });

  test('replication copies each blob once, writes the root last, and resumes after an interruption', async () => {
    const dataDir = scratch();
    const regions = new RegionStores(
      regionPaths(dataDir, ['westeurope', 'eastus'], { eastus: join(scratch(), 'elsewhere') }),
    );
    const west = await regions.get('westeurope');
    const east = await regions.get('eastus');
    assert.ok(east.root.includes('elsewhere'), 'a region can point at any path');
    const layer = await west.putBuffer(Buffer.alloc(3 * 1024 * 1024, 7));
    const os = await putManifest(west, { kind: 'filesystem', sizeGB: 30, layers: [layer] });
    const raw = await putManifest(west, {
      kind: 'raw',
      sizeBytes: 8,
      chunkSize: 4,
      chunks: [await west.putBuffer(Buffer.from('abcd')), null],
    });
    const image = await putManifest(west, { kind: 'image', osDisk: os, dataDisks: [{ lun: 0, disk: raw }] });
    const blobs = await reachableBlobs(west, image);
    assert.equal(blobs.at(-1), image, 'the image manifest comes last');
    // Interrupted run: some blobs copied, the root not yet.
    await east.copyFrom(west, layer);
    assert.equal(await replicaComplete(east, image), false);
    const progress: number[] = [];
    const result = await replicate(west, east, image, (p) =>
      progress.push(Math.round((100 * p.bytesDone) / p.bytesTotal)),
    );
    assert.equal(progress.at(-1), 100);
    assert.ok(
      result.bytesCopied < result.bytesTotal,
      'the layer copied before the interruption is not copied again',
    );
    assert.equal(await replicaComplete(east, image), true);
    assert.deepEqual(await east.list(), await west.list());
    assert.equal(
      (await replicate(west, east, image)).bytesCopied,
      0,
      'nothing is copied twice into one store',
    );
    assert.ok(readFileSync(east.path(layer)).equals(readFileSync(west.path(layer))));
    await assert.rejects(regions.get('mars'), /not configured/);
  });
});
