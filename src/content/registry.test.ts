import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BlobStore } from './blob-store.ts';
import { readManifest, unpackFilesystem } from './manifests.ts';
import { layerFromDirectory, ociImage, pushImage } from './oci-writer.ts';
import { RegistryError } from './registry-http.ts';
import { canonicalReference, parseImageReference, pullImage, RegistrySession } from './registry.ts';
import { startTestRegistry, type TestRegistry } from './registry.fixture.ts';

describe('image references', () => {
  test('are read as docker pull reads them', () => {
    assert.equal(canonicalReference(parseImageReference('ubuntu')), 'docker.io/library/ubuntu:latest');
    assert.equal(canonicalReference(parseImageReference('user/app:1.2')), 'docker.io/user/app:1.2');
    const r = parseImageReference('127.0.0.1:5000/team/tool:v1');
    assert.deepEqual(r, { registry: '127.0.0.1:5000', repository: 'team/tool', tag: 'v1' });
    const d = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseImageReference(`myacr.azurecr.io/x@${d}`), {
      registry: 'myacr.azurecr.io',
      repository: 'x',
      digest: d,
    });
    assert.equal(parseImageReference('localhost/a').registry, 'localhost');
  });
  test('that are not names are refused as invalid', () => {
    for (const bad of ['', 'UPPER/case', 'a/b:', 'a@sha256:zz', 'a//b', 'x:tag with space'])
      assert.throws(
        () => parseImageReference(bad),
        (e: unknown) => e instanceof RegistryError && e.failure === 'invalid',
        bad,
      );
  });
});

/** Two layers: busybox as /bin/sh, then a script only this image has. */
async function testImage(work: string) {
  const base = join(work, 'base');
  mkdirSync(join(base, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(base, 'bin', 'busybox'));
  symlinkSync('busybox', join(base, 'bin', 'sh'));
  const top = join(work, 'top');
  mkdirSync(join(top, 'usr', 'bin'), { recursive: true });
  writeFileSync(join(top, 'usr', 'bin', 'container-hello'), '#!/bin/sh\necho hello from the image\n', {
    mode: 0o755,
  });
  return ociImage([await layerFromDirectory(base), await layerFromDirectory(top)], {
    Env: ['PATH=/usr/bin:/bin', 'GREETING=hi'],
    WorkingDir: '/srv',
  });
}

for (const auth of ['basic', 'token'] as const) {
  describe(`a registry with ${auth} auth`, () => {
    let registry: TestRegistry;
    let work: string;
    before(async () => {
      registry = await startTestRegistry(auth);
      work = mkdtempSync(join(tmpdir(), 'lazurite-registry-test-'));
      const ref = parseImageReference(`${registry.host}/tools/hello:1`);
      const session = new RegistrySession(registry.http, ref.registry, registry);
      await pushImage(session, ref, await testImage(work));
    });
    after(async () => {
      await registry.stop();
      rmSync(work, { recursive: true, force: true });
    });

    test('an image pushed is pulled, verified and unpacked with its config', async () => {
      const store = await BlobStore.open(join(work, 'store'));
      const ref = parseImageReference(`${registry.host}/tools/hello:1`);
      const pulled = await pullImage(new RegistrySession(registry.http, ref.registry, registry), ref, store);
      assert.equal(pulled.reference, `${registry.host}/tools/hello:1`);
      assert.deepEqual(pulled.config.env, ['PATH=/usr/bin:/bin', 'GREETING=hi']);
      assert.equal(pulled.config.workingDir, '/srv');
      const m = await readManifest(store, pulled.filesystem);
      assert.equal(m.kind === 'filesystem' ? m.layers.length : 0, 2);
      const root = join(work, 'root');
      await unpackFilesystem(store, pulled.filesystem, root);
      assert.match(readFileSync(join(root, 'usr', 'bin', 'container-hello'), 'utf8'), /hello from the image/);
      // by digest too, and the same filesystem manifest results (the layers are not fetched again)
      const byDigest = parseImageReference(`${registry.host}/tools/hello@${pulled.manifestDigest}`);
      const again = await pullImage(
        new RegistrySession(registry.http, ref.registry, registry),
        byDigest,
        store,
      );
      assert.equal(again.filesystem, pulled.filesystem);
    });

    test('a missing image is not-found', async () => {
      const store = await BlobStore.open(join(work, 'store2'));
      for (const name of [`${registry.host}/tools/hello:nope`, `${registry.host}/tools/absent:1`]) {
        const ref = parseImageReference(name);
        await assert.rejects(
          pullImage(new RegistrySession(registry.http, ref.registry, registry), ref, store),
          (e: unknown) => e instanceof RegistryError && e.failure === 'not-found',
        );
      }
    });

    test('wrong or no credentials are unauthorized', async () => {
      const store = await BlobStore.open(join(work, 'store3'));
      const ref = parseImageReference(`${registry.host}/tools/hello:1`);
      for (const creds of [{ userName: registry.userName, password: 'wrong' }, undefined]) {
        await assert.rejects(
          pullImage(new RegistrySession(registry.http, ref.registry, creds), ref, store),
          (e: unknown) => e instanceof RegistryError && e.failure === 'unauthorized',
        );
      }
    });
  });
}
