import type { Caller } from '../authorization/access.ts';
import type { DomainContext } from '../context.ts';
import { conflict } from '../errors.ts';
import { authorizeRead, authorizeWrite, computeId, requireResource, type ComputeAddress } from './common.ts';
import { replicationStatus } from './versions.ts';

/** Get, list and delete for every Microsoft.Compute resource type (the rules that differ live in the writers). */
export class ComputeQueries {
  private readonly ctx: DomainContext;
  constructor(ctx: DomainContext) {
    this.ctx = ctx;
  }

  get(caller: Caller, a: ComputeAddress) {
    return this.ctx.store.transaction(async (tx) => {
      await authorizeRead(tx, caller, a);
      const resource = await requireResource(tx, a);
      const replicas = a.segments.length === 3 ? await tx.listReplicas(resource.id) : [];
      return { resource, replicationStatus: replicationStatus(replicas) };
    });
  }

  list(
    caller: Caller,
    subscriptionId: string,
    type: string,
    scope: { resourceGroup?: string; parent?: ComputeAddress },
  ) {
    return this.ctx.store.transaction(async (tx) => {
      if (scope.parent) {
        await authorizeRead(tx, caller, scope.parent);
        const parent = await requireResource(tx, scope.parent);
        return tx.listComputeResources(subscriptionId, type, { parentId: parent.id });
      }
      return tx.listComputeResources(
        subscriptionId,
        type,
        scope.resourceGroup === undefined ? {} : { resourceGroup: scope.resourceGroup },
      );
    });
  }

  /** Deletes a gallery or definition only when it has no children (as Azure does), a version at once. */
  delete(caller: Caller, a: ComputeAddress): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      await authorizeWrite(tx, caller, a, 'delete');
      const existing = await tx.findComputeResource(computeId(a));
      if (!existing) return false;
      const childType =
        a.segments.length === 1
          ? 'Microsoft.Compute/galleries/images'
          : 'Microsoft.Compute/galleries/images/versions';
      if (
        a.segments.length < 3 &&
        (await tx.listComputeResources(a.subscriptionId, childType, { parentId: existing.id })).length > 0
      ) {
        const what = a.segments.length === 1 ? 'image definitions' : 'image versions';
        throw conflict(
          'OperationNotAllowed',
          `'${existing.name}' cannot be deleted because it still contains ${what}; delete them first.`,
        );
      }
      return tx.deleteComputeResource(existing.id);
    });
  }
}
