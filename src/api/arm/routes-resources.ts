import type { ArmDeps } from '../http/context.ts';
import { DomainError } from '../../domain/errors.ts';
import type { ArmRequest, ArmResponse, ArmRoute } from './router.ts';
import { ARM_SPECS, validateArmBody } from './validation.ts';
import {
  locationsToWire,
  providerToWire,
  resourceGroupToWire,
  subscriptionToWire,
  tenantToWire,
} from './wire.ts';

const RG = '/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}';

/** Subscriptions, tenants and locations visible to the caller. */
function subscriptionRoutes(deps: ArmDeps): ArmRoute[] {
  const { resources } = deps;
  return [
    {
      method: 'GET',
      pattern: '/subscriptions',
      handler: async ({ caller }) => ({
        status: 200,
        body: {
          value: (await resources.listSubscriptions(caller)).map(subscriptionToWire),
          count: { type: 'Total', value: 0 },
        },
      }),
    },
    {
      method: 'GET',
      pattern: '/subscriptions/{subscriptionId}',
      handler: async ({ caller, params }) => ({
        status: 200,
        body: subscriptionToWire(await resources.getSubscription(caller, params.subscriptionId ?? '')),
      }),
    },
    {
      method: 'GET',
      pattern: '/subscriptions/{subscriptionId}/locations',
      handler: async ({ caller, params }) => {
        const sub = await resources.getSubscription(caller, params.subscriptionId ?? '');
        return { status: 200, body: { value: locationsToWire(sub.id) } };
      },
    },
    {
      method: 'GET',
      pattern: '/tenants',
      handler: async ({ caller }) => {
        const tenant = await deps.principals.tenantOf(caller);
        return { status: 200, body: { value: tenant ? [tenantToWire(tenant)] : [] } };
      },
    },
  ];
}

/** HEAD on a resource group: 204 when it exists, 404 (no body) when not. */
async function groupExists(deps: ArmDeps, { caller, params }: ArmRequest): Promise<ArmResponse> {
  try {
    await deps.resources.getResourceGroup(
      caller,
      params.subscriptionId ?? '',
      params.resourceGroupName ?? '',
    );
    return { status: 204 };
  } catch (err) {
    if (err instanceof DomainError && err.code === 'ResourceGroupNotFound') return { status: 404 };
    throw err;
  }
}

function groupRoutes(deps: ArmDeps): ArmRoute[] {
  const { resources } = deps;
  return [
    {
      method: 'GET',
      pattern: '/subscriptions/{subscriptionId}/resourcegroups',
      handler: async ({ caller, params }) => ({
        status: 200,
        body: {
          value: (await resources.listResourceGroups(caller, params.subscriptionId ?? '')).map(
            resourceGroupToWire,
          ),
        },
      }),
    },
    {
      method: 'PUT',
      pattern: RG,
      handler: async ({ caller, params, body }) => {
        const input = validateArmBody(deps.specs, ARM_SPECS.resources, 'ResourceGroup', body);
        const { group, created } = await resources.putResourceGroup(
          caller,
          params.subscriptionId ?? '',
          params.resourceGroupName ?? '',
          input,
        );
        return { status: created ? 201 : 200, body: resourceGroupToWire(group) };
      },
    },
    {
      method: 'PATCH',
      pattern: RG,
      handler: async ({ caller, params, body }) => {
        const input = validateArmBody(deps.specs, ARM_SPECS.resources, 'ResourceGroupPatchable', body);
        const group = await resources.patchResourceGroup(
          caller,
          params.subscriptionId ?? '',
          params.resourceGroupName ?? '',
          input,
        );
        return { status: 200, body: resourceGroupToWire(group) };
      },
    },
    {
      method: 'GET',
      pattern: RG,
      handler: async ({ caller, params }) => ({
        status: 200,
        body: resourceGroupToWire(
          await resources.getResourceGroup(
            caller,
            params.subscriptionId ?? '',
            params.resourceGroupName ?? '',
          ),
        ),
      }),
    },
    {
      method: 'HEAD',
      pattern: RG,
      handler: (req) => groupExists(deps, req),
    },
    {
      method: 'DELETE',
      pattern: RG,
      handler: async ({ caller, params }) => {
        await resources.deleteResourceGroup(
          caller,
          params.subscriptionId ?? '',
          params.resourceGroupName ?? '',
        );
        return { status: 200 };
      },
    },
  ];
}

function providerRoutes(deps: ArmDeps): ArmRoute[] {
  const { resources } = deps;
  return [
    {
      method: 'GET',
      pattern: '/subscriptions/{subscriptionId}/providers',
      handler: async ({ caller, params }) => {
        const sub = params.subscriptionId ?? '';
        return {
          status: 200,
          body: { value: (await resources.listProviders(caller, sub)).map((p) => providerToWire(sub, p)) },
        };
      },
    },
    {
      method: 'GET',
      pattern: '/subscriptions/{subscriptionId}/providers/{namespace}',
      handler: async ({ caller, params }) => {
        const sub = params.subscriptionId ?? '';
        return {
          status: 200,
          body: providerToWire(sub, await resources.getProvider(caller, sub, params.namespace ?? '')),
        };
      },
    },
    ...(['register', 'unregister'] as const).map((verb): ArmRoute => ({
      method: 'POST',
      pattern: `/subscriptions/{subscriptionId}/providers/{namespace}/${verb}`,
      handler: async ({ caller, params }) => {
        const sub = params.subscriptionId ?? '';
        const view = await resources.setRegistration(
          caller,
          sub,
          params.namespace ?? '',
          verb === 'register',
        );
        return { status: 200, body: providerToWire(sub, view) };
      },
    })),
  ];
}

/** Microsoft.Resources: subscriptions, tenants, locations, resource groups and provider registration. */
export function resourceRoutes(deps: ArmDeps): ArmRoute[] {
  return [...subscriptionRoutes(deps), ...groupRoutes(deps), ...providerRoutes(deps)];
}
