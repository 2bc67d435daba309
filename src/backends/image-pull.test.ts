import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { BlobStore, type Digest } from '../content/blob-store.ts';
import { putManifest, reachableBlobs } from '../content/manifests.ts';
import { RegionStores } from '../content/regions.ts';
import { ImagePuller, ImagePullError, type BlobFetch } from './image-pull.ts';

describe('pulling an image into a host cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-pull-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** The server's store with an image (OS disk of two layers, a raw data disk of one chunk and a zero chunk). */
  async function serverImage() {
    const server = await BlobStore.open(join(dir, `server-${String(Math.random())}`));
    const layers = [
      await server.putBuffer(Buffer.from('layer one')),
      await server.putBuffer(Buffer.from('two')),
    ];
    const os = await putManifest(server, { kind: 'filesystem', sizeGB: 1, layers });
    const chunk = await server.putBuffer(Buffer.from('chunk'));
    const disk = await putManifest(server, {
      kind: 'raw',
      sizeBytes: 10,
      chunkSize: 5,
      chunks: [chunk, null],
    });
    return { server, os, disk, layers, chunk };
  }

  const cache = (name: string) => new RegionStores({ westeurope: join(dir, name) });

  test('copies every manifest and blob, then fetches nothing more', async () => {
    const { server, os, disk } = await serverImage();
    const asked: Digest[] = [];
    const regions = new Set<string>();
    const fetch: BlobFetch = (region, digest) => {
      asked.push(digest);
      regions.add(region);
      return Promise.resolve(createReadStream(server.path(digest)));
    };
    const local = cache('host-a');
    const puller = new ImagePuller(fetch, local);
    const image = { region: 'westeurope', osManifest: os, dataDisks: [{ lun: 0, manifest: disk }] };
    await puller.pull(image);
    const store = await local.get('westeurope');
    for (const root of [os, disk])
      for (const d of await reachableBlobs(server, root)) assert.ok(await store.has(d), d);
    const first = asked.length;
    assert.equal(first, 5, 'two manifests, two layers and one chunk (a zero chunk is not stored)');
    assert.deepEqual(
      [...regions],
      ['westeurope'],
      "only the image's region (the account's replica) is asked",
    );
    await puller.pull(image);
    assert.equal(asked.length, first);
  });

  test('a blob that does not match its digest is refused and the tree stays incomplete', async () => {
    const { server, os, layers } = await serverImage();
    const fetch: BlobFetch = (_region, digest) =>
      Promise.resolve(
        digest === layers[1]
          ? Readable.from([Buffer.from('tampered')])
          : createReadStream(server.path(digest)),
      );
    const local = cache('host-b');
    await assert.rejects(
      new ImagePuller(fetch, local).pull({ region: 'westeurope', osManifest: os, dataDisks: [] }),
      (e: unknown) =>
        e instanceof ImagePullError &&
        /replica in region 'westeurope'.*does not match its digest/.test(e.message),
    );
    const store = await local.get('westeurope');
    assert.equal(await store.has(os), false, 'no root manifest: the next pull tries again');
    assert.equal(await store.has(layers[1] as Digest), false);
  });
});
