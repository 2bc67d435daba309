import { sql, type Kysely, type Selectable } from 'kysely';
import { NO_SEALING, type Sealer } from '../platform/sealing.ts';
import type { Store, StoreTx } from './port.ts';
import type { SqlDialect } from './dialect.ts';
import { SqlBatchTx } from './sql-batch-tx.ts';
import { sealLegacyAccountKeys } from './sql-sealing.ts';
import * as compute from './sql-compute.ts';
import { caseKey, scopeKey } from './keys.ts';
import type {
  BaseImageRecord,
  AccountProvisioningState,
  BatchAccountRecord,
  ComputeResourceRecord,
  OperationRecord,
  ReplicaRecord,
  PoolAllocationMode,
  ProviderRegistrationState,
  ResourceGroupRecord,
  RoleAssignmentRecord,
  SubscriptionRecord,
} from './records.ts';
import type {
  BaseImagesTable,
  BatchAccountsTable,
  Database,
  ResourceGroupsTable,
  RoleAssignmentsTable,
} from './sqlite/schema.ts';

function toGroup(r: Selectable<ResourceGroupsTable>): ResourceGroupRecord {
  return {
    subscriptionId: r.subscription_id,
    name: r.name,
    location: r.location,
    tags: JSON.parse(r.tags) as Record<string, string>,
    managedBy: r.managed_by,
    createdAt: r.created_at,
  };
}

function toAssignment(r: Selectable<RoleAssignmentsTable>): RoleAssignmentRecord {
  return {
    name: r.name,
    scope: r.scope,
    roleDefinitionName: r.role_definition_name,
    principalId: r.principal_id,
    principalType: r.principal_type,
    description: r.description,
    createdOn: r.created_on,
    updatedOn: r.updated_on,
    createdBy: r.created_by,
  };
}

function toAccount(r: Selectable<BatchAccountsTable>, sealer: Sealer): BatchAccountRecord {
  return {
    subscriptionId: r.subscription_id,
    resourceGroup: r.resource_group,
    name: r.name,
    location: r.location,
    tags: JSON.parse(r.tags) as Record<string, string>,
    poolAllocationMode: r.pool_allocation_mode as PoolAllocationMode,
    publicNetworkAccess: r.public_network_access,
    allowedAuthenticationModes: JSON.parse(r.allowed_authentication_modes) as string[],
    extra: JSON.parse(r.extra) as Record<string, unknown>,
    primaryKey: sealer.open(r.primary_key),
    secondaryKey: sealer.open(r.secondary_key),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    provisioningState: r.provisioning_state as AccountProvisioningState,
  };
}

function toBaseImage(r: Selectable<BaseImagesTable>): BaseImageRecord {
  return {
    key: r.key,
    manifest: r.manifest,
    region: r.region,
    source: r.source,
    sizeBytes: r.size_bytes,
    createdAt: r.created_at,
  };
}

/** Store operations over any Kysely dialect; what differs between dialects is in `SqlDialect` (dialect.ts). */
class SqlStoreTx extends SqlBatchTx implements StoreTx {
  async putTenant(t: { id: string; displayName: string; defaultDomain: string }): Promise<void> {
    const row = { id: t.id, display_name: t.displayName, default_domain: t.defaultDomain };
    await this.db
      .insertInto('tenants')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute();
  }
  async findTenant(id: string) {
    const r = await this.db
      .selectFrom('tenants')
      .selectAll()
      .where('id', '=', caseKey(id))
      .executeTakeFirst();
    return r && { id: r.id, displayName: r.display_name, defaultDomain: r.default_domain };
  }
  async putSubscription(s: SubscriptionRecord): Promise<void> {
    const row = { id: caseKey(s.id), tenant_id: s.tenantId, display_name: s.displayName, state: s.state };
    await this.db
      .insertInto('subscriptions')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute();
  }
  async findSubscription(id: string) {
    const r = await this.db
      .selectFrom('subscriptions')
      .selectAll()
      .where('id', '=', caseKey(id))
      .executeTakeFirst();
    return r && this.toSubscription(r);
  }
  async listSubscriptions(tenantId?: string) {
    let q = this.db.selectFrom('subscriptions').selectAll().orderBy('id');
    if (tenantId !== undefined) q = q.where('tenant_id', '=', caseKey(tenantId));
    return (await q.execute()).map((r) => this.toSubscription(r));
  }
  private toSubscription(r: { id: string; tenant_id: string; display_name: string; state: string }) {
    return {
      id: r.id,
      tenantId: r.tenant_id,
      displayName: r.display_name,
      state: r.state as SubscriptionRecord['state'],
    };
  }
  async addPrincipal(p: Parameters<StoreTx['addPrincipal']>[0]): Promise<void> {
    await this.db
      .insertInto('principals')
      .values({
        object_id: caseKey(p.objectId),
        app_id: caseKey(p.appId),
        tenant_id: caseKey(p.tenantId),
        display_name: p.displayName,
        secret_salt: p.secretSalt,
        secret_hash: p.secretHash,
        created_at: p.createdAt,
      })
      .execute();
  }
  async findPrincipalByAppId(appId: string) {
    const r = await this.db
      .selectFrom('principals')
      .selectAll()
      .where('app_id', '=', caseKey(appId))
      .executeTakeFirst();
    return r && this.toPrincipal(r);
  }
  async findPrincipalByObjectId(objectId: string) {
    const r = await this.db
      .selectFrom('principals')
      .selectAll()
      .where('object_id', '=', caseKey(objectId))
      .executeTakeFirst();
    return r && this.toPrincipal(r);
  }
  async listPrincipals() {
    const rows = await this.db.selectFrom('principals').selectAll().orderBy('app_id').execute();
    return rows.map((r) => this.toPrincipal(r));
  }
  async replacePrincipalSecretHash(appId: string, expected: string, hash: string): Promise<boolean> {
    const r = await this.db
      .updateTable('principals')
      .set({ secret_hash: hash })
      .where('app_id', '=', caseKey(appId))
      .where('secret_hash', '=', expected)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }
  private toPrincipal(r: Selectable<Database['principals']>) {
    return {
      objectId: r.object_id,
      appId: r.app_id,
      tenantId: r.tenant_id,
      displayName: r.display_name,
      secretSalt: r.secret_salt,
      secretHash: r.secret_hash,
      createdAt: r.created_at,
    };
  }

  async putResourceGroup(g: ResourceGroupRecord): Promise<void> {
    const row = {
      subscription_id: caseKey(g.subscriptionId),
      name_key: caseKey(g.name),
      name: g.name,
      location: g.location,
      tags: JSON.stringify(g.tags),
      managed_by: g.managedBy,
      created_at: g.createdAt,
    };
    // On update the group keeps the name case and creation time it was created with.
    const update = { location: row.location, tags: row.tags, managed_by: row.managed_by };
    await this.db
      .insertInto('resource_groups')
      .values(row)
      .onConflict((oc) => oc.columns(['subscription_id', 'name_key']).doUpdateSet(update))
      .execute();
  }
  async findResourceGroup(subscriptionId: string, name: string) {
    const r = await this.db
      .selectFrom('resource_groups')
      .selectAll()
      .where('subscription_id', '=', caseKey(subscriptionId))
      .where('name_key', '=', caseKey(name))
      .executeTakeFirst();
    return r && toGroup(r);
  }
  async listResourceGroups(subscriptionId: string) {
    const rows = await this.db
      .selectFrom('resource_groups')
      .selectAll()
      .where('subscription_id', '=', caseKey(subscriptionId))
      .orderBy('name_key')
      .execute();
    return rows.map(toGroup);
  }
  async deleteResourceGroupWithContents(subscriptionId: string, name: string): Promise<boolean> {
    const sub = caseKey(subscriptionId);
    const rg = caseKey(name);
    await this.deleteAssignmentsUnder(`/subscriptions/${sub}/resourcegroups/${rg}`);
    await compute.deleteComputeInGroup(this.db, sub, rg);
    const res = await this.db
      .deleteFrom('resource_groups')
      .where('subscription_id', '=', sub)
      .where('name_key', '=', rg)
      .executeTakeFirst();
    return res.numDeletedRows > 0n;
  }
  async setProviderState(p: { subscriptionId: string; namespace: string; state: ProviderRegistrationState }) {
    const row = {
      subscription_id: caseKey(p.subscriptionId),
      namespace_key: caseKey(p.namespace),
      namespace: p.namespace,
      state: p.state,
    };
    await this.db
      .insertInto('provider_registrations')
      .values(row)
      .onConflict((oc) => oc.columns(['subscription_id', 'namespace_key']).doUpdateSet({ state: p.state }))
      .execute();
  }
  async listProviderStates(subscriptionId: string) {
    const rows = await this.db
      .selectFrom('provider_registrations')
      .selectAll()
      .where('subscription_id', '=', caseKey(subscriptionId))
      .execute();
    return rows.map((r) => ({
      subscriptionId: r.subscription_id,
      namespace: r.namespace,
      state: r.state as ProviderRegistrationState,
    }));
  }

  async putRoleAssignment(a: RoleAssignmentRecord): Promise<void> {
    const row = {
      name: caseKey(a.name),
      scope: a.scope,
      scope_key: scopeKey(a.scope),
      role_definition_name: caseKey(a.roleDefinitionName),
      principal_id: caseKey(a.principalId),
      principal_type: a.principalType,
      description: a.description,
      created_on: a.createdOn,
      updated_on: a.updatedOn,
      created_by: a.createdBy,
    };
    await this.db
      .insertInto('role_assignments')
      .values(row)
      .onConflict((oc) => oc.column('name').doUpdateSet(row))
      .execute();
  }
  async findRoleAssignment(name: string) {
    const r = await this.db
      .selectFrom('role_assignments')
      .selectAll()
      .where('name', '=', caseKey(name))
      .executeTakeFirst();
    return r && toAssignment(r);
  }
  async listRoleAssignmentsAtScopes(scopes: string[]) {
    if (scopes.length === 0) return [];
    const rows = await this.db
      .selectFrom('role_assignments')
      .selectAll()
      .where('scope_key', 'in', scopes.map(scopeKey))
      .orderBy('created_on')
      .execute();
    return rows.map(toAssignment);
  }
  async listRoleAssignmentsUnder(scope: string) {
    const k = scopeKey(scope);
    const prefix = k === '/' ? '/' : `${k}/`;
    const rows = await this.db
      .selectFrom('role_assignments')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('scope_key', '=', k),
          eb(sql<string>`substr(scope_key, 1, ${prefix.length})`, '=', prefix),
        ]),
      )
      .orderBy('created_on')
      .execute();
    return rows.map(toAssignment);
  }
  private async deleteAssignmentsUnder(scope: string): Promise<void> {
    const names = (await this.listRoleAssignmentsUnder(scope)).map((a) => a.name);
    if (names.length > 0) await this.db.deleteFrom('role_assignments').where('name', 'in', names).execute();
  }
  async listRoleAssignmentsForPrincipal(principalId: string) {
    const rows = await this.db
      .selectFrom('role_assignments')
      .selectAll()
      .where('principal_id', '=', caseKey(principalId))
      .orderBy('created_on')
      .execute();
    return rows.map(toAssignment);
  }
  async deleteRoleAssignment(name: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('role_assignments')
      .where('name', '=', caseKey(name))
      .executeTakeFirst();
    return res.numDeletedRows > 0n;
  }

  async putBatchAccount(a: BatchAccountRecord): Promise<void> {
    const row = {
      name_key: caseKey(a.name),
      name: a.name,
      subscription_id: caseKey(a.subscriptionId),
      resource_group_key: caseKey(a.resourceGroup),
      resource_group: a.resourceGroup,
      location: a.location,
      tags: JSON.stringify(a.tags),
      pool_allocation_mode: a.poolAllocationMode,
      public_network_access: a.publicNetworkAccess,
      allowed_authentication_modes: JSON.stringify(a.allowedAuthenticationModes),
      extra: JSON.stringify(a.extra),
      primary_key: this.sealer.seal(a.primaryKey),
      secondary_key: this.sealer.seal(a.secondaryKey),
      created_at: a.createdAt,
      updated_at: a.updatedAt,
      provisioning_state: a.provisioningState ?? 'Succeeded',
    };
    await this.db
      .insertInto('batch_accounts')
      .values(row)
      .onConflict((oc) => oc.column('name_key').doUpdateSet(row))
      .execute();
  }
  async findBatchAccount(subscriptionId: string, resourceGroup: string, name: string) {
    const r = await this.db
      .selectFrom('batch_accounts')
      .selectAll()
      .where('name_key', '=', caseKey(name))
      .where('subscription_id', '=', caseKey(subscriptionId))
      .where('resource_group_key', '=', caseKey(resourceGroup))
      .executeTakeFirst();
    return r && toAccount(r, this.sealer);
  }
  async findBatchAccountByName(name: string) {
    const r = await this.db
      .selectFrom('batch_accounts')
      .selectAll()
      .where('name_key', '=', caseKey(name))
      .executeTakeFirst();
    return r && toAccount(r, this.sealer);
  }
  async listBatchAccounts(subscriptionId: string, resourceGroup?: string) {
    let q = this.db
      .selectFrom('batch_accounts')
      .selectAll()
      .where('subscription_id', '=', caseKey(subscriptionId))
      .orderBy('name_key');
    if (resourceGroup !== undefined) q = q.where('resource_group_key', '=', caseKey(resourceGroup));
    return (await q.execute()).map((r) => toAccount(r, this.sealer));
  }
  async listBatchAccountsIn(state: AccountProvisioningState) {
    const rows = await this.db
      .selectFrom('batch_accounts')
      .selectAll()
      .where('provisioning_state', '=', state)
      .orderBy('name_key')
      .execute();
    return rows.map((r) => toAccount(r, this.sealer));
  }
  async deleteBatchAccount(subscriptionId: string, resourceGroup: string, name: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('batch_accounts')
      .where('name_key', '=', caseKey(name))
      .where('subscription_id', '=', caseKey(subscriptionId))
      .where('resource_group_key', '=', caseKey(resourceGroup))
      .executeTakeFirst();
    return res.numDeletedRows > 0n;
  }

  async putBaseImage(b: BaseImageRecord): Promise<void> {
    const row = {
      key: caseKey(b.key),
      manifest: b.manifest,
      region: b.region,
      source: b.source,
      size_bytes: b.sizeBytes,
      created_at: b.createdAt,
    };
    await this.db
      .insertInto('base_images')
      .values(row)
      .onConflict((oc) => oc.column('key').doUpdateSet(row))
      .execute();
  }
  async findBaseImage(imageKey: string) {
    const r = await this.db
      .selectFrom('base_images')
      .selectAll()
      .where('key', '=', caseKey(imageKey))
      .executeTakeFirst();
    return r && toBaseImage(r);
  }
  async listBaseImages() {
    return (await this.db.selectFrom('base_images').selectAll().orderBy('key').execute()).map(toBaseImage);
  }

  putComputeResource(r: ComputeResourceRecord) {
    return compute.putComputeResource(this.db, r);
  }
  findComputeResource(id: string) {
    return compute.findComputeResource(this.db, id);
  }
  listComputeResources(
    subscriptionId: string,
    type: string,
    filter?: { resourceGroup?: string; parentId?: string },
  ) {
    return compute.listComputeResources(this.db, subscriptionId, type, filter);
  }
  listPendingComputeResources(types: string[]) {
    return compute.listPendingComputeResources(this.db, types);
  }
  deleteComputeResource(id: string) {
    return compute.deleteComputeResource(this.db, id);
  }
  putReplica(r: ReplicaRecord) {
    return compute.putReplica(this.db, r);
  }
  listReplicas(versionId: string) {
    return compute.listReplicas(this.db, versionId);
  }
  listUnfinishedReplicas() {
    return compute.listUnfinishedReplicas(this.db);
  }
  deleteReplica(versionId: string, region: string) {
    return compute.deleteReplica(this.db, versionId, region);
  }
  putOperation(op: OperationRecord) {
    return compute.putOperation(this.db, op);
  }
  findOperation(id: string) {
    return compute.findOperation(this.db, id);
  }
}

export class SqlStore implements Store {
  private readonly db: Kysely<Database>;
  private readonly dialect: SqlDialect;
  private readonly sealer: Sealer;
  constructor(db: Kysely<Database>, dialect: SqlDialect, sealer: Sealer = NO_SEALING) {
    this.db = db;
    this.dialect = dialect;
    this.sealer = sealer;
  }
  /** One transaction per call, run by the dialect (on PostgreSQL `work` may run again after a conflict). */
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.dialect.transaction(this.db, (trx) => work(new SqlStoreTx(trx, this.dialect, this.sealer)));
  }
  /** Seals the account keys of rows written before sealing (at open; sql-sealing.ts). */
  sealLegacyValues(): Promise<number> {
    return this.dialect.transaction(this.db, (trx) => sealLegacyAccountKeys(trx, this.sealer));
  }
  close(): Promise<void> {
    return this.db.destroy();
  }
}
