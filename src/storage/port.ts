import type {
  BaseImageRecord,
  ComputeResourceRecord,
  OperationRecord,
  ReplicaRecord,
  AccountProvisioningState,
  BatchAccountRecord,
  NodeFileCleanupRecord,
  NodeRecord,
  PoolRecord,
  JobRecord,
  JobScheduleRecord,
  JobScheduleState,
  SubtaskRecord,
  TaskRecord,
  TaskCountsRecord,
  BatchCountsRecord,
  PrincipalRecord,
  ProviderRegistrationRecord,
  ResourceGroupRecord,
  RoleAssignmentRecord,
  SubscriptionRecord,
  TenantRecord,
} from './records.ts';

/**
 * The state store, named by what the domain does. Every method of a `StoreTx` runs inside one transaction;
 * `Store.transaction` commits when the callback resolves and rolls back when it throws. Names are matched
 * case-insensitively wherever Azure does (resource groups, accounts, namespaces; keys from `keys.ts`).
 * On PostgreSQL a transaction that conflicts with another is rolled back and its callback run again (ADR 0029):
 * a callback keeps its effects inside the transaction.
 */
export interface StoreTx extends BatchStoreTx {
  /** Servers sharing the database: leases and shared secrets (ADR 0033). */
  readonly cluster: ClusterStoreTx;

  // identity
  putTenant(tenant: TenantRecord): Promise<void>;
  findTenant(id: string): Promise<TenantRecord | undefined>;
  putSubscription(subscription: SubscriptionRecord): Promise<void>;
  findSubscription(id: string): Promise<SubscriptionRecord | undefined>;
  listSubscriptions(tenantId?: string): Promise<SubscriptionRecord[]>;
  addPrincipal(principal: PrincipalRecord): Promise<void>;
  findPrincipalByAppId(appId: string): Promise<PrincipalRecord | undefined>;
  findPrincipalByObjectId(objectId: string): Promise<PrincipalRecord | undefined>;
  listPrincipals(): Promise<PrincipalRecord[]>;
  /** Sets a principal's secret hash if it is still `expected`; false when it changed or the principal is gone. */
  replacePrincipalSecretHash(appId: string, expected: string, hash: string): Promise<boolean>;

  // resource groups and providers
  putResourceGroup(group: ResourceGroupRecord): Promise<void>;
  findResourceGroup(subscriptionId: string, name: string): Promise<ResourceGroupRecord | undefined>;
  listResourceGroups(subscriptionId: string): Promise<ResourceGroupRecord[]>;
  /** Removes the group, its compute resources and the role assignments at or below it (Batch accounts are the domain's: account-deletion.ts). */
  deleteResourceGroupWithContents(subscriptionId: string, name: string): Promise<boolean>;
  setProviderState(registration: ProviderRegistrationRecord): Promise<void>;
  listProviderStates(subscriptionId: string): Promise<ProviderRegistrationRecord[]>;

  // authorization
  putRoleAssignment(assignment: RoleAssignmentRecord): Promise<void>;
  findRoleAssignment(name: string): Promise<RoleAssignmentRecord | undefined>;
  /** Assignments whose scope is one of `scopes` (compared case-insensitively). */
  listRoleAssignmentsAtScopes(scopes: string[]): Promise<RoleAssignmentRecord[]>;
  /** Assignments at `scope` or anywhere below it. */
  listRoleAssignmentsUnder(scope: string): Promise<RoleAssignmentRecord[]>;
  listRoleAssignmentsForPrincipal(principalId: string): Promise<RoleAssignmentRecord[]>;
  deleteRoleAssignment(name: string): Promise<boolean>;

  // batch accounts
  putBatchAccount(account: BatchAccountRecord): Promise<void>;
  /** Accounts in one provisioning state, across subscriptions (the deletion reconciler's work list). */
  listBatchAccountsIn(state: AccountProvisioningState): Promise<BatchAccountRecord[]>;
  findBatchAccount(
    subscriptionId: string,
    resourceGroup: string,
    name: string,
  ): Promise<BatchAccountRecord | undefined>;
  /** Account names are unique across the server because the data plane routes by name alone. */
  findBatchAccountByName(name: string): Promise<BatchAccountRecord | undefined>;
  listBatchAccounts(subscriptionId: string, resourceGroup?: string): Promise<BatchAccountRecord[]>;
  deleteBatchAccount(subscriptionId: string, resourceGroup: string, name: string): Promise<boolean>;

  // compute resources
  putComputeResource(resource: ComputeResourceRecord): Promise<void>;
  findComputeResource(id: string): Promise<ComputeResourceRecord | undefined>;
  /** Resources of `type` in a subscription, optionally only in one group or only children of `parentId`. */
  listComputeResources(
    subscriptionId: string,
    type: string,
    filter?: { resourceGroup?: string; parentId?: string },
  ): Promise<ComputeResourceRecord[]>;
  /** Resources of these types, in any subscription, with a reserved disk/image write (lineage `pending`). */
  listPendingComputeResources(types: string[]): Promise<ComputeResourceRecord[]>;
  deleteComputeResource(id: string): Promise<boolean>;
  putReplica(replica: ReplicaRecord): Promise<void>;
  listReplicas(versionId: string): Promise<ReplicaRecord[]>;
  /** Replicas still copying, across all versions: the replication reconciler's work list. */
  listUnfinishedReplicas(): Promise<ReplicaRecord[]>;
  deleteReplica(versionId: string, region: string): Promise<void>;
  putOperation(op: OperationRecord): Promise<void>;
  findOperation(id: string): Promise<OperationRecord | undefined>;

  // base images
  putBaseImage(image: BaseImageRecord): Promise<void>;
  findBaseImage(key: string): Promise<BaseImageRecord | undefined>;
  listBaseImages(): Promise<BaseImageRecord[]>;
}

export interface TaskListOptions {
  /** Only tasks in these states (uses the state index). */
  states?: TaskRecord['state'][];
  /** Ids after this one (lower case order), for paging. */
  afterId?: string;
  limit?: number;
}

/** The Batch data plane's records: pools, nodes, jobs, tasks (ids compared case-insensitively, per account). */
export interface BatchStoreTx {
  putPool(pool: PoolRecord): Promise<void>;
  findPool(accountName: string, poolId: string): Promise<PoolRecord | undefined>;
  listPools(accountName: string): Promise<PoolRecord[]>;
  /** Every pool of every account that still needs the sizer (allocation not steady, or deleting). */
  listPoolsInMotion(): Promise<PoolRecord[]>;
  /** Every pool of every account with autoscale enabled. */
  listAutoScalePools(): Promise<PoolRecord[]>;
  /** Removes the pool and its nodes. */
  deletePool(accountName: string, poolId: string): Promise<boolean>;
  putNodes(nodes: NodeRecord[]): Promise<void>;
  findNode(accountName: string, poolId: string, nodeId: string): Promise<NodeRecord | undefined>;
  listNodes(accountName: string, poolId: string): Promise<NodeRecord[]>;
  /** Nodes a host agent runs, plus (when `unassigned`) nodes no agent has taken yet. */
  listNodesForHost(hostId: string, unassigned: boolean): Promise<NodeRecord[]>;
  deleteNodes(accountName: string, poolId: string, nodeIds: string[]): Promise<void>;
  /** How many nodes the server holds over every account and pool (the node address plan's use). */
  countAllNodes(): Promise<number>;
  /** Subnets of the node range the hosts hold (`a.b.c.d/n`; ADR 0021); a host keeps its subnets. */
  listHostSubnets(): Promise<{ subnet: string; hostId: string }[]>;
  addHostSubnet(subnet: string, hostId: string): Promise<void>;

  putJob(job: JobRecord): Promise<void>;
  findJob(accountName: string, jobId: string): Promise<JobRecord | undefined>;
  listJobs(accountName: string): Promise<JobRecord[]>;
  /** The next job creation number (server-wide, increasing). */
  nextJobSeq(): Promise<number>;
  /** Removes the job, its tasks and their dependency edges. */
  deleteJob(accountName: string, jobId: string): Promise<boolean>;
  putTasks(tasks: TaskRecord[]): Promise<void>;
  findTasks(accountName: string, jobId: string, taskIds: string[]): Promise<TaskRecord[]>;
  listTasks(accountName: string, jobId: string, options?: TaskListOptions): Promise<TaskRecord[]>;
  /** The head of a pool's queue: runnable tasks by job priority (high first), job age, task age. */
  queuedTasks(accountName: string, poolId: string, limit: number): Promise<TaskRecord[]>;
  /** Tasks preparing or running on these nodes. */
  tasksOnNodes(accountName: string, poolId: string, nodeIds: string[]): Promise<TaskRecord[]>;
  /** Replaces a multi-instance task's instances (ADR 0038); an empty list removes them. */
  putSubtasks(accountName: string, jobId: string, taskId: string, subtasks: SubtaskRecord[]): Promise<void>;
  /** A task's instances by id (0 = primary). */
  findSubtasks(accountName: string, jobId: string, taskId: string): Promise<SubtaskRecord[]>;
  /** Unfinished instances of multi-instance tasks on these nodes. */
  subtasksOnNodes(accountName: string, poolId: string, nodeIds: string[]): Promise<SubtaskRecord[]>;
  countTasks(
    accountName: string,
    jobId: string,
  ): Promise<{ tasks: TaskCountsRecord; slots: TaskCountsRecord }>;
  putJobSchedule(schedule: JobScheduleRecord): Promise<void>;
  findJobSchedule(accountName: string, id: string): Promise<JobScheduleRecord | undefined>;
  listJobSchedules(accountName: string): Promise<JobScheduleRecord[]>;
  /** Every account's job schedules in one of these states. */
  listJobSchedulesIn(states: JobScheduleState[]): Promise<JobScheduleRecord[]>;
  deleteJobSchedule(accountName: string, id: string): Promise<boolean>;
  /** Task counts over every job whose tasks run on this pool. */
  countPoolTasks(accountName: string, poolId: string): Promise<TaskCountsRecord>;
  deleteTask(accountName: string, jobId: string, taskId: string): Promise<boolean>;
  putTaskDependencies(
    accountName: string,
    jobId: string,
    edges: { parent: string; child: string }[],
  ): Promise<void>;
  /** Lower-case ids of the tasks that depend on `parentId`. */
  dependentsOf(accountName: string, jobId: string, parentId: string): Promise<string[]>;
  /** Lower-case ids of the tasks `childId` depends on. */
  parentsOf(accountName: string, jobId: string, childId: string): Promise<string[]>;
  /** Lower-case ids of the job's tasks whose id is an integer in [start, end]. */
  taskIdsInRange(accountName: string, jobId: string, start: number, end: number): Promise<string[]>;
  /**
   * Every account's pools, nodes, jobs and tasks counted by state, by grouped queries (one row per group, never
   * one per task): what a metrics scrape reads.
   */
  countByState(): Promise<BatchCountsRecord>;
  /** Queues folders on nodes for removal (their tasks or jobs were deleted). */
  putNodeFileCleanups(rows: NodeFileCleanupRecord[]): Promise<void>;
  /** The oldest queued removals. */
  listNodeFileCleanups(limit: number): Promise<(NodeFileCleanupRecord & { id: number })[]>;
  deleteNodeFileCleanups(ids: number[]): Promise<void>;
  /** Completed tasks whose folder's retention ran out at or before `nowMs` (taskFilesExpireAt), earliest first. */
  tasksWithExpiredFiles(nowMs: number, limit: number): Promise<TaskRecord[]>;
}

/** What servers on one database share (ADR 0033), in the caller's transaction. */
export interface ClusterStoreTx {
  /**
   * Takes or renews lease `name` for `holder` until `untilMs` when it is free, expired at `nowMs` or already the
   * holder's; false when another holder has it.
   */
  claimLease(name: string, holder: string, nowMs: number, untilMs: number): Promise<boolean>;
  /** Who holds lease `name` at `nowMs` (undefined: nobody, or it expired). */
  leaseHolder(name: string, nowMs: number): Promise<string | undefined>;
  /** Gives lease `name` up if `holder` has it. */
  releaseLease(name: string, holder: string): Promise<void>;
  findSharedSecret(name: string): Promise<string | undefined>;
  /** Stores `value` under `name` unless one is there; returns the value stored (the earlier one if any). */
  putSharedSecretOnce(name: string, value: string): Promise<string>;
}

/**
 * The store could not order a transaction with concurrent ones, even after running it again several times (on
 * PostgreSQL: serialization failures or deadlocks, ADR 0029). Nothing of it was written; the caller may try again.
 */
export class StoreContention extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreContention';
  }
}

export interface Store {
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
