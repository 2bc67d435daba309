import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { unpackFilesystem } from '../../content/manifests.ts';
import { regionPaths, RegionStores } from '../../content/regions.ts';
import { ManualClock } from '../../platform/clock.ts';
import { sequentialIds } from '../../platform/ids.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import { DomainError } from '../errors.ts';
import { BaseImageService } from './base-images.ts';

const scratch = () => mkdtempSync(join(tmpdir(), 'lzr-images-'));

async function service() {
  const dir = scratch();
  const regions = new RegionStores(regionPaths(dir, ['westeurope', 'eastus'], {}));
  const ctx = { store: await openSqliteStore(':memory:'), clock: new ManualClock(), ids: sequentialIds() };
  return { images: new BaseImageService(ctx, regions, join(dir, 'build'), 'westeurope'), regions };
}

async function unpacked(regions: RegionStores, manifest: string): Promise<string> {
  const dest = join(scratch(), 'root');
  await unpackFilesystem(await regions.get('westeurope'), manifest as `sha256:${string}`, dest);
  return dest;
}

function sha(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A two-layer OCI image layout whose second layer deletes a file of the first (a whiteout). */
function ociLayout(): string {
  const layout = scratch();
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layer = (files: Record<string, string>) => {
    const src = scratch();
    for (const [p, c] of Object.entries(files)) {
      mkdirSync(join(src, p, '..'), { recursive: true });
      writeFileSync(join(src, p), c);
    }
    const tar = join(scratch(), 'l.tar');
    execFileSync('tar', ['-C', src, '-cf', tar, '.']);
    const data = readFileSync(tar);
    writeFileSync(join(blobs, sha(data).slice(7)), data);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(data), size: data.length };
  };
  const l1 = layer({ 'etc/os-release': 'ID=debian\nVERSION_ID="11"\n', 'opt/old.txt': 'old' });
  const l2 = layer({ 'opt/.wh.old.txt': '', 'opt/new.txt': 'new' });
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, layers: [l1, l2] }));
  writeFileSync(join(blobs, sha(manifest).slice(7)), manifest);
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha(manifest),
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    }),
  );
  return layout;
}

describe('base images', () => {
  test('the tiny image is built from busybox once and runs a shell', async () => {
    const { images, regions } = await service();
    const first = await images.build('tiny');
    assert.equal(first.key, 'lazurite:tiny:busybox');
    assert.equal((await images.build('tiny')).createdAt, first.createdAt, 'cached: not built twice');
    const root = await unpacked(regions, first.manifest);
    assert.match(readFileSync(join(root, 'etc', 'os-release'), 'utf8'), /lazurite-tiny/);
    const out = execFileSync('chroot', [root, '/bin/sh', '-c', 'echo $((6*7)) && ls /bin | wc -l'], {
      encoding: 'utf8',
    });
    assert.equal(out.split('\n')[0], '42');
    assert.ok(Number(out.split('\n')[1]) > 100, 'busybox applets are linked');
    assert.equal(
      (await images.requireRunnable({ publisher: 'lazurite', offer: 'tiny', sku: 'busybox' })).manifest,
      first.manifest,
    );
  });

  test('a root file system tarball or an OCI layout gives a catalog entry a root file system', async () => {
    const { images, regions } = await service();
    const src = scratch();
    mkdirSync(join(src, 'etc'));
    writeFileSync(join(src, 'etc', 'os-release'), 'ID=ubuntu\nVERSION_ID="22.04"\n');
    const tar = join(scratch(), 'rootfs.tar.gz');
    execFileSync('tar', ['-C', src, '-czf', tar, '.']);
    const ubuntu = await images.import('canonical:0001-com-ubuntu-server-jammy:22_04-lts', tar);
    assert.equal(ubuntu.source, 'import:tarball');
    assert.match(
      readFileSync(join(await unpacked(regions, ubuntu.manifest), 'etc', 'os-release'), 'utf8'),
      /22\.04/,
    );

    const oci = await images.import('debian:debian-11:11', ociLayout());
    assert.equal(oci.source, 'import:oci');
    const root = await unpacked(regions, oci.manifest);
    assert.equal(readFileSync(join(root, 'opt', 'new.txt'), 'utf8'), 'new');
    assert.equal(existsSync(join(root, 'opt', 'old.txt')), false, 'the whiteout removed the lower file');
    assert.equal(existsSync(join(root, 'opt', '.wh.old.txt')), false);
  });

  test('entries without a root file system are refused clearly; Windows cannot be imported', async () => {
    const { images } = await service();
    await assert.rejects(
      images.requireRunnable({ publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' }),
      (e: DomainError) => e.code === 'ImageNotRunnable' && /lazurite images import/.test(e.message),
    );
    await assert.rejects(
      images.requireRunnable({
        publisher: 'microsoftwindowsserver',
        offer: 'windowsserver',
        sku: '2022-datacenter',
      }),
      (e: DomainError) => e.code === 'OSTypeNotSupported',
    );
    await assert.rejects(
      images.import('microsoftwindowsserver:windowsserver:2022-datacenter', '/nonexistent'),
      (e: DomainError) => e.code === 'OSTypeNotSupported',
    );
    await assert.rejects(
      images.build('canonical:ubuntu-24_04-lts:server'),
      (e: DomainError) => e.code === 'ImageNotBuildable',
    );
    await assert.rejects(images.build('nope'), (e: DomainError) => e.code === 'ImageNotFound');
  });
});
