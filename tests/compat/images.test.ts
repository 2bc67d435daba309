import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ComputeManagementClient } from '@azure/arm-compute';
import { credentialFor, runCli, startServer } from './harness.ts';

/** `lazurite images` as a user runs it; the Debian build really runs debootstrap against Debian's mirror. */
describe('lazurite images', () => {
  test('builds Debian 12 minbase once, with progress, and lists it as runnable', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-images-'));
    const out = JSON.parse(await runCli(['images', 'build', 'debian-12', '--data-dir', dataDir])) as {
      key: string;
      manifest: string;
      sizeBytes: number;
    };
    assert.equal(out.key, 'debian:debian-12:12');
    assert.ok(out.sizeBytes > 50e6 && out.sizeBytes < 400e6, `size ${out.sizeBytes}`);
    const again = JSON.parse(await runCli(['images', 'build', 'debian-12', '--data-dir', dataDir])) as {
      manifest: string;
    };
    assert.equal(again.manifest, out.manifest, 'cached in the data dir');
    const list = await runCli(['images', 'list', '--data-dir', dataDir]);
    assert.match(list, /debian:debian-12:12\s+batch\.node\.debian 12\s+runnable \(debootstrap/);
    assert.match(list, /windowsserver.*not runnable here/);
    // The layer really is Debian 12: read /etc/debian_version out of it.
    const hex = out.manifest.slice('sha256:'.length);
    const manifest = JSON.parse(
      readFileSync(join(dataDir, 'regions', 'westeurope', 'blobs', 'sha256', hex.slice(0, 2), hex), 'utf8'),
    ) as { layers: string[] };
    const layerHex = (manifest.layers[0] ?? '').slice('sha256:'.length);
    const layer = join(dataDir, 'regions', 'westeurope', 'blobs', 'sha256', layerHex.slice(0, 2), layerHex);
    assert.match(execFileSync('tar', ['-xOf', layer, './etc/debian_version'], { encoding: 'utf8' }), /^12\./);

    // A Debian 12 VM on that data dir: ordinary Debian tools format and mount its data disk.
    const server = await startServer([], dataDir);
    try {
      const c = server.connection;
      const cred = credentialFor(c);
      const compute = new ComputeManagementClient(cred, c.subscriptionId, { endpoint: c.armEndpoint });
      const poll = { updateIntervalInMs: 100 };
      await compute.virtualMachines.createOrUpdate(
        c.resourceGroup,
        'debian',
        {
          location: c.location,
          hardwareProfile: { vmSize: 'Standard_D2s_v3' },
          storageProfile: {
            imageReference: { publisher: 'Debian', offer: 'debian-12', sku: '12', version: 'latest' },
            dataDisks: [{ lun: 0, createOption: 'Empty', diskSizeGB: 2 }],
          },
        },
        poll,
      );
      const run = await compute.virtualMachines.runCommand(
        c.resourceGroup,
        'debian',
        {
          commandId: 'RunShellScript',
          script: [
            'mkfs.ext4 -q /dev/disk/azure/scsi1/lun0 && mkdir -p /datadrive && mount /dev/disk/azure/scsi1/lun0 /datadrive',
            "df -T /datadrive | tail -1 | awk '{print $2}'; cat /etc/debian_version; dpkg-query -W -f='${Package}\\n' coreutils",
          ],
        },
        poll,
      );
      assert.match(run.value?.[0]?.message ?? '', /\[stdout\]\next4\n12\.\d+\ncoreutils/);
    } finally {
      await server.stop();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });
});
