import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ComputeManagementClient } from '@azure/arm-compute';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import { buildTinyRootfs } from '../../src/content/rootfs/tiny.ts';
import { computeClient, credentialFor, startServer, type TestServer } from './harness.ts';

/**
 * A blob server whose bodies wait at a gate: it answers headers and the first bytes at once, and the rest only
 * when the test opens the gate, so an import is provably in progress (no sleeping on wall time).
 */
class GatedBlobs {
  private readonly server: Server;
  private readonly waiting = new Map<string, ServerResponse[]>();
  private readonly open = new Set<string>();
  private readonly seen = new Map<string, (() => void)[]>();
  private readonly bodies: Record<string, Buffer>;
  requests = 0;
  constructor(bodies: Record<string, Buffer>) {
    this.bodies = bodies;
    this.server = createServer((req, res) => {
      const name = (req.url ?? '').slice(1);
      const body = this.bodies[name];
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      this.requests += 1;
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 1024));
      if (this.open.has(name)) res.end(body.subarray(1024));
      else this.waiting.set(name, [...(this.waiting.get(name) ?? []), res]);
      for (const w of this.seen.get(name) ?? []) w();
      this.seen.delete(name);
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  /** Resolves when the next request for `name` has arrived. */
  requested(name: string): Promise<void> {
    return new Promise((r) => this.seen.set(name, [...(this.seen.get(name) ?? []), r]));
  }
  release(name: string): void {
    this.open.add(name);
    for (const res of this.waiting.get(name) ?? [])
      if (!res.destroyed) res.end(this.bodies[name]?.subarray(1024));
    this.waiting.delete(name);
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) =>
      this.server.close(() => {
        r();
      }),
    );
  }
}

describe('blobUri imports run outside the store transaction (@azure/arm-compute poller)', () => {
  let server: TestServer;
  let compute: ComputeManagementClient;
  let blobs: GatedBlobs;
  let origin: string;
  let rg: string;
  const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-import-'));
  const poll = { updateIntervalInMs: 100 };
  const imageBody = (blob: string) => ({
    location: 'westeurope',
    storageProfile: {
      osDisk: { osType: 'Linux' as const, osState: 'Generalized' as const, blobUri: `${origin}/${blob}` },
    },
  });
  const getState = async (name: string) =>
    (await compute.images.get(rg, name).catch(() => undefined))?.provisioningState;

  before(async () => {
    const root = mkdtempSync(join(tmpdir(), 'lazurite-import-root-'));
    await buildTinyRootfs(root);
    const tarball = execFileSync('tar', ['-C', root, '-cz', '.']);
    rmSync(root, { recursive: true, force: true });
    blobs = new GatedBlobs({
      'a.tar.gz': tarball,
      'b.tar.gz': tarball,
      'c.tar.gz': tarball,
      'junk.bin': Buffer.alloc(4 * 1024 * 1024, 7),
    });
    origin = await blobs.listen();
    // PUTs answer at once with Creating (no 2 s wait for the I/O), so every import here runs after its answer.
    process.env.LAZURITE_WRITE_WAIT_MS = '0';
    server = await startServer([], dataDir);
    rg = server.connection.resourceGroup;
    compute = computeClient(server.connection);
  });
  after(async () => {
    delete process.env.LAZURITE_WRITE_WAIT_MS;
    await server.stop();
    await blobs.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the PUT answers Creating while the download waits; other writes proceed; the poller ends Succeeded', async () => {
    const requested = blobs.requested('a.tar.gz');
    const poller = compute.images.createOrUpdate(rg, 'imported', imageBody('a.tar.gz'), poll);
    await requested;
    await poller.submitted();
    assert.equal(await getState('imported'), 'Creating');
    // The store is free while the import waits on its download.
    const gallery = await compute.galleries.createOrUpdate(rg, 'meanwhile', { location: 'westeurope' }, poll);
    assert.equal(gallery.provisioningState, 'Succeeded');
    blobs.release('a.tar.gz');
    const image = await poller;
    assert.equal(image.provisioningState, 'Succeeded');
  });

  test('an import that fails after the PUT answered fails the operation with Azure’s error', async () => {
    const requested = blobs.requested('junk.bin');
    const poller = compute.images.createOrUpdate(rg, 'junk', imageBody('junk.bin'), poll);
    await requested;
    await poller.submitted();
    blobs.release('junk.bin');
    // core-lro words a failed operation as "...has failed. <code>. <message>" from its `error`.
    await assert.rejects(
      poller,
      /has failed\. InvalidParameter\. '.*' is neither a root file system tarball nor a disk image/,
    );
    assert.equal(await getState('junk'), 'Failed');
  });

  test('a template deployment with an imported image ends only once the import has', async () => {
    const c = server.connection;
    const deployments = new DeploymentsClient(credentialFor(c), c.subscriptionId, {
      endpoint: c.armEndpoint,
    });
    const template = {
      $schema: 'https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#',
      contentVersion: '1.0.0.0',
      resources: [
        {
          type: 'Microsoft.Compute/images',
          apiVersion: '2022-11-01',
          name: 'deployed',
          location: 'westeurope',
          properties: { storageProfile: imageBody('c.tar.gz').storageProfile },
        },
      ],
    };
    const requested = blobs.requested('c.tar.gz');
    const deployment = deployments.deployments.createOrUpdate(
      rg,
      'image_deploy',
      { properties: { mode: 'Incremental', template } },
      poll,
    );
    await requested;
    assert.equal(await getState('deployed'), 'Creating');
    blobs.release('c.tar.gz');
    const result = await deployment;
    assert.equal(result.properties?.provisioningState, 'Succeeded');
    assert.equal(await getState('deployed'), 'Succeeded', 'the deployment ended after the import');
  });

  test('a disk PUT that answers 200 Creating is followed to Succeeded by the poller; a pointer snapshot is at once', async () => {
    const disk = await compute.disks.createOrUpdate(
      rg,
      'empty-disk',
      { location: 'westeurope', diskSizeGB: 2, creationData: { createOption: 'Empty' } },
      poll,
    );
    assert.equal(disk.provisioningState, 'Succeeded');
    const snapshot = await compute.snapshots.createOrUpdate(
      rg,
      'empty-snap',
      { location: 'westeurope', creationData: { createOption: 'Copy', sourceResourceId: disk.id } },
      poll,
    );
    assert.equal(snapshot.provisioningState, 'Succeeded');
  });

  test('kill -9 during an import: the restarted server resumes the reservation and completes it', async () => {
    const requested = blobs.requested('b.tar.gz');
    const abort = new AbortController();
    const poller = compute.images.createOrUpdate(rg, 'survivor', imageBody('b.tar.gz'), {
      ...poll,
      abortSignal: abort.signal,
    });
    await requested;
    await poller.submitted();
    const killed = new Promise((r) => server.process.once('exit', r));
    server.process.kill('SIGKILL');
    await killed;
    abort.abort();
    await poller.catch(() => undefined);
    blobs.release('b.tar.gz');
    const before = blobs.requests;
    server = await startServer([], dataDir);
    compute = computeClient(server.connection);
    let state = await getState('survivor');
    for (let i = 0; i < 600 && state !== 'Succeeded' && state !== 'Failed'; i++) {
      await new Promise((r) => setTimeout(r, 100)); // polling a real server's background work, as any client does
      state = await getState('survivor');
    }
    assert.equal(state, 'Succeeded');
    assert.equal(blobs.requests, before + 1, 'the restart downloaded the blob again');
  });
});
