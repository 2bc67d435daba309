import type { NodeFileInfo } from '../../protocol/agent-protocol.ts';
import { countNodes } from '../../domain/pools/node-states.ts';
import { formatDuration } from '../../domain/pools/pool-spec.ts';
import { dedicatedCoreMs } from '../../domain/pools/usage.ts';
import type { AutoScaleRunRecord, NodeRecord, PoolRecord, TaskRecord } from '../../domain/records.ts';

/** BatchService.json CloudPool. */
export function poolToWire(pool: PoolRecord, nodes: NodeRecord[], accountUrl: string) {
  const live = nodes.filter((n) => n.state !== 'leavingpool');
  const spec = pool.spec;
  return {
    id: pool.id,
    url: `${accountUrl}/pools/${pool.id}`,
    eTag: pool.etag,
    lastModified: pool.lastModified,
    creationTime: pool.creationTime,
    state: pool.state,
    stateTransitionTime: pool.stateTransitionTime,
    allocationState: pool.allocationState,
    allocationStateTransitionTime: pool.allocationStateTransitionTime,
    ...spec,
    vmSize: typeof spec.vmSize === 'string' ? spec.vmSize.toLowerCase() : spec.vmSize,
    resizeTimeout: formatDuration(pool.resizeTimeoutMs),
    ...(pool.resizeErrors.length > 0 ? { resizeErrors: pool.resizeErrors } : {}),
    currentDedicatedNodes: live.filter((n) => n.isDedicated).length,
    currentLowPriorityNodes: live.filter((n) => !n.isDedicated).length,
    targetDedicatedNodes: pool.targetDedicatedNodes,
    targetLowPriorityNodes: pool.targetLowPriorityNodes,
    ...autoScaleToWire(pool),
    enableInterNodeCommunication: spec.enableInterNodeCommunication === true,
    taskSlotsPerNode: typeof spec.taskSlotsPerNode === 'number' ? spec.taskSlotsPerNode : 1,
    taskSchedulingPolicy: spec.taskSchedulingPolicy ?? { nodeFillType: 'spread' },
    currentNodeCommunicationMode: 'simplified',
  };
}

/** enableAutoScale and, while it is on, the formula, interval and last run. */
function autoScaleToWire(pool: PoolRecord) {
  const a = pool.autoScale;
  if (!a) return { enableAutoScale: false };
  return {
    enableAutoScale: true,
    autoScaleFormula: a.formula,
    autoScaleEvaluationInterval: formatDuration(a.evaluationIntervalMs),
    ...(a.lastRun ? { autoScaleRun: autoScaleRunToWire(a.lastRun) } : {}),
  };
}

/** BatchService.json AutoScaleRun. */
export function autoScaleRunToWire(run: AutoScaleRunRecord) {
  return {
    timestamp: run.timestamp,
    ...(run.results === undefined ? {} : { results: run.results }),
    ...(run.error ? { error: run.error } : {}),
  };
}

/**
 * BatchService.json PoolStatistics for `$expand=stats`: usage (dedicated core time of the nodes the pool has had).
 * `resourceStats` (CPU, memory, disk and network averages) is left out: Lazurite does not sample it, and the
 * property is optional.
 */
export function poolStatsToWire(pool: PoolRecord, nodes: NodeRecord[], accountUrl: string, now: Date) {
  const stamp = now.toISOString();
  return {
    url: `${accountUrl}/pools/${pool.id}/stats`,
    startTime: pool.creationTime,
    lastUpdateTime: stamp,
    usageStats: {
      startTime: pool.creationTime,
      lastUpdateTime: stamp,
      dedicatedCoreTime: formatDuration(dedicatedCoreMs(pool, nodes, now)),
    },
  };
}

/** BatchService.json ComputeNode. */
export function nodeToWire(
  node: NodeRecord,
  pool: PoolRecord,
  accountUrl: string,
  backendKind: string,
  tasks: TaskRecord[] = [],
) {
  const own = tasks.filter((t) => t.assignedNode?.toLowerCase() === node.id.toLowerCase());
  const vmc = (pool.spec.virtualMachineConfiguration ?? {}) as Record<string, unknown>;
  const simulated = backendKind === 'simulated';
  return {
    id: node.id,
    url: `${accountUrl}/pools/${pool.id}/nodes/${node.id}`,
    state: node.state,
    schedulingState: node.schedulingState ?? 'enabled',
    stateTransitionTime: node.stateTransitionTime,
    ...(node.lastBootTime === null ? {} : { lastBootTime: node.lastBootTime }),
    allocationTime: node.allocationTime,
    ...(node.network === undefined ? {} : { ipAddress: node.network.address }),
    affinityId: `TVM:${node.id}`,
    vmSize: String(pool.spec.vmSize).toLowerCase(),
    totalTasksRun: node.totalTasksRun ?? 0,
    totalTasksSucceeded: node.totalTasksSucceeded ?? 0,
    runningTasksCount: own.length,
    runningTaskSlotsCount: own.reduce((sum, t) => sum + t.requiredSlots, 0),
    ...(own.length > 0
      ? {
          recentTasks: own.map((t) => ({
            taskUrl: `${accountUrl}/jobs/${t.jobId}/tasks/${t.id}`,
            jobId: t.jobId,
            taskId: t.id,
            taskState: t.state,
            executionInfo: t.executionInfo,
          })),
        }
      : {}),
    isDedicated: node.isDedicated,
    ...(pool.spec.startTask === undefined ? {} : { startTask: pool.spec.startTask }),
    ...(node.startTaskInfo === null ? {} : { startTaskInfo: node.startTaskInfo }),
    // A simulated node is no error: it says so in nodeAgentInfo (an errors[] entry would make clients and
    // autoscale formulas treat a healthy node as broken).
    ...(node.errors.length > 0 ? { errors: node.errors } : {}),
    nodeAgentInfo: {
      version: simulated
        ? 'lazurite-simulated (nothing runs on this node; its durations are modelled)'
        : `lazurite-${backendKind}`,
      lastUpdateTime: node.allocationTime,
    },
    virtualMachineInfo: { imageReference: vmc.imageReference ?? {} },
    endpointConfiguration: { inboundEndpoints: [] },
  };
}

/** BatchService.json PoolNodeCounts. */
export function nodeCountsToWire(pool: PoolRecord, nodes: NodeRecord[]) {
  return {
    poolId: pool.id,
    dedicated: countNodes(nodes.filter((n) => n.isDedicated)),
    lowPriority: countNodes(nodes.filter((n) => !n.isDedicated)),
  };
}

/** BatchService.json NodeFile. */
export function nodeFileToWire(f: NodeFileInfo, nodeUrl: string) {
  return {
    name: f.name,
    url: `${nodeUrl}/files/${f.name}`,
    isDirectory: f.isDirectory,
    properties: {
      creationTime: f.creationTime.toISOString(),
      lastModified: f.lastModified.toISOString(),
      contentLength: f.isDirectory ? 0 : f.size,
      contentType: 'application/octet-stream',
      fileMode: f.fileMode,
    },
  };
}
