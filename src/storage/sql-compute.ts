import type { Selectable, Transaction } from 'kysely';
import type { ComputeResourceRecord, OperationRecord, ReplicaRecord, ReplicaState } from './records.ts';
import type { ComputeResourcesTable, Database, ReplicasTable } from './sqlite/schema.ts';
import { caseKey, resourceIdKey } from './keys.ts';

/** Compute resources, replicas and operations over Kysely; `SqlStoreTx` delegates here. */

function toResource(r: Selectable<ComputeResourcesTable>): ComputeResourceRecord {
  return {
    id: r.id,
    subscriptionId: r.subscription_id,
    resourceGroup: r.resource_group,
    type: r.type,
    name: r.name,
    parentId: r.parent_key,
    location: r.location,
    tags: JSON.parse(r.tags) as Record<string, string>,
    properties: JSON.parse(r.properties) as Record<string, unknown>,
    sku: r.sku === null ? null : (JSON.parse(r.sku) as Record<string, unknown>),
    content: r.content === null ? null : (JSON.parse(r.content) as ComputeResourceRecord['content']),
    lineage: JSON.parse(r.lineage) as Record<string, unknown>,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toReplica(r: Selectable<ReplicasTable>): ReplicaRecord {
  return {
    versionId: r.version_id,
    region: r.region,
    replicaCount: r.replica_count,
    state: r.state as ReplicaState,
    bytesDone: r.bytes_done,
    bytesTotal: r.bytes_total,
    details: r.details,
    updatedAt: r.updated_at,
  };
}

export async function putComputeResource(db: Transaction<Database>, r: ComputeResourceRecord): Promise<void> {
  const row = {
    id_key: resourceIdKey(r.id),
    id: r.id,
    subscription_id: resourceIdKey(r.subscriptionId),
    resource_group_key: resourceIdKey(r.resourceGroup),
    resource_group: r.resourceGroup,
    type_key: resourceIdKey(r.type),
    type: r.type,
    name: r.name,
    parent_key: r.parentId === null ? null : resourceIdKey(r.parentId),
    location: r.location,
    tags: JSON.stringify(r.tags),
    properties: JSON.stringify(r.properties),
    sku: r.sku === null ? null : JSON.stringify(r.sku),
    content: r.content === null ? null : JSON.stringify(r.content),
    lineage: JSON.stringify(r.lineage),
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  };
  await db
    .insertInto('compute_resources')
    .values(row)
    .onConflict((oc) => oc.column('id_key').doUpdateSet(row))
    .execute();
}

export async function findComputeResource(db: Transaction<Database>, id: string) {
  const r = await db
    .selectFrom('compute_resources')
    .selectAll()
    .where('id_key', '=', resourceIdKey(id))
    .executeTakeFirst();
  return r && toResource(r);
}

export async function listComputeResources(
  db: Transaction<Database>,
  subscriptionId: string,
  type: string,
  filter: { resourceGroup?: string; parentId?: string } = {},
) {
  let q = db
    .selectFrom('compute_resources')
    .selectAll()
    .where('subscription_id', '=', resourceIdKey(subscriptionId))
    .where('type_key', '=', resourceIdKey(type))
    .orderBy('id_key');
  if (filter.resourceGroup !== undefined)
    q = q.where('resource_group_key', '=', resourceIdKey(filter.resourceGroup));
  if (filter.parentId !== undefined) q = q.where('parent_key', '=', resourceIdKey(filter.parentId));
  return (await q.execute()).map(toResource);
}

/** Resources of `types` (any subscription) whose internal lineage holds a reserved write. */
export async function listPendingComputeResources(db: Transaction<Database>, types: string[]) {
  if (types.length === 0) return [];
  const rows = await db
    .selectFrom('compute_resources')
    .selectAll()
    .where('type_key', 'in', types.map(resourceIdKey))
    .where('lineage', 'like', '%"pending":%')
    .orderBy('id_key')
    .execute();
  return rows.map(toResource);
}

export async function deleteComputeResource(db: Transaction<Database>, id: string): Promise<boolean> {
  const res = await db
    .deleteFrom('compute_resources')
    .where('id_key', '=', resourceIdKey(id))
    .executeTakeFirst();
  await db.deleteFrom('replicas').where('version_key', '=', resourceIdKey(id)).execute();
  return res.numDeletedRows > 0n;
}

export async function deleteComputeInGroup(
  db: Transaction<Database>,
  subscriptionId: string,
  group: string,
): Promise<void> {
  const ids = await db
    .selectFrom('compute_resources')
    .select('id_key')
    .where('subscription_id', '=', resourceIdKey(subscriptionId))
    .where('resource_group_key', '=', resourceIdKey(group))
    .execute();
  for (const { id_key } of ids) await deleteComputeResource(db, id_key);
}

export async function putReplica(db: Transaction<Database>, r: ReplicaRecord): Promise<void> {
  const row = {
    version_key: resourceIdKey(r.versionId),
    version_id: r.versionId,
    region: r.region,
    replica_count: r.replicaCount,
    state: r.state,
    bytes_done: r.bytesDone,
    bytes_total: r.bytesTotal,
    details: r.details,
    updated_at: r.updatedAt,
  };
  await db
    .insertInto('replicas')
    .values(row)
    .onConflict((oc) => oc.columns(['version_key', 'region']).doUpdateSet(row))
    .execute();
}

export async function listReplicas(db: Transaction<Database>, versionId: string) {
  const rows = await db
    .selectFrom('replicas')
    .selectAll()
    .where('version_key', '=', resourceIdKey(versionId))
    .orderBy('region')
    .execute();
  return rows.map(toReplica);
}

export async function listUnfinishedReplicas(db: Transaction<Database>) {
  const rows = await db
    .selectFrom('replicas')
    .selectAll()
    .where('state', '=', 'Replicating')
    .orderBy('updated_at')
    .execute();
  return rows.map(toReplica);
}

export async function deleteReplica(
  db: Transaction<Database>,
  versionId: string,
  region: string,
): Promise<void> {
  await db
    .deleteFrom('replicas')
    .where('version_key', '=', resourceIdKey(versionId))
    .where('region', '=', region)
    .execute();
}

export async function putOperation(db: Transaction<Database>, op: OperationRecord): Promise<void> {
  await db
    .insertInto('operations')
    .values({ id: caseKey(op.id), resource_id: op.resourceId, kind: op.kind, start_time: op.startTime })
    .execute();
}

export async function findOperation(db: Transaction<Database>, id: string) {
  const r = await db.selectFrom('operations').selectAll().where('id', '=', caseKey(id)).executeTakeFirst();
  return r && { id: r.id, resourceId: r.resource_id, kind: r.kind, startTime: r.start_time };
}
