import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ComputeManagementClient } from '@azure/arm-compute';
import { DeploymentsClient } from '@azure/arm-resourcesdeployments';
import { credentialFor, startServer, type TestServer } from './harness.ts';

/** A template shaped like the one `az vm create` submits: NSG, public IP, vnet, NIC, then the VM. */
const template = {
  $schema: 'https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#',
  contentVersion: '1.0.0.0',
  parameters: { vmName: { type: 'string' }, adminUsername: { type: 'string', defaultValue: 'azureuser' } },
  variables: {
    nicName: "[concat(parameters('vmName'), 'VMNic')]",
    vnetName: "[concat(parameters('vmName'), 'VNET')]",
  },
  resources: [
    {
      type: 'Microsoft.Network/networkSecurityGroups',
      apiVersion: '2022-01-01',
      name: "[concat(parameters('vmName'), 'NSG')]",
      location: '[resourceGroup().location]',
      properties: { securityRules: [] },
    },
    {
      type: 'Microsoft.Network/publicIPAddresses',
      apiVersion: '2022-01-01',
      name: "[concat(parameters('vmName'), 'PublicIP')]",
      location: '[resourceGroup().location]',
      properties: { publicIPAllocationMethod: 'Static' },
    },
    {
      type: 'Microsoft.Network/virtualNetworks',
      apiVersion: '2022-01-01',
      name: "[variables('vnetName')]",
      location: '[resourceGroup().location]',
      properties: {
        addressSpace: { addressPrefixes: ['10.0.0.0/16'] },
        subnets: [{ name: 'default', properties: { addressPrefix: '10.0.0.0/24' } }],
      },
    },
    {
      type: 'Microsoft.Network/networkInterfaces',
      apiVersion: '2022-01-01',
      name: "[variables('nicName')]",
      location: '[resourceGroup().location]',
      dependsOn: [
        "[concat('Microsoft.Network/virtualNetworks/', variables('vnetName'))]",
        "[resourceId('Microsoft.Network/networkSecurityGroups', concat(parameters('vmName'), 'NSG'))]",
      ],
      properties: {
        ipConfigurations: [
          {
            name: 'ipconfig',
            properties: {
              subnet: {
                id: "[resourceId('Microsoft.Network/virtualNetworks/subnets', variables('vnetName'), 'default')]",
              },
            },
          },
        ],
      },
    },
    {
      type: 'Microsoft.Compute/virtualMachines',
      apiVersion: '2022-11-01',
      name: "[parameters('vmName')]",
      location: '[resourceGroup().location]',
      dependsOn: ["[resourceId('Microsoft.Network/networkInterfaces', variables('nicName'))]"],
      properties: {
        hardwareProfile: { vmSize: 'Standard_DS1_v2' },
        networkProfile: {
          networkInterfaces: [
            { id: "[resourceId('Microsoft.Network/networkInterfaces', variables('nicName'))]" },
          ],
        },
        storageProfile: {
          osDisk: { createOption: 'fromImage', caching: 'ReadWrite' },
          imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox', version: 'latest' },
        },
        osProfile: {
          computerName: "[parameters('vmName')]",
          adminUsername: "[parameters('adminUsername')]",
          linuxConfiguration: { disablePasswordAuthentication: true },
        },
      },
    },
  ],
  outputs: {
    vmId: {
      type: 'string',
      value: "[resourceId('Microsoft.Compute/virtualMachines', parameters('vmName'))]",
    },
  },
};

describe('ARM template deployments', () => {
  let server: TestServer;
  let resources: DeploymentsClient;
  let compute: ComputeManagementClient;
  let rg: string;

  before(async () => {
    server = await startServer();
    const c = server.connection;
    rg = c.resourceGroup;
    const cred = credentialFor(c);
    resources = new DeploymentsClient(cred, c.subscriptionId, { endpoint: c.armEndpoint });
    compute = new ComputeManagementClient(cred, c.subscriptionId, { endpoint: c.armEndpoint });
  });
  after(async () => {
    await server.stop();
  });

  test('a VM template deploys its network resources and a VM that runs commands', async () => {
    const result = await resources.deployments.createOrUpdate(
      rg,
      'vm_deploy_1',
      { properties: { mode: 'Incremental', template, parameters: { vmName: { value: 'tmplvm' } } } },
      { updateIntervalInMs: 100 },
    );
    const props = result.properties;
    assert.ok(props);
    assert.equal(props.provisioningState, 'Succeeded');
    assert.equal(props.outputResources?.length, 5);
    const outputs = props.outputs as { vmId: { value: string } };
    assert.match(outputs.vmId.value, /\/providers\/Microsoft\.Compute\/virtualMachines\/tmplvm$/);
    const vm = await compute.virtualMachines.get(rg, 'tmplvm');
    assert.equal(vm.osProfile?.adminUsername, 'azureuser');
    const run = await compute.virtualMachines.runCommand(
      rg,
      'tmplvm',
      { commandId: 'RunShellScript', script: ['hostname'] },
      { updateIntervalInMs: 100 },
    );
    assert.match(run.value?.[0]?.message ?? '', /\[stdout\]\ntmplvm/);
  });

  test('a resource that fails makes the deployment Failed with the cause in its details', async () => {
    const bad = {
      ...template,
      resources: [
        {
          type: 'Microsoft.Compute/virtualMachines',
          apiVersion: '2022-11-01',
          name: 'winvm',
          location: 'westeurope',
          properties: {
            hardwareProfile: { vmSize: 'Standard_DS1_v2' },
            storageProfile: {
              imageReference: {
                publisher: 'MicrosoftWindowsServer',
                offer: 'WindowsServer',
                sku: '2022-datacenter',
                version: 'latest',
              },
            },
          },
        },
      ],
    };
    await assert.rejects(
      resources.deployments.createOrUpdate(
        rg,
        'bad',
        { properties: { mode: 'Incremental', template: bad, parameters: { vmName: { value: 'x' } } } },
        { updateIntervalInMs: 100 },
      ),
      (e: { code?: string; message?: string }) =>
        /DeploymentFailed|OSTypeNotSupported|operation has failed/.test(`${e.code ?? ''} ${e.message ?? ''}`),
    );
    const d = await resources.deployments.get(rg, 'bad');
    assert.ok(d.properties);
    assert.equal(d.properties.provisioningState, 'Failed');
    assert.match(JSON.stringify(d.properties.error), /OSTypeNotSupported/);
  });

  test('condition leaves a resource out, a copy loop makes count instances, Complete mode and unknown parameters are refused', async () => {
    const looped = {
      $schema: template.$schema,
      contentVersion: '1.0.0.0',
      parameters: {
        count: { type: 'int', defaultValue: 3 },
        withExtra: { type: 'bool', defaultValue: false },
      },
      resources: [
        {
          type: 'Microsoft.Network/networkSecurityGroups',
          apiVersion: '2022-01-01',
          name: "[concat('loopnsg', copyIndex(1))]",
          location: '[resourceGroup().location]',
          copy: { name: 'nsgLoop', count: "[parameters('count')]" },
          properties: { securityRules: [] },
        },
        {
          type: 'Microsoft.Network/networkSecurityGroups',
          apiVersion: '2022-01-01',
          name: 'extransg',
          condition: "[parameters('withExtra')]",
          location: '[resourceGroup().location]',
          properties: { securityRules: [] },
        },
        {
          type: 'Microsoft.Network/publicIPAddresses',
          apiVersion: '2022-01-01',
          name: "[concat('ip', uniqueString(resourceGroup().id))]",
          location: '[resourceGroup().location]',
          dependsOn: ['nsgLoop', 'extransg'],
          properties: { publicIPAllocationMethod: 'Static' },
        },
      ],
    };
    const result = await resources.deployments.createOrUpdate(
      rg,
      'loops',
      { properties: { mode: 'Incremental', template: looped } },
      { updateIntervalInMs: 100 },
    );
    const ids = (result.properties?.outputResources ?? []).map((r) => (r.id ?? '').split('/').pop());
    assert.deepEqual(
      ids.slice(0, 3),
      ['loopnsg1', 'loopnsg2', 'loopnsg3'],
      'the loop first (the IP depends on it)',
    );
    assert.equal(ids.length, 4, 'extransg is left out by its condition');
    assert.match(ids[3] ?? '', /^ip[a-z2-7]{13}$/);
    const again = await resources.deployments.createOrUpdate(
      rg,
      'loops2',
      { properties: { mode: 'Incremental', template: looped, parameters: { withExtra: { value: true } } } },
      { updateIntervalInMs: 100 },
    );
    const ids2 = (again.properties?.outputResources ?? []).map((r) => (r.id ?? '').split('/').pop());
    assert.deepEqual(
      ids2,
      ['loopnsg1', 'loopnsg2', 'loopnsg3', 'extransg', ids[3]],
      'uniqueString is stable',
    );
    const refused = async (properties: Record<string, unknown>, code: string) =>
      assert.rejects(
        resources.deployments.createOrUpdate(rg, 'refused', { properties: properties as never }),
        (e: { code?: string; statusCode?: number; message?: string }) => {
          assert.equal(e.code, code, `${String(e.statusCode)} ${String(e.message)}`);
          return true;
        },
      );
    await refused({ mode: 'Complete', template: looped }, 'NotImplemented');
    await refused({ mode: 'complete', template: looped }, 'NotImplemented');
    await refused({ mode: 'Destroy', template: looped }, 'InvalidRequestContent');
    await refused(
      { mode: 'Incremental', template: looped, parameters: { cuont: { value: 2 } } },
      'InvalidTemplate',
    );
    const propertyCopy = {
      ...looped,
      resources: [
        {
          ...looped.resources[1],
          condition: true,
          properties: { copy: [{ name: 'x', count: 2, input: {} }] },
        },
      ],
    };
    await refused({ mode: 'Incremental', template: propertyCopy }, 'InvalidTemplate');
  });
});
