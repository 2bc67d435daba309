import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { credentialFor, startServer, type TestServer } from './harness.ts';

/** The network resources VM clients create alongside a VM are accepted and kept (@azure/arm-network). */
describe('network resources for VM clients', () => {
  let server: TestServer;
  let network: NetworkManagementClient;
  let compute: ComputeManagementClient;
  let rg: string;

  before(async () => {
    server = await startServer();
    const c = server.connection;
    rg = c.resourceGroup;
    const cred = credentialFor(c);
    network = new NetworkManagementClient(cred, c.subscriptionId, { endpoint: c.armEndpoint });
    compute = new ComputeManagementClient(cred, c.subscriptionId, { endpoint: c.armEndpoint });
  });
  after(async () => {
    await server.stop();
  });

  test('vnet, subnet, public IP, NSG and NIC are kept; a VM may reference the NIC', async () => {
    const opts = { updateIntervalInMs: 100 };
    const vnet = await network.virtualNetworks.beginCreateOrUpdateAndWait(
      rg,
      'vnet1',
      { location: 'westeurope', addressSpace: { addressPrefixes: ['10.0.0.0/16'] } },
      opts,
    );
    assert.equal(vnet.provisioningState, 'Succeeded');
    const subnet = await network.subnets.beginCreateOrUpdateAndWait(
      rg,
      'vnet1',
      'default',
      { addressPrefix: '10.0.0.0/24' },
      opts,
    );
    assert.equal(subnet.addressPrefix, '10.0.0.0/24');
    const ip = await network.publicIPAddresses.beginCreateOrUpdateAndWait(
      rg,
      'ip1',
      { location: 'westeurope', publicIPAllocationMethod: 'Static' },
      opts,
    );
    const nsg = await network.networkSecurityGroups.beginCreateOrUpdateAndWait(
      rg,
      'nsg1',
      { location: 'westeurope' },
      opts,
    );
    const nic = await network.networkInterfaces.beginCreateOrUpdateAndWait(
      rg,
      'nic1',
      {
        location: 'westeurope',
        networkSecurityGroup: { id: nsg.id },
        ipConfigurations: [{ name: 'ipconfig1', subnet: { id: subnet.id }, publicIPAddress: { id: ip.id } }],
      },
      opts,
    );
    assert.equal(nic.ipConfigurations?.[0]?.subnet?.id, subnet.id);
    const got = await network.virtualNetworks.get(rg, 'vnet1');
    assert.deepEqual(
      got.subnets?.map((s) => s.name),
      ['default'],
    );
    const vm = await compute.virtualMachines.createOrUpdate(
      rg,
      'vm-with-nic',
      {
        location: 'westeurope',
        hardwareProfile: { vmSize: 'Standard_D2s_v3' },
        storageProfile: {
          imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox', version: 'latest' },
        },
        networkProfile: { networkInterfaces: [{ id: nic.id }] },
      },
      opts,
    );
    assert.equal(vm.networkProfile?.networkInterfaces?.[0]?.id, nic.id);
    await network.virtualNetworks.beginDeleteAndWait(rg, 'vnet1', opts);
    await assert.rejects(
      network.subnets.get(rg, 'vnet1', 'default'),
      (e: { statusCode?: number }) => e.statusCode === 404,
    );
  });
});
