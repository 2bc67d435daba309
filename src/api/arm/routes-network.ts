import type { NetworkAddress } from '../../domain/network/network.ts';
import type { ComputeResourceRecord } from '../../domain/records.ts';
import type { ArmDeps } from '../http/context.ts';
import type { ArmRoute } from './router.ts';
import { objectOrEmpty } from './validation.ts';

const NETWORK =
  '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network';

function toWire(r: ComputeResourceRecord, subnets: ComputeResourceRecord[] = []): Record<string, unknown> {
  const etag = `W/"${r.updatedAt}"`;
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    ...(r.parentId === null ? { location: r.location, tags: r.tags } : {}),
    etag,
    ...(r.sku === null ? {} : { sku: r.sku }),
    properties: {
      ...r.properties,
      ...(subnets.length > 0 ? { subnets: subnets.map((s) => toWire(s)) } : {}),
    },
  };
}

function routesFor(deps: ArmDeps, types: string[]): ArmRoute[] {
  const names = types.map((_, i) => `n${i}`);
  const item = `${NETWORK}/${types.map((t, i) => `${t}/{${names[i] ?? ''}}`).join('/')}`;
  const collection = `${NETWORK}/${types.map((t, i) => (i < types.length - 1 ? `${t}/{${names[i] ?? ''}}` : t)).join('/')}`;
  const at = (p: Record<string, string>, count = types.length): NetworkAddress => ({
    subscriptionId: p.subscriptionId ?? '',
    resourceGroup: p.resourceGroupName ?? '',
    segments: types.slice(0, count).map((type, i) => ({ type, name: p[names[i] ?? ''] ?? '' })),
  });
  return [
    {
      method: 'PUT',
      pattern: item,
      handler: async ({ caller, params, body }) => {
        const { resource, created } = await deps.network.put(caller, at(params), objectOrEmpty(body));
        return { status: created ? 201 : 200, body: toWire(resource) };
      },
    },
    {
      method: 'GET',
      pattern: item,
      handler: async ({ caller, params }) => {
        const { resource, subnets } = await deps.network.get(caller, at(params));
        return { status: 200, body: toWire(resource, subnets) };
      },
    },
    {
      method: 'DELETE',
      pattern: item,
      handler: async ({ caller, params }) => ({
        status: (await deps.network.delete(caller, at(params))) ? 200 : 204,
      }),
    },
    {
      method: 'GET',
      pattern: collection,
      handler: async ({ caller, params }) => {
        const list = await deps.network.list(caller, {
          ...at(params),
          segments: [...at(params, types.length - 1).segments, { type: types.at(-1) ?? '', name: '' }],
        });
        return { status: 200, body: { value: list.map((r) => toWire(r)) } };
      },
    },
  ];
}

/** Microsoft.Network resources VM clients create (kept, not enforced): vnets, subnets, NICs, public IPs, NSGs. */
export function networkRoutes(deps: ArmDeps): ArmRoute[] {
  return [
    ['virtualNetworks', 'subnets'],
    ['virtualNetworks'],
    ['networkInterfaces'],
    ['publicIPAddresses'],
    ['networkSecurityGroups'],
  ].flatMap((types) => routesFor(deps, types));
}
