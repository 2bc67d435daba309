import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HostContainerImages } from '../../backends/container-images.ts';
import { BlobStore, type Digest } from '../../content/blob-store.ts';
import { unpackFilesystem } from '../../content/manifests.ts';
import { layerFromDirectory, ociImage, pushImage } from '../../content/oci-writer.ts';
import { parseImageReference, RegistrySession } from '../../content/registry.ts';
import { startTestRegistry, type TestRegistry } from '../../content/registry.fixture.ts';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from './pools.fixture.ts';

const containerPool = (id: string, config: Record<string, unknown>) => {
  const pool = tinyPool(id, 1);
  return {
    ...pool,
    virtualMachineConfiguration: { ...pool.virtualMachineConfiguration, containerConfiguration: config },
  };
};

describe('containerConfiguration on pool add', () => {
  test('is checked as Batch checks it, each refusal naming the property', async () => {
    const w = await world();
    const at = 'virtualMachineConfiguration.containerConfiguration';
    for (const [config, code, target] of [
      [{}, 'MissingRequiredProperty', `${at}.type`],
      [{ type: 'podman' }, 'InvalidPropertyValue', `${at}.type`],
      [
        { type: 'dockerCompatible', containerImageNames: ['Bad//Name'] },
        'InvalidPropertyValue',
        `${at}.containerImageNames[0]`,
      ],
      [
        { type: 'dockerCompatible', containerRegistries: [{ registryServer: 'r.io', username: 'u' }] },
        'MissingRequiredProperty',
        `${at}.containerRegistries[0].password`,
      ],
      [
        {
          type: 'criCompatible',
          containerRegistries: [{ registryServer: 'r.io', identityReference: { resourceId: '/x' } }],
        },
        'UnsupportedProperty',
        `${at}.containerRegistries[0].identityReference`,
      ],
    ] as const) {
      await assert.rejects(
        w.pools.add(w.account, { scheme: 'SharedKey' }, containerPool('c', config)),
        (e: unknown) => {
          assert.ok(e instanceof DomainError);
          assert.deepEqual([e.code, e.target], [code, target]);
          return true;
        },
      );
    }
  });

  test('keeps registry passwords out of the spec and gives them to the node', async () => {
    const w = await world();
    const config = {
      type: 'dockerCompatible',
      containerImageNames: ['r.io/a/b:1'],
      containerRegistries: [{ registryServer: 'r.io', username: 'u', password: 'secret' }],
    };
    await w.pools.add(w.account, { scheme: 'SharedKey' }, containerPool('c', config));
    const { pool } = await w.pools.get(w.account, 'c');
    assert.doesNotMatch(JSON.stringify(pool.spec), /secret/);
    assert.deepEqual(pool.registryPasswords, { '0': 'secret' });
    // no image store on this (simulated) host: the node cannot prefetch and is unusable, saying why
    await w.settle();
    const [node] = (await w.pools.get(w.account, 'c')).nodes;
    assert.equal(node?.state, 'unusable');
    assert.equal(node.errors[0]?.code, 'ContainerMiscError');
  });
});

describe('prefetching containerImageNames from a registry', () => {
  let registry: TestRegistry;
  let work: string;
  before(async () => {
    registry = await startTestRegistry('basic');
    work = mkdtempSync(join(tmpdir(), 'lazurite-prefetch-'));
    mkdirSync(join(work, 'img', 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(work, 'img', 'bin', 'busybox'));
    symlinkSync('busybox', join(work, 'img', 'bin', 'sh'));
    const ref = parseImageReference(`${registry.host}/tools/base:1`);
    const session = new RegistrySession(registry.http, ref.registry, registry);
    await pushImage(session, ref, ociImage([await layerFromDirectory(join(work, 'img'))]));
  });
  after(async () => {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  });

  // One host for every test: images it already holds must not stand in for a pool's own credentials.
  let host: { store: BlobStore; containers: HostContainerImages } | undefined;
  async function nodeOf(pool: string, images: string[], password: string) {
    if (host === undefined) {
      const store = await BlobStore.open(join(work, 'store'));
      const at = join(work, 'index');
      // unpacked once per host, as the local image cache does it
      const unpack = async (_region: string, fs: string) => {
        const dir = join(work, 'rootfs', fs.slice(7));
        if (!existsSync(dir)) await unpackFilesystem(store, fs as Digest, dir);
        return dir;
      };
      const images = new HostContainerImages(at, () => Promise.resolve(store), registry.http, unpack);
      host = { store, containers: images };
    }
    const { store, containers } = host;
    const w = await world(100, { containers });
    const config = {
      type: 'dockerCompatible',
      containerImageNames: images,
      containerRegistries: [{ registryServer: registry.host, username: registry.userName, password }],
    };
    await w.pools.add(w.account, { scheme: 'SharedKey' }, containerPool(pool, config));
    for (let i = 0; i < 10; i++) {
      await w.sizer.tick();
      await w.agent.syncOnce();
      await w.agent.idle();
    }
    return { node: (await w.pools.get(w.account, pool)).nodes[0], store };
  }

  test('a node pulls its pool images and goes idle; they are in the host store', async () => {
    const { node, store } = await nodeOf('ok', [`${registry.host}/tools/base:1`], registry.password);
    assert.equal(node?.state, 'idle');
    assert.ok((await store.list()).length >= 3, 'config, layer and filesystem manifest');
    const known = await host?.containers.known(`${registry.host}/tools/base:1`);
    assert.ok(
      known && existsSync(join(work, 'rootfs', known.filesystem.slice(7), 'bin', 'busybox')),
      'unpacked',
    );
  });

  test('a missing image makes the node unusable with ContainerInvalidImage', async () => {
    const { node } = await nodeOf('missing', [`${registry.host}/tools/absent:1`], registry.password);
    assert.equal(node?.state, 'unusable');
    assert.equal(node.errors[0]?.code, 'ContainerInvalidImage');
    assert.match(JSON.stringify(node.errors), /tools\/absent:1/);
  });

  test('wrong credentials make the node unusable with ContainerInvalidRegistry', async () => {
    const { node } = await nodeOf('creds', [`${registry.host}/tools/base:1`], 'wrong');
    assert.equal(node?.state, 'unusable');
    assert.equal(node.errors[0]?.code, 'ContainerInvalidRegistry');
  });
});
