import type { NodeFileInfo } from '../../protocol/agent-protocol.ts';
import { taskDirOf } from '../../domain/jobs/dispatch.ts';
import { formatDuration } from '../../domain/pools/pool-spec.ts';
import { prepDirOf } from '../../domain/jobs/job-prep.ts';
import { autoPoolOf } from '../../domain/jobs/auto-pools.ts';
import { record } from '../../domain/jobs/spec.ts';
import type {
  JobPrepRecord,
  JobRecord,
  NodeRecord,
  PrepRunRecord,
  SubtaskRecord,
  TaskCountsRecord,
  TaskRecord,
} from '../../domain/records.ts';
import { nodeFileToWire } from './wire-pools.ts';

/** TimeSpan.MaxValue as the Batch service writes an unlimited duration. */
const UNLIMITED = 'P10675199DT2H48M5.4775807S';

const previous = (r: { previousState: string | null; previousStateTransitionTime: string | null }) =>
  r.previousState === null
    ? {}
    : { previousState: r.previousState, previousStateTransitionTime: r.previousStateTransitionTime };

/** BatchService.json CloudJob. */
export function jobToWire(job: JobRecord, accountUrl: string) {
  const c = record(job.spec.constraints);
  return {
    id: job.id,
    url: `${accountUrl}/jobs/${job.id}`,
    eTag: job.etag,
    lastModified: job.lastModified,
    creationTime: job.creationTime,
    state: job.state,
    stateTransitionTime: job.stateTransitionTime,
    ...previous(job),
    ...job.spec,
    priority: job.priority,
    maxParallelTasks: typeof job.spec.maxParallelTasks === 'number' ? job.spec.maxParallelTasks : -1,
    usesTaskDependencies: job.spec.usesTaskDependencies === true,
    constraints: {
      maxWallClockTime: typeof c.maxWallClockTime === 'string' ? c.maxWallClockTime : UNLIMITED,
      maxTaskRetryCount: typeof c.maxTaskRetryCount === 'number' ? c.maxTaskRetryCount : 0,
    },
    poolInfo: autoPoolOf(job)
      ? record(job.spec.poolInfo)
      : { ...record(job.spec.poolInfo), poolId: job.poolId },
    onAllTasksComplete: job.spec.onAllTasksComplete ?? 'noaction',
    onTaskFailure: job.spec.onTaskFailure ?? 'noaction',
    executionInfo: job.executionInfo,
  };
}

/** BatchService.json CloudTask. */
export function taskToWire(task: TaskRecord, accountUrl: string) {
  const node = task.nodeInfo;
  const root = `/mnt/batch/tasks/${taskDirOf(task.jobId, task.id)}`;
  const nodeUrl = node ? `${accountUrl}/pools/${node.poolId}/nodes/${node.nodeId}` : undefined;
  const c = record(task.spec.constraints);
  return {
    id: task.id,
    url: `${accountUrl}/jobs/${task.jobId}/tasks/${task.id}`,
    eTag: task.etag,
    lastModified: task.lastModified,
    creationTime: task.creationTime,
    state: task.state,
    stateTransitionTime: task.stateTransitionTime,
    ...previous(task),
    ...task.spec,
    constraints: {
      maxWallClockTime:
        task.maxWallClockTimeMs === undefined ? UNLIMITED : formatDuration(task.maxWallClockTimeMs),
      retentionTime: typeof c.retentionTime === 'string' ? c.retentionTime : 'P7D',
      maxTaskRetryCount: task.maxTaskRetryCount,
    },
    requiredSlots: task.requiredSlots,
    userIdentity: task.spec.userIdentity ?? { autoUser: { scope: 'pool', elevationLevel: 'nonadmin' } },
    executionInfo: task.executionInfo,
    ...(node && nodeUrl
      ? {
          nodeInfo: {
            affinityId: `TVM:${node.nodeId}`,
            nodeUrl,
            poolId: node.poolId,
            nodeId: node.nodeId,
            taskRootDirectory: root.replace('/mnt/batch/tasks/', ''),
            taskRootDirectoryUrl: `${nodeUrl}/files/${root.replace('/mnt/batch/tasks/', '')}`,
          },
        }
      : {}),
  };
}

/** BatchService.json SubtaskInformation: the subtask's folder is `<task folder>/<id>` on its node. */
export function subtaskToWire(s: SubtaskRecord, accountUrl: string) {
  const nodeUrl = `${accountUrl}/pools/${s.poolId}/nodes/${s.nodeId}`;
  const dir = `${taskDirOf(s.jobId, s.taskId)}/${String(s.id)}`;
  return {
    id: s.id,
    nodeInfo: {
      affinityId: `TVM:${s.nodeId}`,
      nodeUrl,
      poolId: s.poolId,
      nodeId: s.nodeId,
      taskRootDirectory: dir,
      taskRootDirectoryUrl: `${nodeUrl}/files/${dir}`,
    },
    ...(s.startTime === undefined ? {} : { startTime: s.startTime }),
    ...(s.endTime === undefined ? {} : { endTime: s.endTime }),
    ...(s.exitCode === undefined ? {} : { exitCode: s.exitCode }),
    ...(s.failureInfo === undefined ? {} : { failureInfo: s.failureInfo }),
    state: s.state,
    stateTransitionTime: s.stateTransitionTime,
    ...(s.previousState === undefined ? {} : { previousState: s.previousState }),
    ...(s.previousStateTransitionTime === undefined
      ? {}
      : { previousStateTransitionTime: s.previousStateTransitionTime }),
    ...(s.state === 'completed'
      ? { result: s.failureInfo === undefined && s.exitCode === 0 ? 'success' : 'failure' }
      : {}),
  };
}

export function taskCountsToWire(counts: { tasks: TaskCountsRecord; slots: TaskCountsRecord }) {
  return { taskCounts: counts.tasks, taskSlotCounts: counts.slots };
}

/** A task file as Batch lists it: the name relative to the task's folder. */
export function taskFileToWire(f: NodeFileInfo, taskDir: string, taskUrl: string) {
  const name = f.name.startsWith(`${taskDir}/`) ? f.name.slice(taskDir.length + 1) : f.name;
  return { ...nodeFileToWire({ ...f, name }, taskUrl), url: `${taskUrl}/files/${name}` };
}

/** BatchService.json JobPreparationAndReleaseTaskExecutionInformation. */
export function prepStatusToWire(node: NodeRecord, prep: JobPrepRecord, accountUrl: string) {
  const nodeUrl = `${accountUrl}/pools/${node.poolId}/nodes/${node.id}`;
  const info = (run: PrepRunRecord, kind: 'preparation' | 'release') => {
    const dir = prepDirOf(prep.jobId, kind);
    return {
      ...(run.startTime === undefined ? {} : { startTime: run.startTime }),
      ...(run.endTime === undefined ? {} : { endTime: run.endTime }),
      state: run.state === 'completed' ? 'completed' : 'running',
      taskRootDirectory: dir,
      taskRootDirectoryUrl: `${nodeUrl}/files/${dir}`,
      ...(run.exitCode === undefined ? {} : { exitCode: run.exitCode }),
      ...(run.failureInfo === undefined ? {} : { failureInfo: run.failureInfo }),
      ...(kind === 'preparation' ? { retryCount: run.retryCount } : {}),
      ...(run.lastRetryTime === undefined || kind === 'release' ? {} : { lastRetryTime: run.lastRetryTime }),
      ...(run.result === undefined ? {} : { result: run.result }),
    };
  };
  return {
    poolId: node.poolId,
    nodeId: node.id,
    nodeUrl,
    jobPreparationTaskExecutionInfo: info(prep.preparation, 'preparation'),
    ...(prep.release && prep.release.state !== 'pending'
      ? { jobReleaseTaskExecutionInfo: info(prep.release, 'release') }
      : {}),
  };
}
