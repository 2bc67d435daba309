import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BatchServiceClient, BatchServiceModels } from '@azure/batch';
import { layerFromDirectory, ociImage, pushImage } from '../../src/content/oci-writer.ts';
import { parseImageReference, RegistrySession } from '../../src/content/registry.ts';
import { startTestRegistry, type TestRegistry } from '../../src/content/registry.fixture.ts';
import { startServer, type TestServer } from './harness.ts';
import { failsWith, sharedKeyBatch, waitFor } from './pool-image.ts';

/**
 * Container pools (ADR 0039) with @azure/batch against a throw-away docker-registry on loopback (TLS from its
 * own CA, which the server trusts through NODE_EXTRA_CA_CERTS, and a password): prefetching, and a missing image
 * and wrong credentials as Batch shows them (the node unusable with errors[]).
 */
describe('container pools prefetch their images from a registry', () => {
  let registry: TestRegistry;
  let server: TestServer;
  let batch: BatchServiceClient;
  let work: string;
  const savedCa = process.env.NODE_EXTRA_CA_CERTS;

  before(async () => {
    registry = await startTestRegistry('token');
    work = mkdtempSync(join(tmpdir(), 'lazurite-containers-'));
    const root = join(work, 'img');
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    symlinkSync('busybox', join(root, 'bin', 'sh'));
    writeFileSync(join(root, 'usr', 'bin', 'container-hello'), '#!/bin/sh\necho hello\n', { mode: 0o755 });
    const ref = parseImageReference(`${registry.host}/tools/hello:1`);
    const image = ociImage([await layerFromDirectory(root)], { Env: ['PATH=/usr/bin:/bin'] });
    await pushImage(new RegistrySession(registry.http, ref.registry, registry), ref, image);
    process.env.NODE_EXTRA_CA_CERTS = registry.caPath; // read by the server process at its start
    server = await startServer(['--node-backend', 'simulated']);
    batch = sharedKeyBatch(server);
  });
  after(async () => {
    if (savedCa === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = savedCa;
    await server.stop();
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const containerPool = (id: string, containerConfiguration: BatchServiceModels.ContainerConfiguration) =>
    batch.pool.add({
      id,
      vmSize: 'STANDARD_A1_V2',
      virtualMachineConfiguration: {
        imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
        nodeAgentSKUId: 'batch.node.lazurite tiny',
        containerConfiguration,
      },
      targetDedicatedNodes: 1,
    });
  const settledNode = (pool: string) =>
    waitFor(
      async () => (await batch.computeNode.list(pool)).map((n) => n),
      (ns) => ns.length === 1 && ['idle', 'unusable'].includes(ns[0]?.state ?? ''),
      `the node of ${pool} idle or unusable`,
    ).then((ns) => ns[0]);
  const registryOf = (password: string) => ({
    registryServer: registry.host,
    userName: registry.userName,
    password,
  });

  test('a pool prefetching an image from the registry gets an idle node; the password is never answered', async () => {
    await containerPool('cpool', {
      containerImageNames: [`${registry.host}/tools/hello:1`],
      containerRegistries: [registryOf(registry.password)],
    });
    const node = await settledNode('cpool');
    assert.equal(node?.state, 'idle', JSON.stringify(node?.errors));
    const pool = await batch.pool.get('cpool');
    const c = pool.virtualMachineConfiguration?.containerConfiguration;
    assert.deepEqual(c?.containerImageNames, [`${registry.host}/tools/hello:1`]);
    assert.equal(c.containerRegistries?.[0]?.userName, registry.userName);
    assert.doesNotMatch(JSON.stringify(c.containerRegistries), /password/);
  });

  test('a missing image makes the node unusable with ContainerInvalidImage in errors[]', async () => {
    await containerPool('missing', {
      containerImageNames: [`${registry.host}/tools/absent:1`],
      containerRegistries: [registryOf(registry.password)],
    });
    const node = await settledNode('missing');
    assert.equal(node?.state, 'unusable');
    assert.equal(node.errors?.[0]?.code, 'ContainerInvalidImage');
    assert.match(JSON.stringify(node.errors), /tools\/absent:1/);
  });

  test('wrong credentials make the node unusable with ContainerInvalidRegistry in errors[]', async () => {
    await containerPool('creds', {
      containerImageNames: [`${registry.host}/tools/hello:1`],
      containerRegistries: [registryOf('not-the-password')],
    });
    const node = await settledNode('creds');
    assert.equal(node?.state, 'unusable');
    assert.equal(node.errors?.[0]?.code, 'ContainerInvalidRegistry');
  });

  test('bad input is refused with Batch codes naming the property', async () => {
    const at = 'virtualMachineConfiguration.containerConfiguration';
    const named = (property: string, code: string) => (e: Parameters<ReturnType<typeof failsWith>>[0]) =>
      failsWith(400, code)(e) && (e.body?.values ?? []).some((v) => v.value === property);
    await assert.rejects(
      containerPool('bad1', {
        containerRegistries: [{ registryServer: registry.host, identityReference: { resourceId: '/x' } }],
      }),
      named(`${at}.containerRegistries[0].identityReference`, 'UnsupportedProperty'),
    );
    await assert.rejects(
      containerPool('bad2', { containerImageNames: ['Not A Name'] }),
      named(`${at}.containerImageNames[0]`, 'InvalidPropertyValue'),
    );
    await assert.rejects(
      containerPool('bad3', {
        containerRegistries: [{ registryServer: registry.host, userName: 'u' }],
      }),
      named(`${at}.containerRegistries[0].password`, 'MissingRequiredProperty'),
    );
  });

  test('a task with containerSettings is refused as unsupported (container task runs are not built yet)', async () => {
    await batch.job.add({ id: 'cjob', poolInfo: { poolId: 'cpool' } });
    await assert.rejects(
      batch.task.add('cjob', {
        id: 't1',
        commandLine: 'container-hello',
        containerSettings: { imageName: `${registry.host}/tools/hello:1` },
      }),
      failsWith(400, 'UnsupportedProperty'),
    );
  });
});
