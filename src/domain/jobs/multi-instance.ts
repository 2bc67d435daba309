import type { ResourceFileSpec } from '../../backends/task-files.ts';
import type { TaskAssignment, TaskReport } from '../../protocol/agent-protocol.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { NodeRecord, PoolRecord, SubtaskRecord, TaskRecord } from '../../storage/records.ts';
import { multiInstanceEnvironment } from '../pools/node-network.ts';
import { record } from './spec.ts';

/**
 * Multi-instance tasks (ADR 0038): a task with `multiInstanceSettings` runs on `numberOfInstances` nodes of its
 * pool at once — the primary on the task's own node, subtasks 1…n-1 on others — claimed together in one
 * transaction (gang scheduling, never a partial hold). Every instance runs the coordination command line; the
 * primary's command line starts once all of them ended with exit code 0, and the task ends with the primary.
 */

interface Settings {
  numberOfInstances: number;
  coordinationCommandLine: string;
  commonResourceFiles: ResourceFileSpec[];
}

/** The task's multi-instance settings, or undefined for an ordinary task. */
export function multiInstanceOf(task: TaskRecord): Settings | undefined {
  if (task.spec.multiInstanceSettings === undefined) return undefined;
  const m = record(task.spec.multiInstanceSettings);
  return {
    numberOfInstances: typeof m.numberOfInstances === 'number' ? m.numberOfInstances : 1,
    coordinationCommandLine: String(m.coordinationCommandLine),
    commonResourceFiles: (Array.isArray(m.commonResourceFiles)
      ? m.commonResourceFiles
      : []) as ResourceFileSpec[],
  };
}

/**
 * The nodes (lower-case ids, primary first) a multi-instance task takes now, or undefined when the pool cannot
 * give it that many at once. As on Batch, only pools with inter-node communication and one task slot per node
 * run multi-instance tasks; elsewhere the task stays active. `admits` says whether a node may take the task now.
 */
export function pickInstanceNodes(
  pool: PoolRecord,
  settings: Settings,
  free: Map<string, number>,
  admits: (nodeKey: string) => boolean,
): string[] | undefined {
  const perNode = typeof pool.spec.taskSlotsPerNode === 'number' ? pool.spec.taskSlotsPerNode : 1;
  if (pool.spec.enableInterNodeCommunication !== true || perNode !== 1) return undefined;
  const candidates = [...free.entries()].filter(([, f]) => f >= 1).map(([k]) => k);
  if (candidates.length < settings.numberOfInstances) return undefined;
  const picked: string[] = [];
  for (const k of candidates.sort()) {
    if (admits(k)) picked.push(k);
    if (picked.length === settings.numberOfInstances) return picked;
  }
  return undefined;
}

/** The instances of a task's new run on these nodes (primary first). */
export function newInstances(task: TaskRecord, nodes: NodeRecord[], now: Date): SubtaskRecord[] {
  return nodes.map((node, id) => ({
    accountName: task.accountName,
    jobId: task.jobId,
    taskId: task.id,
    id,
    attempt: task.attempt,
    poolId: node.poolId,
    nodeId: node.id,
    ...(node.network === undefined ? {} : { nodeAddress: node.network.address }),
    state: 'preparing',
    stateTransitionTime: now.toISOString(),
  }));
}

/** The subtask state machine as data: an instance never goes back (a new run of the task makes new ones). */
export const SUBTASK_TRANSITIONS: Record<SubtaskRecord['state'], readonly SubtaskRecord['state'][]> = {
  preparing: ['running', 'completed'],
  running: ['completed'],
  completed: [],
};

/** The instance in `state`, or unchanged when the table does not list that move. */
function moveInstance(s: SubtaskRecord, state: SubtaskRecord['state'], now: Date): SubtaskRecord {
  if (!SUBTASK_TRANSITIONS[s.state].includes(state) || s.state === 'completed') return s;
  return {
    ...s,
    state,
    previousState: s.state,
    previousStateTransitionTime: s.stateTransitionTime,
    stateTransitionTime: now.toISOString(),
  };
}

/** Ends the task's unfinished instances (the task completed, was retried, requeued or terminated). */
export async function endInstances(tx: StoreTx, task: TaskRecord, now: Date): Promise<void> {
  const rows = await tx.findSubtasks(task.accountName, task.jobId, task.id);
  if (rows.every((s) => s.state === 'completed')) return;
  const ended = rows.map((s) => {
    if (s.state === 'completed') return s;
    const moved = moveInstance(s, 'completed', now);
    return {
      ...moved,
      endTime: now.toISOString(),
      ...(s.coordinationExitCode === undefined ? {} : { exitCode: s.coordinationExitCode }),
    };
  });
  await tx.putSubtasks(task.accountName, task.jobId, task.id, ended);
}

/**
 * Applies an instance's report to the task's current run. Returns the report when the instance failed (its
 * coordination command line ended with a failure): the whole task has then failed.
 */
export async function applyInstanceReport(
  tx: StoreTx,
  task: TaskRecord,
  r: TaskReport,
  now: Date,
): Promise<TaskReport | undefined> {
  const rows = await tx.findSubtasks(task.accountName, task.jobId, task.id);
  const row = rows.find((s) => s.id === r.instance);
  if (row?.attempt !== task.attempt || row.nodeId.toLowerCase() !== r.nodeId.toLowerCase()) return undefined;
  if (row.state === 'completed') return undefined;
  let next: SubtaskRecord = { ...moveInstance(row, 'running', now), startTime: row.startTime ?? r.startTime };
  if (r.coordinationExitCode !== undefined) next = { ...next, coordinationExitCode: r.coordinationExitCode };
  const failed = r.state === 'completed';
  if (failed)
    next = {
      ...moveInstance(next, 'completed', now),
      endTime: now.toISOString(),
      ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }),
      ...(r.failureInfo === undefined ? {} : { failureInfo: r.failureInfo }),
    };
  await tx.putSubtasks(
    task.accountName,
    task.jobId,
    task.id,
    rows.map((s) => (s === row ? next : s)),
  );
  return failed ? r : undefined;
}

/**
 * A node's assignment for its instance of a multi-instance task, from the ordinary assignment the node would get
 * for the task: Batch's multi-instance variables; a subtask runs the coordination command line in its own folder.
 */
export function instanceAssignment(
  base: TaskAssignment,
  settings: Settings,
  instance: number,
  rows: SubtaskRecord[],
): TaskAssignment {
  const sharedDir = base.environment.AZ_BATCH_TASK_DIR ?? '';
  const environment = {
    ...base.environment,
    ...multiInstanceEnvironment(
      rows.map((s) => (s.nodeAddress === undefined ? {} : { network: { address: s.nodeAddress } })),
    ),
    AZ_BATCH_TASK_SHARED_DIR: sharedDir,
    AZ_BATCH_IS_CURRENT_NODE_MASTER: instance === 0 ? 'true' : 'false',
  };
  const assignment = {
    ...base,
    environment,
    instance: {
      id: instance,
      coordinationCommandLine: settings.coordinationCommandLine,
      commonResourceFiles: settings.commonResourceFiles,
      sharedDir: base.taskDir,
      allCoordinated:
        rows.length === settings.numberOfInstances && rows.every((s) => s.coordinationExitCode === 0),
    },
  };
  if (instance === 0) return assignment;
  const own = `${sharedDir}/${String(instance)}`;
  const subtask: TaskAssignment = {
    ...assignment,
    commandLine: settings.coordinationCommandLine,
    environment: { ...environment, AZ_BATCH_TASK_DIR: own, AZ_BATCH_TASK_WORKING_DIR: `${own}/wd` },
    taskDir: `${base.taskDir}/${String(instance)}`,
    resourceFiles: [],
    outputFiles: [],
  };
  // A subtask ends with its primary, not by its own clock.
  delete subtask.timeoutMs;
  return subtask;
}

/** A subtask on a node, with its task. */
export interface HeldInstance {
  task: TaskRecord;
  instance: SubtaskRecord;
}

/**
 * The subtasks that hold these nodes, by lower-case node id. Instances of a run that is over (the task completed,
 * was retried, requeued or terminated) are ended here; a task whose subtask's node can no longer run it goes back
 * to the queue, whole (`requeue`).
 */
export async function instancesOnNodes(
  tx: StoreTx,
  pool: PoolRecord,
  nodeIds: string[],
  usable: Set<string>,
  now: Date,
  requeue: (task: TaskRecord) => TaskRecord,
): Promise<Map<string, HeldInstance[]>> {
  const rows = (await tx.subtasksOnNodes(pool.accountName, pool.id, nodeIds)).filter((s) => s.id > 0);
  const byTask = new Map<string, SubtaskRecord[]>();
  for (const s of rows) {
    const k = `${s.jobId}\u0000${s.taskId}`.toLowerCase();
    byTask.set(k, [...(byTask.get(k) ?? []), s]);
  }
  const held = new Map<string, HeldInstance[]>();
  for (const own of byTask.values()) {
    const first = own[0] as SubtaskRecord;
    const [task] = await tx.findTasks(first.accountName, first.jobId, [first.taskId]);
    if (task === undefined) continue;
    const live =
      (task.state === 'preparing' || task.state === 'running') &&
      task.assignedNode !== null &&
      task.attempt === first.attempt;
    if (!live) {
      await endInstances(tx, task, now);
      continue;
    }
    if (own.some((s) => !usable.has(s.nodeId.toLowerCase()))) {
      await tx.putTasks([requeue(task)]);
      await endInstances(tx, task, now);
      continue;
    }
    for (const s of own) {
      const k = s.nodeId.toLowerCase();
      held.set(k, [...(held.get(k) ?? []), { task, instance: s }]);
    }
  }
  return held;
}
