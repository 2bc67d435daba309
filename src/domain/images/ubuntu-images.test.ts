import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { regionPaths, RegionStores } from '../../content/regions.ts';
import { ManualClock } from '../../platform/clock.ts';
import { sequentialIds } from '../../platform/ids.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import { DomainError } from '../errors.ts';
import { BaseImageService } from './base-images.ts';

const scratch = () => mkdtempSync(join(tmpdir(), 'lzr-ubuntu-'));
const UBUNTU_18 = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="18.04"\n';
const DEBIAN_12 = 'ID=debian\nVERSION_ID="12"\n';
/** Any keyring file: the builds below never get as far as checking a signature. */
const SOME_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

async function service() {
  const dir = scratch();
  const regions = new RegionStores(regionPaths(dir, ['westeurope'], {}));
  const ctx = { store: await openSqliteStore(':memory:'), clock: new ManualClock(), ids: sequentialIds() };
  return new BaseImageService(ctx, regions, join(dir, 'build'), 'westeurope');
}

/**
 * A root file system tarball whose etc/os-release is a link to `link`; usr/lib/os-release holds `text` unless
 * `text` is undefined.
 */
function rootfs(text: string | undefined, link = '../usr/lib/os-release'): string {
  const src = scratch();
  mkdirSync(join(src, 'etc'));
  mkdirSync(join(src, 'usr', 'lib'), { recursive: true });
  if (text !== undefined) writeFileSync(join(src, 'usr', 'lib', 'os-release'), text);
  symlinkSync(link, join(src, 'etc', 'os-release'));
  const tar = join(scratch(), 'rootfs.tar');
  execFileSync('tar', ['-C', src, '-cf', tar, '.']);
  return tar;
}

/** A local port nothing listens on: connections are refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

const refused = (code: string, message: RegExp) => (e: unknown) =>
  e instanceof DomainError && e.code === code && message.test(e.message);

describe('Ubuntu base images', () => {
  test('an Ubuntu 18.04 root file system is imported under the seeds reference, a Debian one refused', async () => {
    const images = await service();
    const ubuntu = await images.import('Canonical:UbuntuServer:18.04-LTS:latest', rootfs(UBUNTU_18));
    assert.equal(ubuntu.key, 'canonical:ubuntuserver:18.04-lts');
    await assert.rejects(
      images.import('Canonical:UbuntuServer:16.04-LTS', rootfs(UBUNTU_18)),
      refused('OSReleaseMismatch', /ubuntu 18\.04 by its \/etc\/os-release.*'batch\.node\.ubuntu 16\.04'/),
    );
    await assert.rejects(
      images.import('ubuntu-20.04', rootfs(DEBIAN_12)),
      refused('OSReleaseMismatch', /debian 12 .*'batch\.node\.ubuntu 20\.04'/),
    );
    assert.deepEqual(
      (await images.list()).filter((v) => v.image !== undefined).map((v) => v.image?.key),
      ['canonical:ubuntuserver:18.04-lts'],
      'nothing stored for the refused imports',
    );
  });

  test("an absolute os-release link is read inside the root file system, never the host's", async () => {
    const images = await service();
    const tar = rootfs(UBUNTU_18, '/usr/lib/os-release');
    assert.equal((await images.import('ubuntu-18.04', tar)).key, 'canonical:ubuntuserver:18.04-lts');
    // A link to itself: followed on the host it would read the host's (Debian) os-release.
    await assert.rejects(
      images.import('ubuntu-18.04', rootfs(undefined, '/etc/os-release')),
      refused('OSReleaseMismatch', /has no \/etc\/os-release, but/),
    );
  });

  test('build ubuntu-18.04 against a mirror that does not answer: one line, with the import hint', async () => {
    const images = await service();
    const mirror = `http://127.0.0.1:${String(await closedPort())}/ubuntu`;
    await assert.rejects(
      images.build('ubuntu-18.04', { mirror, keyring: SOME_KEYRING }),
      (e: unknown) =>
        refused('MirrorUnreachable', /does not answer/)(e) &&
        !(e as Error).message.includes('\n') &&
        (e as Error).message.includes(`mirror ${mirror} does not answer`) &&
        (e as Error).message.endsWith(
          'lazurite images import canonical:ubuntuserver:18.04-lts <rootfs.tar|oci-archive>',
        ),
    );
  });

  test('a mirror without the suite, and a missing keyring, are refused before debootstrap runs', async () => {
    const images = await service();
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(`${req.method ?? ''} ${req.url ?? ''}`);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const mirror = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/ubuntu`;
      await assert.rejects(
        images.build('ubuntu-16.04', { mirror, keyring: SOME_KEYRING }),
        refused('MirrorUnreachable', /has no suite 'xenial' \(HTTP 404\)/),
      );
      assert.deepEqual(paths, ['HEAD /ubuntu/dists/xenial/Release']);
      await assert.rejects(
        images.build('ubuntu-20.04', { mirror, keyring: '/nonexistent/ubuntu.gpg' }),
        refused('KeyringNotFound', /no Ubuntu archive keyring at \/nonexistent\/ubuntu\.gpg.*images import/),
      );
      assert.equal(paths.length, 1, 'no request without a keyring');
    } finally {
      server.close();
    }
  });
});
