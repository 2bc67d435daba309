import type {
  BaseImageRecord,
  ComputeResourceRecord,
  OperationRecord,
  ReplicaRecord,
  BatchAccountRecord,
  NodeRecord,
  PoolRecord,
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
 * case-insensitively wherever Azure does (resource groups, accounts, namespaces).
 */
export interface StoreTx {
  // identity
  putTenant(tenant: TenantRecord): Promise<void>;
  findTenant(id: string): Promise<TenantRecord | undefined>;
  putSubscription(subscription: SubscriptionRecord): Promise<void>;
  findSubscription(id: string): Promise<SubscriptionRecord | undefined>;
  listSubscriptions(tenantId?: string): Promise<SubscriptionRecord[]>;
  addPrincipal(principal: PrincipalRecord): Promise<void>;
  findPrincipalByAppId(appId: string): Promise<PrincipalRecord | undefined>;
  findPrincipalByObjectId(objectId: string): Promise<PrincipalRecord | undefined>;

  // resource groups and providers
  putResourceGroup(group: ResourceGroupRecord): Promise<void>;
  findResourceGroup(subscriptionId: string, name: string): Promise<ResourceGroupRecord | undefined>;
  listResourceGroups(subscriptionId: string): Promise<ResourceGroupRecord[]>;
  /** Removes the group and everything stored under it (accounts, role assignments at or below it). */
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
  deleteComputeResource(id: string): Promise<boolean>;
  putReplica(replica: ReplicaRecord): Promise<void>;
  listReplicas(versionId: string): Promise<ReplicaRecord[]>;
  /** Replicas still copying, across all versions: the replication reconciler's work list. */
  listUnfinishedReplicas(): Promise<ReplicaRecord[]>;
  deleteReplica(versionId: string, region: string): Promise<void>;
  putOperation(op: OperationRecord): Promise<void>;
  findOperation(id: string): Promise<OperationRecord | undefined>;

  // batch pools and compute nodes (ids compared case-insensitively, per account)
  putPool(pool: PoolRecord): Promise<void>;
  findPool(accountName: string, poolId: string): Promise<PoolRecord | undefined>;
  listPools(accountName: string): Promise<PoolRecord[]>;
  /** Every pool of every account that still needs the sizer (allocation not steady, or deleting). */
  listPoolsInMotion(): Promise<PoolRecord[]>;
  /** Removes the pool and its nodes. */
  deletePool(accountName: string, poolId: string): Promise<boolean>;
  putNodes(nodes: NodeRecord[]): Promise<void>;
  findNode(accountName: string, poolId: string, nodeId: string): Promise<NodeRecord | undefined>;
  listNodes(accountName: string, poolId: string): Promise<NodeRecord[]>;
  /** Nodes a host agent runs, plus (when `unassigned`) nodes no agent has taken yet. */
  listNodesForHost(hostId: string, unassigned: boolean): Promise<NodeRecord[]>;
  deleteNodes(accountName: string, poolId: string, nodeIds: string[]): Promise<void>;

  // base images
  putBaseImage(image: BaseImageRecord): Promise<void>;
  findBaseImage(key: string): Promise<BaseImageRecord | undefined>;
  listBaseImages(): Promise<BaseImageRecord[]>;
}

export interface Store {
  transaction<T>(work: (tx: StoreTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
