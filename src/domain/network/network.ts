import type { ComputeResourceRecord } from '../../storage/records.ts';
import { requirePermission, type Caller } from '../authorization/access.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { invalidInput, notFound } from '../errors.ts';
import { requireKnownLocation } from '../locations.ts';
import { requireResourceGroup, rgScope, validateTags } from '../resources/resources.ts';

/** Network resource types that VM clients create alongside a VM; kept as ARM resources, not wired to anything. */
export const NETWORK_TYPES = [
  'virtualNetworks',
  'virtualNetworks/subnets',
  'networkInterfaces',
  'publicIPAddresses',
  'networkSecurityGroups',
] as const;

export interface NetworkAddress {
  subscriptionId: string;
  resourceGroup: string;
  /** type/name pairs after `Microsoft.Network`. */
  segments: { type: string; name: string }[];
}

const typeOf = (a: NetworkAddress) => `Microsoft.Network/${a.segments.map((s) => s.type).join('/')}`;
export const networkId = (a: NetworkAddress) =>
  `${rgScope(a.subscriptionId, a.resourceGroup)}/providers/Microsoft.Network/${a.segments.map((s) => `${s.type}/${s.name}`).join('/')}`;

/**
 * Accepts and keeps Microsoft.Network resources (R-issue 3, item 7) so VM clients that create them work; a VM
 * never requires them. Subnets are children of their virtual network and also appear in its `subnets` list.
 */
export class NetworkService {
  private readonly ctx: DomainContext;
  constructor(ctx: DomainContext) {
    this.ctx = ctx;
  }

  put(caller: Caller, a: NetworkAddress, body: Record<string, unknown>) {
    const name = a.segments.at(-1)?.name ?? '';
    if (!/^[A-Za-z0-9]([A-Za-z0-9._-]{0,78}[A-Za-z0-9_])?$/.test(name)) {
      throw invalidInput('InvalidResourceName', `Resource name '${name}' is invalid.`, 'name');
    }
    return this.ctx.store.transaction(async (tx) => {
      await requireResourceGroup(tx, a.subscriptionId, a.resourceGroup);
      await requirePermission(tx, caller, `${typeOf(a)}/write`, networkId(a));
      const parent =
        a.segments.length > 1
          ? await tx.findComputeResource(networkId({ ...a, segments: a.segments.slice(0, 1) }))
          : undefined;
      if (a.segments.length > 1 && !parent)
        throw notFound(
          'ResourceNotFound',
          `The parent resource '${a.segments[0]?.name ?? ''}' was not found.`,
        );
      const existing = await tx.findComputeResource(networkId(a));
      const now = isoNow(this.ctx);
      const props = (body.properties ?? {}) as Record<string, unknown>;
      const location =
        parent?.location ??
        (body.location === undefined && existing ? existing.location : requireKnownLocation(body.location));
      const record: ComputeResourceRecord = {
        id: existing?.id ?? networkId(a),
        subscriptionId: a.subscriptionId.toLowerCase(),
        resourceGroup: a.resourceGroup,
        type: typeOf(a),
        name: existing?.name ?? name,
        parentId: parent?.id ?? null,
        location,
        tags: validateTags(body.tags),
        properties: {
          ...props,
          provisioningState: 'Succeeded',
          resourceGuid: existing?.properties.resourceGuid ?? this.ctx.ids.uuid(),
        },
        sku: (body.sku as Record<string, unknown> | undefined) ?? null,
        content: null,
        lineage: {},
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      await tx.putComputeResource(record);
      return { resource: record, created: !existing };
    });
  }

  get(caller: Caller, a: NetworkAddress) {
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(tx, caller, `${typeOf(a)}/read`, networkId(a));
      const r = await tx.findComputeResource(networkId(a));
      if (!r)
        throw notFound(
          'ResourceNotFound',
          `The Resource '${typeOf(a)}/${a.segments.at(-1)?.name ?? ''}' under resource group '${a.resourceGroup}' was not found.`,
        );
      const subnets =
        a.segments.length === 1 && a.segments[0]?.type.toLowerCase() === 'virtualnetworks'
          ? await tx.listComputeResources(a.subscriptionId, 'Microsoft.Network/virtualNetworks/subnets', {
              parentId: r.id,
            })
          : [];
      return { resource: r, subnets };
    });
  }

  list(caller: Caller, a: NetworkAddress) {
    return this.ctx.store.transaction(async (tx) => {
      await requireResourceGroup(tx, a.subscriptionId, a.resourceGroup);
      await requirePermission(tx, caller, `${typeOf(a)}/read`, rgScope(a.subscriptionId, a.resourceGroup));
      const parent =
        a.segments.length > 1 ? networkId({ ...a, segments: a.segments.slice(0, -1) }) : undefined;
      return tx.listComputeResources(
        a.subscriptionId,
        typeOf(a),
        parent === undefined ? { resourceGroup: a.resourceGroup } : { parentId: parent },
      );
    });
  }

  delete(caller: Caller, a: NetworkAddress): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(tx, caller, `${typeOf(a)}/delete`, networkId(a));
      const r = await tx.findComputeResource(networkId(a));
      if (!r) return false;
      for (const child of await tx.listComputeResources(
        a.subscriptionId,
        'Microsoft.Network/virtualNetworks/subnets',
        { parentId: r.id },
      )) {
        await tx.deleteComputeResource(child.id);
      }
      return tx.deleteComputeResource(r.id);
    });
  }
}
