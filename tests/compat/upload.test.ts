import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ComputeManagementClient } from '@azure/arm-compute';
import { buildTinyRootfs } from '../../src/content/rootfs/tiny.ts';
import { computeClient, credentialFor, startServer, type TestServer } from './harness.ts';

/** R5(c): managed images from generalized disks uploaded from elsewhere, then VMs booted from them. */
describe('images from uploaded disks (rootfs tarball, raw ext4, fixed VHD)', () => {
  let server: TestServer;
  let compute: ComputeManagementClient;
  let rg: string;
  let uploads: string;
  const poll = { updateIntervalInMs: 100 };

  before(async () => {
    server = await startServer();
    const c = server.connection;
    rg = c.resourceGroup;
    compute = computeClient(c);
    uploads = join(server.dataDir, 'uploads');
    mkdirSync(uploads, { recursive: true });
    const root = mkdtempSync(join(tmpdir(), 'lazurite-upload-'));
    await buildTinyRootfs(root);
    writeFileSync(join(root, 'etc', 'uploaded-from'), 'elsewhere\n');
    execFileSync('tar', ['-C', root, '-czf', join(uploads, 'rootfs.tar.gz'), '.']);
    execFileSync('mkfs.ext4', ['-q', '-F', '-d', root, join(uploads, 'disk.raw'), '64M']);
    execFileSync('cp', [join(uploads, 'disk.raw'), join(uploads, 'disk.vhd')]);
    const footer = Buffer.alloc(512);
    footer.write('conectix', 0, 'latin1');
    appendFileSync(join(uploads, 'disk.vhd'), footer);
  });
  after(async () => {
    await server.stop();
  });

  for (const file of ['rootfs.tar.gz', 'disk.raw', 'disk.vhd']) {
    test(`${file} → managed image → VM that boots from it`, async () => {
      const name = file.replace(/\W/g, '-');
      const image = await compute.images.createOrUpdate(
        rg,
        name,
        {
          location: 'westeurope',
          storageProfile: {
            osDisk: {
              osType: 'Linux',
              osState: 'Generalized',
              blobUri: pathToFileURL(join(uploads, file)).href,
            },
          },
        },
        poll,
      );
      assert.equal(image.provisioningState, 'Succeeded');
      await compute.virtualMachines.createOrUpdate(
        rg,
        `vm-${name}`,
        {
          location: 'westeurope',
          hardwareProfile: { vmSize: 'Standard_D2s_v3' },
          storageProfile: { imageReference: { id: image.id } },
        },
        poll,
      );
      const out = await compute.virtualMachines.runCommand(
        rg,
        `vm-${name}`,
        { commandId: 'RunShellScript', script: ['cat /etc/uploaded-from'] },
        poll,
      );
      assert.match(out.value?.[0]?.message ?? '', /\[stdout\]\nelsewhere/);
    });
  }

  test('a blobUri outside the uploads folder is refused, naming the field', async () => {
    const c = server.connection;
    const cred = credentialFor(c);
    const token = (await cred.getToken('https://management.azure.com/.default')).token;
    const res = await fetch(
      `${c.armEndpoint}/subscriptions/${c.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/images/sneaky?api-version=2022-11-01`,
      {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          location: 'westeurope',
          properties: {
            storageProfile: {
              osDisk: { osType: 'Linux', osState: 'Generalized', blobUri: 'file:///etc/shadow' },
            },
          },
        }),
      },
    );
    const body = (await res.json()) as { error: { code: string; target: string } };
    assert.equal(res.status, 400);
    assert.deepEqual(
      [body.error.code, body.error.target],
      ['InvalidParameter', 'properties.storageProfile.osDisk.blobUri'],
    );
  });
});
