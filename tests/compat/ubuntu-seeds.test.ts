import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BatchServiceClient } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import { buildTinyRootfs } from '../../src/content/rootfs/tiny.ts';
import {
  computeClient,
  credentialFor,
  REPO_ROOT,
  runCli,
  runCliResult,
  startServer,
  type TestServer,
} from './harness.ts';
import {
  buildToolImage,
  failsWith,
  sharedKeyBatch,
  simulatedBatchServer,
  waitFor,
  type BatchFailure,
} from './pool-image.ts';

const PYTHON = '/usr/bin/python3';
const UBUNTU = (version: string) => `NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="${version}"\n`;

/**
 * A root file system imported under `reference` (what `lazurite images import` does offline): the tiny busybox
 * build, whose /etc/os-release is replaced by `osRelease` (no Ubuntu mirror is reachable here).
 */
async function importLabelled(dataDir: string, reference: string, osRelease: string): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'lazurite-rootfs-'));
  try {
    await buildTinyRootfs(root);
    writeFileSync(join(root, 'etc', 'os-release'), osRelease);
    const tar = `${root}.tar`;
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    await runCli(['images', 'import', reference, tar, '--data-dir', dataDir]);
    rmSync(tar, { force: true });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** The seeds' commands with the Ubuntu node agent SKUs they name, unchanged (issue 21, ADR 0028). */
describe('the seeds as written: Ubuntu node agent SKUs (az CLI, Python SDK)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-ubuntu-'));
  const configDir = mkdtempSync(join(tmpdir(), 'lazurite-az-'));
  let server: TestServer;
  let commands: string[];
  let ubuntu16: string;
  let ubuntu18: string;
  let batch: BatchServiceClient;

  const az = (args: string[]) =>
    spawnSync('az', args, {
      env: {
        ...process.env,
        AZURE_CONFIG_DIR: configDir,
        REQUESTS_CA_BUNDLE: server.connection.caCertPath,
        AZURE_CORE_COLLECT_TELEMETRY: 'false',
        AZURE_CORE_ONLY_SHOW_ERRORS: 'true',
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
  const azJson = (args: string[]): unknown => {
    const r = az([...args, '-o', 'json']);
    assert.equal(r.status, 0, `az ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const line = (prefix: string): string[] => {
    const l = commands.find((c) => c.startsWith(prefix));
    assert.ok(l, `az-setup prints a '${prefix}' line`);
    return l.split('#')[0]?.trim().split(/\s+/).slice(1) ?? [];
  };

  before(async () => {
    await importLabelled(dataDir, 'Canonical:UbuntuServer:18.04-LTS:latest', UBUNTU('18.04'));
    await importLabelled(dataDir, 'Canonical:UbuntuServer:16.04-LTS:latest', UBUNTU('16.04'));
    await importLabelled(dataDir, 'debian:debian-12:12', 'ID=debian\nVERSION_ID="12"\n');
    server = await startServer([], dataDir);
    const c = server.connection;
    const compute = computeClient(c);
    const ubuntuServer = (sku: string) => ({ publisher: 'Canonical', offer: 'UbuntuServer', sku });
    const regions = [{ name: c.location }];
    ubuntu18 = (
      await buildToolImage(compute, c.resourceGroup, regions, {
        definition: 'ubuntu18',
        base: ubuntuServer('18.04-LTS'),
      })
    ).versionId;
    ubuntu16 = (
      await buildToolImage(compute, c.resourceGroup, regions, {
        definition: 'ubuntu16',
        base: ubuntuServer('16.04-LTS'),
      })
    ).versionId;
    const token = await credentialFor(c).getToken('https://batch.core.windows.net//.default');
    batch = new BatchServiceClient(new TokenCredentials(token.token), new URL(c.batchUrl).origin);
    commands = (await runCli(['az-setup', '--data-dir', dataDir])).trim().split('\n');
    for (const step of ['az cloud register', 'az cloud set', 'az login'])
      assert.equal(az(line(step)).status, 0, step);
  });
  after(async () => {
    rmSync(configDir, { recursive: true, force: true });
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('az batch pool supported-images list shows the seeds-era Ubuntu SKUs with their end of life', () => {
    const listed = azJson(line('az batch pool supported-images list --account-name')) as {
      nodeAgentSkuId: string;
      imageReference: { publisher: string; offer: string; sku: string };
      batchSupportEndOfLife?: string;
      verificationType: string;
      osType: string;
    }[];
    const row = (sku: string) => {
      const i = listed.find((l) => l.nodeAgentSkuId === sku);
      return (
        i && [
          i.imageReference.offer,
          i.imageReference.sku,
          i.batchSupportEndOfLife?.slice(0, 10),
          i.verificationType,
          i.osType,
        ]
      );
    };
    assert.deepEqual(row('batch.node.ubuntu 16.04'), [
      'UbuntuServer',
      '16.04-LTS',
      '2021-05-21',
      'verified',
      'linux',
    ]);
    assert.deepEqual(row('batch.node.ubuntu 18.04'), [
      'UbuntuServer',
      '18.04-LTS',
      '2023-05-30',
      'verified',
      'linux',
    ]);
    assert.deepEqual(row('batch.node.ubuntu 20.04'), [
      '0001-com-ubuntu-server-focal',
      '20_04-lts',
      '2025-04-23',
      'verified',
      'linux',
    ]);
  });

  test("the seeds' az batch pool create with batch.node.ubuntu 16.04: created, warned in the log, no resize error", async () => {
    assert.equal(az(line('az batch account login')).status, 0);
    // The seed's command, but for the image id (the seeds' {placeholders}).
    const created = az([
      'batch',
      'pool',
      'create',
      '--id',
      'mypool',
      '--vm-size',
      'Standard_A1_v2',
      '--target-dedicated-nodes',
      '2',
      '--image',
      ubuntu16,
      '--node-agent-sku-id',
      'batch.node.ubuntu 16.04',
    ]);
    assert.equal(created.status, 0, created.stderr);
    const pool = await waitFor(
      () => batch.pool.get('mypool'),
      (p) => p.allocationState === 'steady',
      'mypool steady',
      120_000,
    );
    assert.deepEqual(
      [pool.currentDedicatedNodes, pool.resizeErrors ?? [], pool.virtualMachineConfiguration?.nodeAgentSKUId],
      [2, [], 'batch.node.ubuntu 16.04'],
    );
    assert.match(
      server.output(),
      /pool 'mypool' uses node agent SKU 'batch\.node\.ubuntu 16\.04', which Azure Batch retired on 2021-05-21/,
    );
  });

  test("the seeds' Python snippet with batch.node.ubuntu 18.04; a plain Debian image is refused for that SKU", async () => {
    const c = server.connection;
    const origin = new URL(c.batchUrl).origin;
    const r = spawnSync(
      PYTHON,
      [
        join(REPO_ROOT, 'tests/compat/python/seed_pool.py'),
        `${origin}/adfs`,
        origin,
        c.batchAccountName,
        c.clientId,
        c.tenantId,
        c.clientSecret,
        ubuntu18,
      ],
      {
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, REQUESTS_CA_BUNDLE: c.caCertPath, PYTHONDONTWRITEBYTECODE: '1' },
      },
    );
    assert.equal(r.status, 0, `python failed:\n${r.stderr}`);
    const seen = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    assert.deepEqual(seen, {
      pool: ['LinuxNodesSamplePoolPython', 'active', 'batch.node.ubuntu 18.04'],
      image: ubuntu18,
      resizeErrors: [],
      debian: ['InvalidPropertyValue', 'nodeAgentSKUId'],
    });
    // The node boots the Ubuntu-18.04-labelled image and runs the seed's start task.
    const pool = 'LinuxNodesSamplePoolPython';
    const [node] = await waitFor(
      () => batch.computeNode.list(pool),
      (ns) => ns.length === 1 && ns[0]?.state === 'idle',
      'the seed pool node idle',
      180_000,
    );
    const out = await batch.file.getFromComputeNode(pool, node?.id ?? '', 'startup/stdout.txt');
    const stdout = await new Response(out.readableStreamBody as unknown as ReadableStream).text();
    assert.match(stdout, /\/startup\n$/);
  });
});

describe('--strict-image-support: retired node agent SKUs refused as Azure does today', () => {
  const lenient = simulatedBatchServer();
  let strict: TestServer;
  before(async () => {
    strict = await startServer(['--node-backend', 'simulated', '--strict-image-support']);
  });
  after(async () => {
    await strict.stop();
  });

  test('a pool with batch.node.ubuntu 16.04 → 400 InvalidPropertyValue naming nodeAgentSKUId; without the option it passes that check', async () => {
    const spec = {
      id: 'old',
      vmSize: 'standard_a1_v2',
      virtualMachineConfiguration: {
        imageReference: { publisher: 'Canonical', offer: 'UbuntuServer', sku: '16.04-LTS' },
        nodeAgentSKUId: 'batch.node.ubuntu 16.04',
      },
      targetDedicatedNodes: 0,
    };
    const property = (name: string) => (e: BatchFailure) =>
      failsWith(400, 'InvalidPropertyValue')(e) &&
      e.body?.values?.some((v) => v.key === 'PropertyName' && v.value === name) === true;
    await assert.rejects(sharedKeyBatch(strict).pool.add(spec), property('nodeAgentSKUId'));
    // Without the option the SKU passes; this server only lacks a root file system for the image.
    await assert.rejects(lenient.batch.pool.add(spec), property('imageReference'));
  });
});

describe('lazurite images build ubuntu-18.04 without a reachable mirror', () => {
  test('one error line naming the mirror, with the images import hint, and nothing stored', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-nomirror-'));
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    try {
      const mirror = `http://127.0.0.1:${String(port)}/ubuntu`;
      const keyring = ['--keyring', '/usr/share/keyrings/debian-archive-keyring.gpg'];
      const args = ['images', 'build', 'ubuntu-18.04', '--mirror', mirror, ...keyring, '--data-dir', dataDir];
      const r = await runCliResult(args, {}, true);
      assert.equal(r.code, 1);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(
        lines[0] ?? '',
        /^lazurite: cannot build 'canonical:ubuntuserver:18\.04-lts': mirror http:\/\/127\.0\.0\.1:\d+\/ubuntu does not answer \(ECONNREFUSED\); .* run: lazurite images import canonical:ubuntuserver:18\.04-lts <rootfs\.tar\|oci-archive>$/,
      );
      const list = await runCli(['images', 'list', '--data-dir', dataDir]);
      assert.match(
        list,
        /canonical:ubuntuserver:18\.04-lts\s+batch\.node\.ubuntu 18\.04\s+listed \(build it/,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
