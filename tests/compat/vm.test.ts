import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ComputeManagementClient } from '@azure/arm-compute';
import { blobPath, computeClient, startServer, storedContent, type TestServer } from './harness.ts';

describe('VM → customise → generalize → image → gallery version (@azure/arm-compute)', () => {
  let server: TestServer;
  let compute: ComputeManagementClient;
  let rg: string;
  const poll = { updateIntervalInMs: 100 };

  before(async () => {
    server = await startServer();
    const c = server.connection;
    rg = c.resourceGroup;
    compute = computeClient(c);
  });
  after(async () => {
    await server.stop();
  });

  test('software and data written by runCommand reach every replica of the image version', async () => {
    // A customisation downloads over the VM's own network (eth0, NAT through the host; the bridge 10.215.0.1 is
    // the default VM range's gateway), as the seeds' `apt-get install` does from a mirror.
    const mirror = createServer((_req, res) => res.end('downloaded-payload\n'));
    await new Promise<void>((r) => mirror.listen(0, '0.0.0.0', r));
    after(() => mirror.close());
    const mirrorUrl = `http://10.215.0.1:${String((mirror.address() as AddressInfo).port)}/payload`;
    const vm = await compute.virtualMachines.createOrUpdate(
      rg,
      'builder',
      {
        location: 'westeurope',
        hardwareProfile: { vmSize: 'Standard_D2s_v3' },
        storageProfile: {
          imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox', version: 'latest' },
          osDisk: { createOption: 'FromImage', caching: 'ReadWrite' },
          dataDisks: [{ lun: 0, createOption: 'Empty', diskSizeGB: 1 }],
        },
        osProfile: { computerName: 'builder', adminUsername: 'azureuser' },
      },
      poll,
    );
    assert.equal(vm.provisioningState, 'Succeeded');
    const install = await compute.virtualMachines.runCommand(
      rg,
      'builder',
      {
        commandId: 'RunShellScript',
        script: [
          'mkdir -p /opt/tool && printf "#!/bin/sh\\necho tool-v1 \\$1\\n" > /opt/tool/run && chmod 755 /opt/tool/run',
          'mke2fs -q /dev/disk/azure/scsi1/lun0 && mkdir -p /datadrive && mount /dev/disk/azure/scsi1/lun0 /datadrive',
          'echo "/dev/disk/azure/scsi1/lun0 /datadrive ext2 defaults 0 0" >> /etc/fstab',
          `wget -q -O /opt/tool/payload ${mirrorUrl}`,
          'echo reference-data-42 > /datadrive/ref.txt && hostname',
        ],
      },
      poll,
    );
    assert.match(install.value?.[0]?.message ?? '', /\nbuilder\n\n\[stderr\]/);
    assert.equal(install.value?.[0]?.code, 'ProvisioningState/succeeded');
    const check = await compute.virtualMachines.runCommand(
      rg,
      'builder',
      { commandId: 'RunShellScript', script: ['/opt/tool/run x; cat /datadrive/ref.txt /opt/tool/payload'] },
      poll,
    );
    assert.match(
      check.value?.[0]?.message ?? '',
      /tool-v1 x\nreference-data-42\ndownloaded-payload/,
      'the data disk is mounted again from /etc/fstab',
    );
    const failing = await compute.virtualMachines.runCommand(
      rg,
      'builder',
      { commandId: 'RunShellScript', script: ['echo oops >&2; exit 3'] },
      poll,
    );
    const failure = failing.value?.[0];
    assert.ok(failure);
    assert.equal(failure.code, 'ProvisioningState/failed/3');
    assert.match(failure.message ?? '', /\[stderr\]\noops/);

    const notGeneralized = compute.images.createOrUpdate(
      rg,
      'too-early',
      { location: 'westeurope', sourceVirtualMachine: { id: vm.id } },
      poll,
    );
    await assert.rejects(
      notGeneralized,
      (e: { statusCode?: number; code?: string }) => e.statusCode === 409 && e.code === 'OperationNotAllowed',
    );
    await compute.virtualMachines.deallocate(rg, 'builder', poll);
    await compute.virtualMachines.generalize(rg, 'builder');
    const view = await compute.virtualMachines.instanceView(rg, 'builder');
    assert.ok(view.statuses?.some((s) => s.code === 'OSState/generalized'));
    const image = await compute.images.createOrUpdate(
      rg,
      'builder-image',
      { location: 'westeurope', sourceVirtualMachine: { id: vm.id } },
      poll,
    );
    assert.equal(image.storageProfile?.osDisk?.osState, 'Generalized');

    await compute.galleries.createOrUpdate(rg, 'vmgallery', { location: 'westeurope' }, poll);
    await compute.galleryImages.createOrUpdate(
      rg,
      'vmgallery',
      'tool',
      {
        location: 'westeurope',
        osType: 'Linux',
        osState: 'Generalized',
        identifier: { publisher: 'contoso', offer: 'tool', sku: 'v1' },
      },
      poll,
    );
    const version = await compute.galleryImageVersions.createOrUpdate(
      rg,
      'vmgallery',
      'tool',
      '1.0.0',
      {
        location: 'westeurope',
        storageProfile: { source: { id: image.id } },
        publishingProfile: {
          targetRegions: [
            { name: 'westeurope', regionalReplicaCount: 2 },
            { name: 'eastus', regionalReplicaCount: 1 },
          ],
        },
      },
      poll,
    );
    assert.equal(version.provisioningState, 'Succeeded');

    // 1.1.0 is excluded from latest, so a VM from the definition id ("latest") in East US gets 1.0.0 — and the
    // program and the data disk (mounted from the image's /etc/fstab) are there.
    await compute.galleryImageVersions.createOrUpdate(
      rg,
      'vmgallery',
      'tool',
      '1.1.0',
      {
        location: 'westeurope',
        storageProfile: { source: { id: image.id } },
        publishingProfile: {
          excludeFromLatest: true,
          targetRegions: [{ name: 'westeurope' }, { name: 'eastus' }],
        },
      },
      poll,
    );
    const definitionId = version.id?.replace(/\/versions\/1\.0\.0$/, '') ?? '';
    const clone = await compute.virtualMachines.createOrUpdate(
      rg,
      'clone',
      {
        location: 'eastus',
        hardwareProfile: { vmSize: 'Standard_D2s_v3' },
        storageProfile: { imageReference: { id: definitionId } },
      },
      poll,
    );
    assert.equal(clone.storageProfile?.imageReference?.exactVersion, '1.0.0');
    const onClone = await compute.virtualMachines.runCommand(
      rg,
      'clone',
      { commandId: 'RunShellScript', script: ['/opt/tool/run y; cat /datadrive/ref.txt'] },
      poll,
    );
    assert.match(onClone.value?.[0]?.message ?? '', /tool-v1 y\nreference-data-42/);

    // On disk: unpack East US's replica of the OS disk and mount its data disk; the VM's writes are there.
    const root = storedContent(server.dataDir, 'Microsoft.Compute/galleries/images/versions', '1.0.0');
    const read = (d: string) => readFileSync(blobPath(server.dataDir, 'eastus', d));
    const img = JSON.parse(read(root).toString()) as { osDisk: string; dataDisks: { disk: string }[] };
    const os = JSON.parse(read(img.osDisk).toString()) as { layers: string[] };
    const top = blobPath(server.dataDir, 'eastus', os.layers.at(-1) ?? '');
    assert.match(execFileSync('tar', ['-xOf', top, './opt/tool/run'], { encoding: 'utf8' }), /tool-v1/);
    assert.equal(
      execFileSync('tar', ['-xOf', top, './etc/machine-id'], { encoding: 'utf8' }),
      '',
      'generalize emptied the machine id',
    );
    const data = JSON.parse(read(img.dataDisks[0]?.disk ?? '').toString()) as { chunks: (string | null)[] };
    const stored = data.chunks.filter((c): c is string => c !== null).map((c) => read(c));
    assert.ok(
      stored.some((chunk) => chunk.includes('reference-data-42')),
      'the data file is in the replicated data disk chunks',
    );
  });
});
