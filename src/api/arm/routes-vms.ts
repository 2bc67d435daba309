import type { ComputeAddress } from '../../domain/compute/common.ts';
import { DomainError } from '../../domain/errors.ts';
import type { ComputeResourceRecord } from '../../domain/records.ts';
import type { ArmDeps } from '../http/context.ts';
import { computeToWire } from './routes-compute.ts';
import type { ArmRequest, ArmRoute } from './router.ts';
import { objectOrEmpty, validateArmBody } from './validation.ts';

const VM =
  '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{vmName}';
const VM_SPEC = 'compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2022-11-01/virtualMachine.json';

const vmAt = (p: Record<string, string>, ...more: { type: string; name: string }[]): ComputeAddress => ({
  subscriptionId: p.subscriptionId ?? '',
  resourceGroup: p.resourceGroupName ?? '',
  segments: [{ type: 'virtualMachines', name: p.vmName ?? '' }, ...more],
});

/** `instanceView` as Azure reports it: provisioning, power and (once generalized) OS state. */
export function instanceView(vm: ComputeResourceRecord) {
  const power = typeof vm.lineage.powerState === 'string' ? vm.lineage.powerState : 'running';
  const statuses = [
    {
      code: 'ProvisioningState/succeeded',
      level: 'Info',
      displayStatus: 'Provisioning succeeded',
      time: vm.updatedAt,
    },
    { code: `PowerState/${power}`, level: 'Info', displayStatus: `VM ${power}` },
  ];
  if (vm.lineage.generalized === true)
    statuses.push({ code: 'OSState/generalized', level: 'Info', displayStatus: 'VM generalized' });
  return {
    computerName:
      vm.properties.osProfile === undefined ? vm.name : objectOrEmpty(vm.properties.osProfile).computerName,
    osName: 'linux',
    statuses,
  };
}

function vmToWire(vm: ComputeResourceRecord, expand: boolean) {
  const wire = computeToWire(vm);
  return expand ? { ...wire, properties: { ...wire.properties, instanceView: instanceView(vm) } } : wire;
}

/** The run-command result shape Azure returns for Linux (`RunShellScript`): one status with stdout and stderr. */
function runCommandResult(r: { exitCode: number; stdout: string; stderr: string }) {
  const ok = r.exitCode === 0;
  return {
    value: [
      {
        code: ok ? 'ProvisioningState/succeeded' : `ProvisioningState/failed/${r.exitCode}`,
        level: ok ? 'Info' : 'Error',
        displayStatus: ok ? 'Provisioning succeeded' : 'Provisioning failed',
        message: `${ok ? 'Enable succeeded' : `Enable failed: the script exited with code ${r.exitCode}`}: \n[stdout]\n${r.stdout}\n[stderr]\n${r.stderr}`,
      },
    ],
  };
}

function power(deps: ArmDeps, verb: string, state: 'running' | 'stopped' | 'deallocated'): ArmRoute {
  return {
    method: 'POST',
    pattern: `${VM}/${verb}`,
    handler: async ({ caller, params }: ArmRequest) => {
      await deps.vms.setPower(caller, vmAt(params), state);
      return { status: 200 };
    },
  };
}

/** Microsoft.Compute/virtualMachines: create from a base or custom image, run commands, power, generalize. */
export function vmRoutes(deps: ArmDeps): ArmRoute[] {
  return [...vmCrudRoutes(deps), ...vmActionRoutes(deps)];
}

function vmCrudRoutes(deps: ArmDeps): ArmRoute[] {
  return [
    {
      method: 'PUT',
      pattern: VM,
      handler: async ({ caller, params, body }) => {
        const input = validateArmBody(deps.specs, VM_SPEC, 'VirtualMachine', body);
        const { resource, created } = await deps.vms.putVm(caller, vmAt(params), input);
        return { status: created ? 201 : 200, body: vmToWire(resource, false) };
      },
    },
    {
      method: 'GET',
      pattern: VM,
      handler: async ({ caller, params, query }) => ({
        status: 200,
        body: vmToWire(
          await deps.vms.getVm(caller, vmAt(params)),
          (query.$expand ?? '').toLowerCase() === 'instanceview',
        ),
      }),
    },
    {
      method: 'GET',
      pattern: `${VM}/instanceView`,
      handler: async ({ caller, params }) => ({
        status: 200,
        body: instanceView(await deps.vms.getVm(caller, vmAt(params))),
      }),
    },
    {
      method: 'DELETE',
      pattern: VM,
      handler: async ({ caller, params }) => ({
        status: (await deps.vms.deleteVm(caller, vmAt(params))) ? 200 : 204,
      }),
    },
    {
      method: 'GET',
      pattern: '/subscriptions/{subscriptionId}/providers/Microsoft.Compute/virtualMachines',
      handler: async ({ caller, params }) => {
        const list = await deps.computeQueries.list(
          caller,
          params.subscriptionId ?? '',
          'Microsoft.Compute/virtualMachines',
          {},
        );
        return { status: 200, body: { value: list.map((vm) => vmToWire(vm, false)) } };
      },
    },
    {
      method: 'GET',
      pattern:
        '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines',
      handler: async ({ caller, params }) => {
        const list = await deps.computeQueries.list(
          caller,
          params.subscriptionId ?? '',
          'Microsoft.Compute/virtualMachines',
          { resourceGroup: params.resourceGroupName ?? '' },
        );
        return { status: 200, body: { value: list.map((vm) => vmToWire(vm, false)) } };
      },
    },
  ];
}

/** VM actions: run commands, power, generalize, extensions. */
function vmActionRoutes(deps: ArmDeps): ArmRoute[] {
  return [
    {
      method: 'POST',
      pattern: `${VM}/runCommand`,
      handler: async ({ caller, params, body }) => {
        // RunCommandInput lives in runCommand.json, which the spec copy lacks: check its one required field here.
        const input = objectOrEmpty(body);
        if (typeof input.commandId !== 'string') {
          throw new DomainError(
            'invalid-input',
            'InvalidParameter',
            "'commandId' is required (RunShellScript).",
            { target: 'commandId' },
          );
        }
        return {
          status: 200,
          body: runCommandResult(await deps.vms.runCommand(caller, vmAt(params), input)),
        };
      },
    },
    power(deps, 'deallocate', 'deallocated'),
    power(deps, 'powerOff', 'stopped'),
    power(deps, 'start', 'running'),
    {
      method: 'POST',
      pattern: `${VM}/generalize`,
      handler: async ({ caller, params }) => {
        await deps.vms.generalize(caller, vmAt(params));
        return { status: 200 };
      },
    },
    {
      method: 'PUT',
      pattern: `${VM}/extensions/{extensionName}`,
      handler: async ({ caller, params, body }) => {
        const input = validateArmBody(deps.specs, VM_SPEC, 'VirtualMachineExtension', body);
        const { resource, created } = await deps.vms.putExtension(
          caller,
          vmAt(params, { type: 'extensions', name: params.extensionName ?? '' }),
          input,
        );
        return { status: created ? 201 : 200, body: computeToWire(resource) };
      },
    },
  ];
}
