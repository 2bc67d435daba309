/** The parts of the Batch and ARM wire shapes the portal reads (see /work/shared specs; all optional-tolerant). */

export interface ImageReference {
  publisher?: string;
  offer?: string;
  sku?: string;
  version?: string;
  virtualMachineImageId?: string;
  exactVersion?: string;
}

/** A pool's resize error: unlike the error envelope, `message` is a string and `values` are name/value pairs. */
export interface ResizeError {
  code: string;
  message?: string;
  values?: { name: string; value: string }[];
}

export interface StartTask {
  commandLine: string;
  waitForSuccess?: boolean;
  userIdentity?: { autoUser?: { scope?: string; elevationLevel?: string } };
}

export interface Pool {
  id: string;
  state: string;
  allocationState: string;
  vmSize: string;
  creationTime?: string;
  resizeTimeout?: string;
  currentDedicatedNodes: number;
  currentLowPriorityNodes: number;
  targetDedicatedNodes: number;
  targetLowPriorityNodes: number;
  virtualMachineConfiguration?: { imageReference: ImageReference; nodeAgentSKUId: string };
  startTask?: StartTask;
  resizeErrors?: ResizeError[];
}

export interface ComputeNode {
  id: string;
  state: string;
  schedulingState?: string;
  ipAddress?: string;
  vmSize?: string;
  isDedicated?: boolean;
  runningTasksCount?: number;
  totalTasksRun?: number;
  totalTasksSucceeded?: number;
  allocationTime?: string;
  lastBootTime?: string;
  stateTransitionTime?: string;
  startTask?: StartTask;
  startTaskInfo?: {
    state: string;
    startTime?: string;
    endTime?: string;
    exitCode?: number;
    result?: string;
    retryCount?: number;
    failureInfo?: { code?: string; message?: string };
  };
  errors?: { code?: string; message?: string }[];
}

export type NodeCountsByState = Record<string, number>;
export interface PoolNodeCounts {
  poolId: string;
  dedicated?: NodeCountsByState;
  lowPriority?: NodeCountsByState;
}

export interface Job {
  id: string;
  state: string;
  creationTime?: string;
  poolInfo?: { poolId?: string };
  executionInfo?: { startTime?: string; endTime?: string };
}

export interface Task {
  id: string;
  state: string;
  commandLine?: string;
  executionInfo?: {
    exitCode?: number;
    result?: string;
    startTime?: string;
    endTime?: string;
    failureInfo?: { message?: string };
  };
  nodeInfo?: { nodeId?: string; poolId?: string };
}

export interface SupportedImage {
  nodeAgentSKUId: string;
  imageReference: ImageReference;
  osType: string;
  verificationType?: string;
}

export interface ArmResource<P> {
  id: string;
  name: string;
  location: string;
  properties: P;
}

export interface TargetRegion {
  name: string;
  regionalReplicaCount?: number;
}

export interface ReplicationSummary {
  region: string;
  state: string;
  details?: string;
  progress?: number;
}

export interface DiskImage {
  lun?: number;
  sizeInGB?: number;
  hostCaching?: string;
  source?: { id?: string };
}

export type GalleryVersion = ArmResource<{
  provisioningState?: string;
  publishingProfile?: { targetRegions?: TargetRegion[]; replicaCount?: number; publishedDate?: string };
  storageProfile?: { source?: { id?: string }; osDiskImage?: DiskImage; dataDiskImages?: DiskImage[] };
  replicationStatus?: { aggregatedState?: string; summary?: ReplicationSummary[] };
}>;

export type GalleryDefinition = ArmResource<{
  osType: string;
  osState?: string;
  identifier?: { publisher: string; offer: string; sku: string };
}>;

export interface ManagedDisk {
  lun?: number;
  osType?: string;
  osState?: string;
  diskSizeGB?: number;
  caching?: string;
  storageAccountType?: string;
  managedDisk?: { id?: string };
  snapshot?: { id?: string };
  blobUri?: string;
}

export type ManagedImage = ArmResource<{
  provisioningState?: string;
  sourceVirtualMachine?: { id?: string };
  storageProfile?: { osDisk?: ManagedDisk; dataDisks?: ManagedDisk[] };
}>;

export type BatchAccount = ArmResource<{
  accountEndpoint?: string;
  provisioningState?: string;
  poolAllocationMode?: string;
  dedicatedCoreQuota?: number;
  lowPriorityCoreQuota?: number;
  poolQuota?: number;
  activeJobAndJobScheduleQuota?: number;
}>;

/** The parts of an ARM id: `/subscriptions/s/resourceGroups/g/providers/P/type/name/...`. */
export function idParts(id: string): { group: string; names: Record<string, string> } {
  const seg = id.split('/').filter(Boolean);
  const names: Record<string, string> = {};
  const at = seg.findIndex((s) => s.toLowerCase() === 'providers');
  for (let i = at + 2; i + 1 < seg.length; i += 2) names[(seg[i] ?? '').toLowerCase()] = seg[i + 1] ?? '';
  const g = seg.findIndex((s) => s.toLowerCase() === 'resourcegroups');
  return { group: seg[g + 1] ?? '', names };
}

/** How a pool's image reads in lists: `publisher/offer/sku`, `gallery/definition/version` or the image name. */
export function imageLabel(ref: ImageReference | undefined): string {
  if (ref === undefined) return '—';
  if (ref.virtualMachineImageId === undefined) return [ref.publisher, ref.offer, ref.sku].join(' / ');
  const { names } = idParts(ref.virtualMachineImageId);
  if (names.galleries !== undefined) {
    const version = names.versions ?? `latest${ref.exactVersion ? ` (${ref.exactVersion})` : ''}`;
    return `${names.galleries} / ${names.images ?? ''} / ${version}`;
  }
  return names.images ?? ref.virtualMachineImageId;
}
