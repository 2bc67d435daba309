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
});

/** Container tasks on local nodes: the task's command runs in the image's root inside the node (ADR 0039). */
describe('container tasks on local nodes', () => {
  let registry: TestRegistry;
  let server: TestServer;
  let batch: BatchServiceClient;
  let work: string;
  const savedCa = process.env.NODE_EXTRA_CA_CERTS;

  before(async () => {
    registry = await startTestRegistry('basic');
    work = mkdtempSync(join(tmpdir(), 'lazurite-container-tasks-'));
    const root = join(work, 'img');
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'opt', 'app'), { recursive: true });
    mkdirSync(join(root, 'srv'), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    symlinkSync('busybox', join(root, 'bin', 'sh'));
    symlinkSync('busybox', join(root, 'bin', 'pwd'));
    writeFileSync(join(root, 'opt', 'app', 'container-hello'), '#!/bin/sh\necho "hello $GREETING"\n', {
      mode: 0o755,
    });
    const ref = parseImageReference(`${registry.host}/tools/app:1`);
    const image = ociImage([await layerFromDirectory(root)], {
      Env: ['PATH=/opt/app:/bin', 'GREETING=from-image'],
      WorkingDir: '/srv',
    });
    await pushImage(new RegistrySession(registry.http, ref.registry, registry), ref, image);
    process.env.NODE_EXTRA_CA_CERTS = registry.caPath;
    server = await startServer();
    batch = sharedKeyBatch(server);
    await batch.pool.add({
      id: 'local',
      vmSize: 'STANDARD_A1_V2',
      virtualMachineConfiguration: {
        imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
        nodeAgentSKUId: 'batch.node.lazurite tiny',
        containerConfiguration: {
          containerImageNames: [`${registry.host}/tools/app:1`],
          containerRegistries: [
            { registryServer: registry.host, userName: registry.userName, password: registry.password },
          ],
        },
      },
      targetDedicatedNodes: 1,
    });
    await batch.job.add({ id: 'j', poolInfo: { poolId: 'local' } });
  });
  after(async () => {
    if (savedCa === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = savedCa;
    await server.stop();
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const completed = (id: string) =>
    waitFor(
      () => batch.task.get('j', id),
      (t) => t.state === 'completed',
      `task ${id} completed`,
      180_000,
    );
  const stdout = async (id: string) => {
    const file = await batch.file.getFromTask('j', id, 'stdout.txt');
    return new Response(file.readableStreamBody as unknown as ReadableStream).text();
  };

  test('a task runs a program only its image has, with the image env, run options and AZ_BATCH_* paths', async () => {
    await batch.task.add('j', {
      id: 'hello',
      commandLine: "/bin/sh -c 'container-hello; echo $EXTRA; pwd; echo $AZ_BATCH_TASK_WORKING_DIR'",
      containerSettings: {
        imageName: `${registry.host}/tools/app:1`,
        containerRunOptions: '--env EXTRA=option',
      },
    });
    const t = await completed('hello');
    assert.equal(t.executionInfo?.exitCode, 0, JSON.stringify(t.executionInfo));
    const wd = t.executionInfo.result === 'success' ? await stdout('hello') : '';
    const [hello, extra, pwd, azWd] = wd.trim().split('\n');
    assert.deepEqual([hello, extra], ['hello from-image', 'option']);
    assert.equal(pwd, azWd, "the task's working directory, at the path Batch gives it");
    await batch.task.add('j', {
      id: 'imagewd',
      commandLine: 'pwd',
      containerSettings: {
        imageName: `${registry.host}/tools/app:1`,
        workingDirectory: 'containerImageDefault',
      },
    });
    assert.equal((await completed('imagewd')).executionInfo?.exitCode, 0);
    assert.equal(await stdout('imagewd'), '/srv\n');
  });

  test('a missing image is the task failureInfo ContainerInvalidImage', async () => {
    await batch.task.add('j', {
      id: 'missing',
      commandLine: 'true',
      containerSettings: { imageName: `${registry.host}/tools/absent:1` },
    });
    const t = await completed('missing');
    assert.equal(t.executionInfo?.result, 'failure');
    assert.equal(t.executionInfo.failureInfo?.code, 'ContainerInvalidImage');
    assert.equal(t.executionInfo.failureInfo.category, 'usererror');
  });

  test('a run option this server does not take is refused, naming it', async () => {
    await assert.rejects(
      batch.task.add('j', {
        id: 'priv',
        commandLine: 'true',
        containerSettings: { imageName: `${registry.host}/tools/app:1`, containerRunOptions: '--privileged' },
      }),
      (e: Parameters<ReturnType<typeof failsWith>>[0]) =>
        failsWith(400, 'UnsupportedProperty')(e) &&
        (e.body?.values ?? []).some((v) => v.value?.includes('--privileged') === true),
    );
  });
});
