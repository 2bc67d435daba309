import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { blobPath, computeClient, startServer, storedContent } from './harness.ts';

describe('kill -9 during replication', () => {
  test('after a restart replication resumes, completes, and the replica holds every byte', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-crash-'));
    const first = await startServer([], dataDir);
    const rg = first.connection.resourceGroup;
    let compute = computeClient(first.connection);
    const poll = { updateIntervalInMs: 100 };
    // A VM writes ~400 MB of incompressible data to a data disk, so copying it takes a moment.
    await compute.virtualMachines.createOrUpdate(
      rg,
      'big',
      {
        location: 'westeurope',
        hardwareProfile: { vmSize: 'Standard_D2s_v3' },
        storageProfile: {
          imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox', version: 'latest' },
          dataDisks: [{ lun: 0, createOption: 'Empty', diskSizeGB: 1 }],
        },
      },
      poll,
    );
    const fill = await compute.virtualMachines.runCommand(
      rg,
      'big',
      {
        commandId: 'RunShellScript',
        script: ['dd if=/dev/urandom of=/dev/disk/azure/scsi1/lun0 bs=1M count=400 2>/dev/null; echo done'],
      },
      poll,
    );
    assert.match(fill.value?.[0]?.message ?? '', /done/);
    await compute.virtualMachines.deallocate(rg, 'big', poll);
    await compute.virtualMachines.generalize(rg, 'big');
    const image = await compute.images.createOrUpdate(
      rg,
      'big-image',
      {
        location: 'westeurope',
        sourceVirtualMachine: {
          id: `/subscriptions/${first.connection.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/big`,
        },
      },
      poll,
    );
    await compute.galleries.createOrUpdate(rg, 'crashgallery', { location: 'westeurope' }, poll);
    await compute.galleryImages.createOrUpdate(
      rg,
      'crashgallery',
      'def',
      {
        location: 'westeurope',
        osType: 'Linux',
        osState: 'Generalized',
        identifier: { publisher: 'p', offer: 'o', sku: 's' },
      },
      poll,
    );
    // Start the version (do not wait), then kill the server while it copies.
    const abort = new AbortController();
    const poller = compute.galleryImageVersions.createOrUpdate(
      rg,
      'crashgallery',
      'def',
      '1.0.0',
      {
        location: 'westeurope',
        storageProfile: { source: { id: image.id } },
        publishingProfile: {
          targetRegions: [{ name: 'westeurope' }, { name: 'eastus' }, { name: 'westus' }],
        },
      },
      { ...poll, abortSignal: abort.signal },
    );
    await poller.submitted();
    const killed = new Promise((r) => first.process.once('exit', r));
    first.process.kill('SIGKILL');
    await killed;
    abort.abort();
    await poller.catch(() => undefined);

    const second = await startServer([], dataDir);
    compute = computeClient(second.connection);
    const before = await compute.galleryImageVersions.get(rg, 'crashgallery', 'def', '1.0.0', {
      expand: 'ReplicationStatus',
    });
    for (const s of before.replicationStatus?.summary ?? []) {
      if (s.state === 'Completed')
        assert.equal(s.progress, 100, 'a replica is never reported complete before it is');
    }
    let version = before;
    for (let i = 0; i < 600 && version.provisioningState !== 'Succeeded'; i++) {
      await new Promise((r) => setTimeout(r, 100)); // polling a real server's background work, as any client does
      version = await compute.galleryImageVersions.get(rg, 'crashgallery', 'def', '1.0.0', {
        expand: 'ReplicationStatus',
      });
    }
    assert.equal(version.provisioningState, 'Succeeded');
    assert.equal(version.replicationStatus?.aggregatedState, 'Completed');
    // Every blob the version reaches is present, byte-identical, in each target region's store.
    const root = storedContent(dataDir, 'Microsoft.Compute/galleries/images/versions', '1.0.0');
    const path = (region: string, d: string) => blobPath(dataDir, region, d);
    const img = JSON.parse(readFileSync(path('westeurope', root), 'utf8')) as {
      osDisk: string;
      dataDisks: { disk: string }[];
    };
    const data = JSON.parse(readFileSync(path('westeurope', img.dataDisks[0]?.disk ?? ''), 'utf8')) as {
      chunks: (string | null)[];
    };
    const chunks = data.chunks.filter((c): c is string => c !== null);
    assert.ok(chunks.length >= 100, `expected ~100 data chunks, got ${chunks.length}`);
    for (const region of ['eastus', 'westus']) {
      for (const d of [root, img.osDisk, ...chunks])
        assert.ok(
          readFileSync(path(region, d)).equals(readFileSync(path('westeurope', d))),
          `${region} ${d}`,
        );
    }
    await second.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
});
