import type { ComputeResourceRecord } from '../../storage/records.ts';
import { requirePermission, type Caller } from '../authorization/access.ts';
import { isoNow, type DomainContext } from '../context.ts';
import { notFound } from '../errors.ts';
import { requireResourceGroup, rgScope } from './resources.ts';

const TYPE = 'Microsoft.Resources/deployments';
const idOf = (sub: string, group: string, name: string) => `${rgScope(sub, group)}/providers/${TYPE}/${name}`;

/** Deployment records (what was deployed and how it ended); the template engine lives at the ARM edge. */
export class DeploymentService {
  private readonly ctx: DomainContext;
  constructor(ctx: DomainContext) {
    this.ctx = ctx;
  }

  /** Checks the caller may deploy to the group (each resource is still authorized on its own). */
  authorize(caller: Caller, sub: string, group: string, name: string) {
    return this.ctx.store.transaction(async (tx) => {
      const rg = await requireResourceGroup(tx, sub, group);
      await requirePermission(tx, caller, `${TYPE}/write`, idOf(sub, group, name));
      return rg;
    });
  }

  record(sub: string, group: string, name: string, location: string, properties: Record<string, unknown>) {
    return this.ctx.store.transaction(async (tx) => {
      const now = isoNow(this.ctx);
      const existing = await tx.findComputeResource(idOf(sub, group, name));
      const r: ComputeResourceRecord = {
        id: existing?.id ?? idOf(sub, group, name),
        subscriptionId: sub.toLowerCase(),
        resourceGroup: group,
        type: TYPE,
        name,
        parentId: null,
        location,
        tags: {},
        properties,
        sku: null,
        content: null,
        lineage: {},
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      await tx.putComputeResource(r);
      return { resource: r, created: !existing };
    });
  }

  get(caller: Caller, sub: string, group: string, name: string) {
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(tx, caller, `${TYPE}/read`, idOf(sub, group, name));
      const r = await tx.findComputeResource(idOf(sub, group, name));
      if (!r) throw notFound('DeploymentNotFound', `Deployment '${name}' could not be found.`);
      return r;
    });
  }

  list(caller: Caller, sub: string, group: string) {
    return this.ctx.store.transaction(async (tx) => {
      await requirePermission(tx, caller, `${TYPE}/read`, rgScope(sub, group));
      return tx.listComputeResources(sub, TYPE, { resourceGroup: group });
    });
  }
}
