import type { AssignedState, RunUsage, StartTaskReport } from '../protocol/node-facts.ts';

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
  /** ARM provisioningState; absent means Succeeded. `Deleting`: its pools, jobs and schedules are being removed. */
  provisioningState?: AccountProvisioningState;
}

export type AccountProvisioningState = 'Succeeded' | 'Deleting';

/** Batch pool states (BatchService.json PoolState / AllocationState). */
export type PoolState = 'active' | 'deleting';
export type AllocationState = 'steady' | 'resizing' | 'stopping';

/** A resize error as the Batch service reports it on a pool. */
export interface ResizeErrorRecord {
  code: string;
  message: string;
  values?: { name: string; value: string }[];
}

/** Where a pool's nodes get their image bytes: a replica (gallery) or the image (managed) in `region`. */
export interface PoolImageBinding {
  kind: 'marketplace' | 'gallery' | 'managed';
  /** Gallery image version or managed image id; the base image key for marketplace. */
  source: string;
  region: string;
  osManifest: string;
  dataDisks: { lun: number; manifest: string }[];
  /** Replicas in `region` (gallery) — hydration capacity scales with them; 1 for managed and marketplace. */
  replicaCount: number;
  /** False when no completed replica is in the account's region: allocation fails (R12). */
  available: boolean;
}

/** A Batch pool. `spec` holds the properties the user set (wire names), state fields are kept beside it. */
export interface PoolRecord {
  accountName: string;
  id: string;
  spec: Record<string, unknown>;
  image: PoolImageBinding;
  state: PoolState;
  allocationState: AllocationState;
  targetDedicatedNodes: number;
  targetLowPriorityNodes: number;
  resizeTimeoutMs: number;
  /** When the current resize began (the resize timeout counts from here). */
  resizeStartedAt: string;
  resizeErrors: ResizeErrorRecord[];
  etag: string;
  creationTime: string;
  lastModified: string;
  stateTransitionTime: string;
  allocationStateTransitionTime: string;
  /** Dedicated core time of nodes that left the pool (usage statistics; absent = 0). */
  retiredDedicatedCoreMs?: number;
  /**
   * Core time (every node, dedicated or Spot) of nodes that left the pool, by the hour it was used in: the hour's
   * start (ms since the epoch, as a string key) → core-milliseconds. Pool_ListUsageMetrics reads it; hours older
   * than USAGE_RETENTION_HOURS are dropped when nodes retire, so it stays small.
   */
  retiredCoreMsByHour?: Record<string, number>;
  /** Present while autoscale is enabled: the formula, its schedule and its last run. */
  autoScale?: AutoScaleRecord;
  /** Present on an auto pool: the job or job schedule it was made for (`poolInfo.autoPoolSpecification`). */
  autoPool?: AutoPoolOwnerRecord;
  /**
   * The SHA-512 crypt hash of each user account's password, by account name (ADR 0026): the spec keeps no
   * password. Sealed at rest by the store.
   */
  passwordHashes?: Record<string, string>;
  /** containerConfiguration.containerRegistries' passwords by index (ADR 0039): not in the spec; sealed at rest. */
  registryPasswords?: Record<string, string>;
}

/** Who an auto pool belongs to, and whether it outlives its owner (`keepAlive`). */
export interface AutoPoolOwnerRecord {
  owner: 'job' | 'jobschedule';
  ownerId: string;
  keepAlive: boolean;
}

export interface AutoScaleRecord {
  formula: string;
  evaluationIntervalMs: number;
  /** When the next scheduled evaluation is due. */
  nextEvaluationAt: string;
  /** When enableautoscale last succeeded (Batch allows one call per 30 s). */
  lastEnabledAt?: string;
  lastRun?: AutoScaleRunRecord;
}

/** BatchService.json AutoScaleRun. */
export interface AutoScaleRunRecord {
  timestamp: string;
  results?: string;
  error?: { code: string; message: string; values?: { name: string; value: string }[] };
}

/**
 * Batch compute node states (BatchService.json ComputeNodeState, lower case as on the wire): the agent protocol
 * declares them (`AssignedState`), as the server hands every one of them to host agents.
 */
export type NodeState = AssignedState;

/** What the server wants a node to be; agents converge the node to it. */
export type NodeGoal = 'run' | 'reboot' | 'reimage' | 'remove';

/** A node's start task as its host agent last reported it (the protocol's `StartTaskReport`, stored as it came). */
export type StartTaskInfoRecord = StartTaskReport;

export interface NodeErrorRecord {
  code: string;
  message: string;
  errorDetails?: { name: string; value: string }[];
}

export interface NodeRecord {
  accountName: string;
  poolId: string;
  id: string;
  isDedicated: boolean;
  state: NodeState;
  previousState: NodeState | null;
  stateTransitionTime: string;
  allocationTime: string;
  /** The host agent that runs this node; null until one takes it. */
  hostId: string | null;
  /** Whether the node holds one of its image source's hydration slots (replica capacity, R15/R16). */
  granted: boolean;
  goal: NodeGoal;
  /** Bumped with every reboot/reimage request, so an agent can tell a new request from one it has done. */
  generation: number;
  startTaskInfo: StartTaskInfoRecord | null;
  errors: NodeErrorRecord[];
  lastBootTime: string | null;
  /** Job preparation (and release) on this node, by lower-case job id. */
  jobPreps?: Record<string, JobPrepRecord>;
  /** Task runs completed on the node (absent on records written before tasks existed). */
  totalTasksRun?: number;
  totalTasksSucceeded?: number;
  /** disablescheduling/enablescheduling (absent = enabled). */
  schedulingState?: 'enabled' | 'disabled';
  /** The node's address on its host's bridge, from the node address plan (given when a host takes the node). */
  network?: { address: string; prefix: number; gateway: string; range: string };
  /** Node users (ComputeNode_AddUser; ADR 0027), absent = none. */
  users?: NodeUserRecord[];
}

/**
 * A node user: a login account on one node. `passwordHash` is the SHA-512 crypt (`$6$…`) written to the node's
 * /etc/shadow; the store seals it at rest. The password itself is never kept.
 */
export interface NodeUserRecord {
  name: string;
  /** uid and gid in the node's user namespace (40000–49999). */
  uid: number;
  isAdmin: boolean;
  expiryTime: string;
  passwordHash?: string;
  sshPublicKey?: string;
}

/** One run of a job preparation or release task on a node (JobPreparationTaskExecutionInformation). */
export interface PrepRunRecord extends RunOutcomeRecord {
  state: 'pending' | 'running' | 'completed';
  attempt: number;
}

/** A job's preparation on a node, and its release (the tasks are copied here so the release outlives the job). */
export interface JobPrepRecord {
  jobId: string;
  preparationTask: Record<string, unknown>;
  releaseTask?: Record<string, unknown>;
  /** The job's common environment settings, for both runs. */
  environmentSettings?: unknown[];
  preparation: PrepRunRecord;
  /** Set once the job ends (terminated or deleted) when it has a release task. */
  release?: PrepRunRecord;
}

/** Batch job states (BatchService.json JobState). */
export type JobState =
  'active' | 'disabling' | 'disabled' | 'enabling' | 'terminating' | 'completed' | 'deleting';

export interface JobRecord {
  accountName: string;
  id: string;
  /** The properties the user set (wire names); state fields are kept beside it. */
  spec: Record<string, unknown>;
  poolId: string;
  priority: number;
  /** Creation order across the account: the scheduler's tie-breaker after priority. */
  seq: number;
  state: JobState;
  previousState: JobState | null;
  stateTransitionTime: string;
  previousStateTransitionTime: string | null;
  creationTime: string;
  lastModified: string;
  etag: string;
  executionInfo: {
    startTime: string;
    endTime?: string;
    poolId: string;
    terminateReason?: string;
    /** Why the job could not start, e.g. its auto pool could not be made (BatchService.json JobSchedulingError). */
    schedulingError?: JobSchedulingErrorRecord;
  };
  /** The next task's creation order within the job. */
  nextTaskSeq: number;
}

/** BatchService.json JobSchedulingError. */
export interface JobSchedulingErrorRecord {
  category: 'usererror' | 'servererror';
  code: string;
  message: string;
  details?: { name: string; value: string }[];
}

/** Batch job schedule states (BatchService.json JobScheduleState). */
export type JobScheduleState = 'active' | 'completed' | 'disabled' | 'terminating' | 'deleting';

export interface JobScheduleRecord {
  accountName: string;
  id: string;
  /** What the user set: displayName, schedule, jobSpecification, metadata (wire names). */
  spec: Record<string, unknown>;
  state: JobScheduleState;
  previousState: JobScheduleState | null;
  stateTransitionTime: string;
  previousStateTransitionTime: string | null;
  creationTime: string;
  lastModified: string;
  etag: string;
  executionInfo: { nextRunTime?: string; recentJobId?: string; endTime?: string };
  /** How many jobs the schedule has created; the next is `<id>:job-<jobCount + 1>`. */
  jobCount: number;
  /** The auto pool its jobs share (`poolLifetimeOption: jobschedule`), once the first job has made it. */
  autoPoolId?: string;
}

/** Batch task states (BatchService.json TaskState). */
export type TaskState = 'active' | 'preparing' | 'running' | 'completed';

export interface TaskFailureRecord {
  category: 'usererror' | 'servererror';
  code: string;
  message: string;
  details?: { name: string; value: string }[];
}

/** How a task's (or a preparation's) runs went: times, exit, retries — what both execution infos share. */
export interface RunOutcomeRecord {
  startTime?: string;
  endTime?: string;
  exitCode?: number;
  result?: 'success' | 'failure';
  failureInfo?: TaskFailureRecord;
  retryCount: number;
  lastRetryTime?: string;
}

/**
 * What a task's completed runs used, summed over its runs (retries included; ADR 0031): CPU microseconds, bytes
 * and calls of reads and writes, and wall-clock milliseconds, as the nodes reported them.
 */
export interface TaskUsageRecord extends RunUsage {
  /** When the last run's figures were added. */
  lastUpdateTime: string;
}

export interface TaskExecutionRecord extends RunOutcomeRecord {
  requeueCount: number;
  lastRequeueTime?: string;
}

export interface TaskRecord {
  accountName: string;
  jobId: string;
  id: string;
  /** The properties the user set (wire names). */
  spec: Record<string, unknown>;
  /** Creation order within the job. */
  seq: number;
  /** The job's pool, priority and creation order, copied so the queue index needs no join. */
  poolId: string;
  jobPriority: number;
  jobSeq: number;
  state: TaskState;
  previousState: TaskState | null;
  stateTransitionTime: string;
  previousStateTransitionTime: string | null;
  creationTime: string;
  lastModified: string;
  etag: string;
  executionInfo: TaskExecutionRecord;
  /** Where the task runs or last ran. */
  nodeInfo: { poolId: string; nodeId: string } | null;
  /** Set while the task is preparing or running on a node: the node owns one run of it. */
  assignedNode: string | null;
  /** Bumped every time the task is handed to a node, so a report for an older run is ignored. */
  attempt: number;
  /** Parents not yet finished in a way that satisfies this task. */
  blocked: boolean;
  /** The job is disabled: active tasks wait without being scheduled. */
  held: boolean;
  /** Once completed: whether tasks depending on this one may run (the exit options' dependencyAction). */
  satisfiesDependents: boolean;
  requiredSlots: number;
  maxTaskRetryCount: number;
  /** Undefined = no limit. */
  maxWallClockTimeMs?: number;
  /** How long the task's folder stays on its node once the task completes (undefined = Batch's 7 days). */
  retentionTimeMs?: number;
  /** The `executionInfo.endTime` of the completion whose files were removed once retention ran out. */
  filesCleanedFor?: string;
  /** What its completed runs used (absent until one reports; `$expand=stats`, ADR 0031). */
  usage?: TaskUsageRecord;
}

/**
 * One instance of a multi-instance task's current run (ADR 0038): 0 is the primary (on the task's own node), 1…n-1
 * the subtasks `subtasksinfo` lists. Replaced as a whole on every dispatch of the task.
 */
export interface SubtaskRecord {
  accountName: string;
  jobId: string;
  taskId: string;
  id: number;
  /** The task's attempt this instance belongs to. */
  attempt: number;
  poolId: string;
  nodeId: string;
  /** The node's address when the instance was given to it (for AZ_BATCH_HOST_LIST). */
  nodeAddress?: string;
  state: 'preparing' | 'running' | 'completed';
  stateTransitionTime: string;
  previousState?: 'preparing' | 'running';
  previousStateTransitionTime?: string;
  startTime?: string;
  endTime?: string;
  /** The coordination command line's exit code, once it ended (the primary's command waits for every 0). */
  coordinationExitCode?: number;
  exitCode?: number;
  failureInfo?: TaskFailureRecord;
}

/** TaskConstraints.retentionTime's default: 7 days. */
export const DEFAULT_TASK_RETENTION_MS = 7 * 24 * 3600 * 1000;

/**
 * When a completed task's folder on its node goes (ms since the epoch), or null: not completed, never ran on a
 * node, or already removed for this completion. Stored beside the task so the cleaner reads only what is due.
 */
export function taskFilesExpireAt(t: TaskRecord): number | null {
  const end = t.executionInfo.endTime;
  if (t.state !== 'completed' || t.nodeInfo === null || end === undefined || t.filesCleanedFor === end)
    return null;
  return Date.parse(end) + (t.retentionTimeMs ?? DEFAULT_TASK_RETENTION_MS);
}

/** A folder on a node whose task (or job) was deleted: the cleaner removes it through the node's host. */
export interface NodeFileCleanupRecord {
  accountName: string;
  poolId: string;
  nodeId: string;
  /** Relative to the node root dir, e.g. `workitems/job1/job-1/task1`. */
  path: string;
}

/** Counts of a job's tasks (and of the slots they need), as `taskcounts` reports them. */
export interface TaskCountsRecord {
  active: number;
  running: number;
  completed: number;
  succeeded: number;
  failed: number;
}

/** One group of a server-wide count: how many records share these label values. */
export interface CountRow<L extends string> {
  labels: Record<L, string>;
  count: number;
}

/**
 * Server-wide counts of the Batch data plane by state, for metrics. Account labels are the lower-case account
 * keys (Batch account names are lower case); pool labels are the pool ids as created.
 */
export interface BatchCountsRecord {
  pools: CountRow<'account' | 'state' | 'allocationState'>[];
  nodes: CountRow<'account' | 'pool' | 'state'>[];
  jobs: CountRow<'account' | 'state'>[];
  tasks: CountRow<'account' | 'pool' | 'state'>[];
}
