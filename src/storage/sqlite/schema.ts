import type { Generated } from 'kysely';

/** Table shapes as Kysely sees them. JSON columns hold text. `*_key` columns hold lower-cased names for lookup. */
export interface TenantsTable {
  id: string;
  display_name: string;
  default_domain: string;
}
export interface SubscriptionsTable {
  id: string;
  tenant_id: string;
  display_name: string;
  state: string;
}
export interface PrincipalsTable {
  object_id: string;
  app_id: string;
  tenant_id: string;
  display_name: string;
  secret_salt: string;
  secret_hash: string;
  created_at: string;
}
export interface ResourceGroupsTable {
  subscription_id: string;
  name_key: string;
  name: string;
  location: string;
  tags: string;
  managed_by: string | null;
  created_at: string;
}
export interface ProviderRegistrationsTable {
  subscription_id: string;
  namespace_key: string;
  namespace: string;
  state: string;
}
export interface RoleAssignmentsTable {
  name: string;
  scope: string;
  scope_key: string;
  role_definition_name: string;
  principal_id: string;
  principal_type: string;
  description: string | null;
  created_on: string;
  updated_on: string;
  created_by: string | null;
}
export interface BatchAccountsTable {
  name_key: string;
  name: string;
  subscription_id: string;
  resource_group_key: string;
  resource_group: string;
  location: string;
  tags: string;
  pool_allocation_mode: string;
  public_network_access: string;
  allowed_authentication_modes: string;
  extra: string;
  primary_key: string;
  secondary_key: string;
  created_at: string;
  updated_at: string;
  provisioning_state: Generated<string>;
}

export interface BaseImagesTable {
  key: string;
  manifest: string;
  region: string;
  source: string;
  size_bytes: number;
  created_at: string;
}

export interface ComputeResourcesTable {
  id_key: string;
  id: string;
  subscription_id: string;
  resource_group_key: string;
  resource_group: string;
  type_key: string;
  type: string;
  name: string;
  parent_key: string | null;
  location: string;
  tags: string;
  properties: string;
  sku: string | null;
  content: string | null;
  lineage: string;
  created_at: string;
  updated_at: string;
}

export interface ReplicasTable {
  version_key: string;
  version_id: string;
  region: string;
  replica_count: number;
  state: string;
  bytes_done: number;
  bytes_total: number;
  details: string;
  updated_at: string;
}

export interface OperationsTable {
  id: string;
  resource_id: string;
  kind: string;
  start_time: string;
}

export interface PoolsTable {
  account_key: string;
  id_key: string;
  in_motion: number;
  doc: string;
}

export interface NodesTable {
  account_key: string;
  pool_key: string;
  id_key: string;
  host_id: string | null;
  doc: string;
}

/** Leases: which server runs a loop (ADR 0033); `expires_at` in epoch ms. */
export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: number;
}

/** Material every server on one database shares (CA, signing key, agent token), sealed (ADR 0033). */
export interface SharedSecretsTable {
  name: string;
  value: string;
}

export interface HostSubnetsTable {
  subnet: string;
  host_id: string;
}

export interface JobsTable {
  account_key: string;
  id_key: string;
  seq: number;
  doc: string;
}

export interface JobSchedulesTable {
  account_key: string;
  id_key: string;
  state: string;
  doc: string;
}

export interface TasksTable {
  account_key: string;
  job_key: string;
  id_key: string;
  pool_key: string;
  state: string;
  result: string | null;
  slots: number;
  runnable: number;
  neg_priority: number;
  job_seq: number;
  task_seq: number;
  node_key: string | null;
  /** taskFilesExpireAt (ms), for the task file cleaner. */
  files_expire_at: number | null;
  doc: string;
}

/** Instances of multi-instance tasks (ADR 0038); `node_key` is set while the instance holds its node. */
export interface SubtasksTable {
  account_key: string;
  job_key: string;
  task_key: string;
  subtask_id: number;
  node_key: string | null;
  doc: string;
}

export interface NodeFileCleanupsTable {
  id: Generated<number>;
  doc: string;
}

export interface TaskDepsTable {
  account_key: string;
  job_key: string;
  parent_key: string;
  child_key: string;
}

export interface Database {
  jobs: JobsTable;
  job_schedules: JobSchedulesTable;
  tasks: TasksTable;
  task_deps: TaskDepsTable;
  subtasks: SubtasksTable;
  node_file_cleanups: NodeFileCleanupsTable;
  pools: PoolsTable;
  nodes: NodesTable;
  host_subnets: HostSubnetsTable;
  leases: LeasesTable;
  shared_secrets: SharedSecretsTable;
  compute_resources: ComputeResourcesTable;
  replicas: ReplicasTable;
  operations: OperationsTable;
  base_images: BaseImagesTable;
  tenants: TenantsTable;
  subscriptions: SubscriptionsTable;
  principals: PrincipalsTable;
  resource_groups: ResourceGroupsTable;
  provider_registrations: ProviderRegistrationsTable;
  role_assignments: RoleAssignmentsTable;
  batch_accounts: BatchAccountsTable;
}
