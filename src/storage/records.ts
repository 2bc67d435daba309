/**
 * Records the store keeps. These are the domain's facts in storage-neutral form (no wire shapes, no SQL):
 * the store port speaks them, the domain builds and reads them.
 */
export interface TenantRecord {
  id: string;
  displayName: string;
  defaultDomain: string;
}

export interface SubscriptionRecord {
  id: string;
  tenantId: string;
  displayName: string;
  state: 'Enabled' | 'Disabled' | 'Warned' | 'PastDue' | 'Deleted';
}

export interface PrincipalRecord {
  objectId: string;
  appId: string;
  tenantId: string;
  displayName: string;
  secretSalt: string;
  secretHash: string;
  createdAt: string;
}

export type Tags = Record<string, string>;

export interface ResourceGroupRecord {
  subscriptionId: string;
  name: string;
  location: string;
  tags: Tags;
  managedBy: string | null;
  createdAt: string;
}

export type ProviderRegistrationState = 'NotRegistered' | 'Registering' | 'Registered' | 'Unregistering';

export interface ProviderRegistrationRecord {
  subscriptionId: string;
  namespace: string;
  state: ProviderRegistrationState;
}

export interface RoleAssignmentRecord {
  /** The assignment's GUID name. */
  name: string;
  /** Scope as given, without a trailing slash, e.g. /subscriptions/{id}/resourceGroups/{rg}. */
  scope: string;
  /** Role definition GUID. */
  roleDefinitionName: string;
  principalId: string;
  principalType: string;
  description: string | null;
  createdOn: string;
  updatedOn: string;
  createdBy: string | null;
}

/** A marketplace base image whose root file system is present (R1: such entries are runnable). */
export interface BaseImageRecord {
  /** `publisher:offer:sku`, lower case. */
  key: string;
  /** Filesystem manifest of the root file system. */
  manifest: string;
  /** Region whose content store holds it. */
  region: string;
  /** How it was made: `busybox`, `debootstrap`, `import:tarball`, `import:oci`. */
  source: string;
  sizeBytes: number;
  createdAt: string;
}

/** Where a resource's bytes are: a manifest digest in one region's content store. */
export interface ContentRef {
  manifest: string;
  region: string;
}

/**
 * A Microsoft.Compute resource (disk, snapshot, image, gallery, gallery image, gallery image version, VM).
 * `properties` is the ARM properties bag as stored (wire-shaped, validated by the domain); `content` and
 * `lineage` are internal facts that never go on the wire.
 */
export interface ComputeResourceRecord {
  /** Full ARM id with original casing. */
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  /** e.g. `Microsoft.Compute/galleries/images/versions`. */
  type: string;
  name: string;
  /** Id of the parent resource for nested types (gallery of an image definition, ...). */
  parentId: string | null;
  location: string;
  tags: Tags;
  properties: Record<string, unknown>;
  sku: Record<string, unknown> | null;
  content: ContentRef | null;
  /** Facts R3 checks later from an image's history: extensions, encryption, purchase plan, generalized. */
  lineage: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export type ReplicaState = 'Replicating' | 'Completed' | 'Failed';

/** One target region of a gallery image version and how far its copy is. */
export interface ReplicaRecord {
  versionId: string;
  region: string;
  replicaCount: number;
  state: ReplicaState;
  bytesDone: number;
  bytesTotal: number;
  details: string;
  updatedAt: string;
}

/** A long-running ARM operation, polled through Azure-AsyncOperation. */
export interface OperationRecord {
  id: string;
  resourceId: string;
  kind: string;
  startTime: string;
}

export type PoolAllocationMode = 'BatchService' | 'UserSubscription';

export interface BatchAccountRecord {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  tags: Tags;
  poolAllocationMode: PoolAllocationMode;
  publicNetworkAccess: string;
  allowedAuthenticationModes: string[];
  /** Other properties the client sent that we keep and echo (autoStorage, keyVaultReference, identity, ...). */
  extra: Record<string, unknown>;
  primaryKey: string;
  secondaryKey: string;
  createdAt: string;
  updatedAt: string;
}
