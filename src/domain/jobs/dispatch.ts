import type { TaskAssignment, TaskContainer, TaskReport } from '../../protocol/agent-protocol.ts';
import { taskContainer } from './container-settings.ts';
import type { OutputFileSpec, ResourceFileSpec } from '../../backends/task-files.ts';
import { compoundKey } from '../../storage/keys.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { JobRecord, NodeRecord, PoolRecord, TaskRecord } from '../../storage/records.ts';
import { moveNode } from '../pools/node-states.ts';
import { applyEnvironmentSettings, runFields, taskRunEnvironment } from '../pools/start-task.ts';
import { runAsOf } from '../pools/user-accounts.ts';
import { applyPrepReport, prepAssignments, prepEnvironment, prepGate } from './job-prep.ts';
import { record } from './spec.ts';
import { moveTask } from './states.ts';
import { addRunUsage } from './task-usage.ts';
import {
  finishTask,
  hasRetryLeft,
  requeueTask,
  retryTask,
  runSucceeded,
  settleJob,
  taskEtag,
  type RunOutcome,
} from './task-outcome.ts';

/**
 * The scheduler's side of a host agent's sync, inside its transaction: record what runs did (task reports),
 * requeue tasks whose node can no longer run them, fill free task slots from the head of each pool's queue
 * (job priority, then age; `nodeFillType` spread or pack), and answer with each node's task runs.
 */

const SCHEDULABLE = new Set(['idle', 'running', 'offline']);
/** A node that may keep its tasks (an offline one: scheduling disabled, letting its tasks finish). */
const schedulable = (n: NodeRecord) => SCHEDULABLE.has(n.state) && n.goal === 'run';
/** A node that may take new tasks. */
const claimable = (n: NodeRecord) => schedulable(n) && n.schedulingState !== 'disabled';
/** The state a schedulable node shows: running with tasks, else offline when disabled, else idle. */
const restingState = (n: NodeRecord, tasks: number) =>
  tasks > 0 ? 'running' : n.schedulingState === 'disabled' ? 'offline' : 'idle';

/** Applies task reports; reports for an older run (attempt) or a task no longer on that node are ignored. */
export async function applyTaskReports(tx: StoreTx, reports: TaskReport[], now: Date): Promise<boolean> {
  let changed = false;
  const ended = new Map<string, { report: TaskReport; runs: number; succeeded: number }>();
  for (const r of reports) {
    if (await applyPrepReport(tx, r, now)) {
      changed = true;
      continue;
    }
    const [task] = await tx.findTasks(r.accountName, r.jobId, [r.taskId]);
    if (!task || task.attempt !== r.attempt || task.assignedNode?.toLowerCase() !== r.nodeId.toLowerCase())
      continue;
    if (task.state !== 'preparing' && task.state !== 'running') continue;
    changed = true;
    if (r.state === 'running') {
      const moved = moveTask(task, 'running', now) ?? task;
      await tx.putTasks([{ ...moved, executionInfo: { ...moved.executionInfo, startTime: r.startTime } }]);
      continue;
    }
    await completeRun(tx, task, r, now);
    const k = compoundKey(r.accountName, r.poolId, r.nodeId);
    const tally = ended.get(k) ?? { report: r, runs: 0, succeeded: 0 };
    ended.set(k, { ...tally, runs: tally.runs + 1, succeeded: tally.succeeded + (runSucceeded(r) ? 1 : 0) });
  }
  await countRuns(tx, [...ended.values()]);
  return changed;
}

/** The nodes' run counters (ComputeNode.totalTasksRun / totalTasksSucceeded), one write per node. */
async function countRuns(
  tx: StoreTx,
  tallies: { report: TaskReport; runs: number; succeeded: number }[],
): Promise<void> {
  const nodes: NodeRecord[] = [];
  for (const { report: r, runs, succeeded } of tallies) {
    const node = await tx.findNode(r.accountName, r.poolId, r.nodeId);
    if (!node) continue;
    nodes.push({
      ...node,
      totalTasksRun: (node.totalTasksRun ?? 0) + runs,
      totalTasksSucceeded: (node.totalTasksSucceeded ?? 0) + succeeded,
    });
  }
  await tx.putNodes(nodes);
}

async function completeRun(tx: StoreTx, task: TaskRecord, r: TaskReport, now: Date): Promise<void> {
  const outcome: RunOutcome = {
    ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }),
    ...(r.failureInfo === undefined ? {} : { failureInfo: r.failureInfo }),
    ...(r.preProcessingError === true ? { preProcessingError: true } : {}),
    ...(r.fileUploadError === true ? { fileUploadError: true } : {}),
  };
  const started: TaskRecord = addRunUsage(
    { ...task, executionInfo: { ...task.executionInfo, startTime: r.startTime } },
    r.usage,
    now,
  );
  if (!runSucceeded(r) && hasRetryLeft(started)) {
    await tx.putTasks([retryTask(started, now, outcome)]);
    return;
  }
  const job = await tx.findJob(task.accountName, task.jobId);
  const done = finishTask(started, now, outcome, job);
  await tx.putTasks([done]);
  await settleJob(tx, done, now, outcome);
}

/** Tasks whose node left the pool: back to the queue (a recovery, not counted as a retry). */
export async function requeueNodeTasks(
  tx: StoreTx,
  account: string,
  pool: string,
  nodes: string[],
  now: Date,
) {
  const tasks = await tx.tasksOnNodes(account, pool, nodes);
  await tx.putTasks(tasks.map((t) => requeueTask(t, now)));
}

export interface HostPool {
  pool: PoolRecord;
  nodes: NodeRecord[];
}

/** Requeues, dispatches and returns the runs of every node of `host`'s pools, by node key. */
export async function dispatchTasks(
  tx: StoreTx,
  pools: HostPool[],
  now: Date,
  accountUrl: (account: string) => string,
): Promise<{ runs: Map<string, TaskAssignment[]>; nodes: NodeRecord[]; moved: number }> {
  let movedTasks = 0;
  const runs = new Map<string, TaskAssignment[]>();
  const changedNodes: NodeRecord[] = [];
  const jobs = new Map<string, JobRecord | undefined>();
  const jobOf = async (account: string, jobId: string) => {
    const k = compoundKey(account, jobId);
    if (!jobs.has(k)) jobs.set(k, await tx.findJob(account, jobId));
    return jobs.get(k);
  };
  for (const { pool, nodes } of pools) {
    const onNodes = await tx.tasksOnNodes(
      pool.accountName,
      pool.id,
      nodes.map((n) => n.id),
    );
    const byNode = new Map<string, TaskRecord[]>();
    const lost: TaskRecord[] = [];
    const usable = new Set(nodes.filter(schedulable).map((n) => n.id.toLowerCase()));
    for (const t of onNodes) {
      const node = t.assignedNode?.toLowerCase() ?? '';
      if (!usable.has(node)) lost.push(requeueTask(t, now));
      else byNode.set(node, [...(byNode.get(node) ?? []), t]);
    }
    await tx.putTasks(lost);
    const hosts: PoolNodes = {
      current: new Map(nodes.map((n) => [n.id.toLowerCase(), n])),
      dirty: new Set(),
    };
    const open = new Set(nodes.filter(claimable).map((n) => n.id.toLowerCase()));
    const claimed = await claim(tx, pool, open, hosts, byNode, jobOf, now);
    await tx.putTasks(claimed);
    movedTasks += lost.length + claimed.length;
    for (const [k, node] of hosts.current) {
      const own = byNode.get(k) ?? [];
      const busy = restingState(node, own.length);
      const moved =
        SCHEDULABLE.has(node.state) && node.state !== busy ? moveNode(node, busy, now) : undefined;
      const latest = moved ?? node;
      if (moved || hosts.dirty.has(k)) changedNodes.push(latest);
      const list: TaskAssignment[] = prepAssignments(pool, latest, accountUrl(pool.accountName));
      for (const t of own) {
        const job = await jobOf(t.accountName, t.jobId);
        list.push(taskAssignment(pool, latest, job, t, accountUrl(pool.accountName)));
      }
      runs.set(compoundKey(pool.accountName, pool.id, node.id), list);
    }
  }
  return { runs, nodes: changedNodes, moved: movedTasks };
}

/** A pool's node records as the sync changes them (job preparations added), by lower-case id. */
interface PoolNodes {
  current: Map<string, NodeRecord>;
  dirty: Set<string>;
}

/** Whether the node may take a task of `job` now (it may get a pending job preparation). */
function admits(hosts: PoolNodes, k: string, job: JobRecord | undefined): boolean {
  const node = hosts.current.get(k);
  if (!node) return false;
  const { gate, node: next } = prepGate(node, job);
  if (next !== node) {
    hosts.current.set(k, next);
    hosts.dirty.add(k);
  }
  return gate === 'ready';
}

/** Fills free slots from the head of the pool's queue; `byNode` gains the claimed tasks. */
async function claim(
  tx: StoreTx,
  pool: PoolRecord,
  usable: Set<string>,
  hosts: PoolNodes,
  byNode: Map<string, TaskRecord[]>,
  jobOf: (account: string, jobId: string) => Promise<JobRecord | undefined>,
  now: Date,
): Promise<TaskRecord[]> {
  const perNode = typeof pool.spec.taskSlotsPerNode === 'number' ? pool.spec.taskSlotsPerNode : 1;
  const free = new Map<string, number>();
  for (const k of usable) {
    const used = (byNode.get(k) ?? []).reduce((s, t) => s + t.requiredSlots, 0);
    if (perNode - used > 0) free.set(k, perNode - used);
  }
  const total = [...free.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  const pack = record(pool.spec.taskSchedulingPolicy).nodeFillType === 'pack';
  const claimed: TaskRecord[] = [];
  for (const task of await tx.queuedTasks(pool.accountName, pool.id, total)) {
    const job = await jobOf(task.accountName, task.jobId);
    const fits = [...free.entries()].filter(([, f]) => f >= task.requiredSlots);
    // spread: the node with the most free slots; pack: the fullest node that still fits.
    fits.sort((a, b) => (pack ? a[1] - b[1] : b[1] - a[1]) || a[0].localeCompare(b[0]));
    const chosen = fits.find(([k]) => admits(hosts, k, job));
    if (!chosen) continue;
    const [nodeKey, slots] = chosen;
    free.set(nodeKey, slots - task.requiredSlots);
    const node = hosts.current.get(nodeKey) as NodeRecord;
    const moved = moveTask(task, 'preparing', now) ?? task;
    const next: TaskRecord = {
      ...moved,
      attempt: task.attempt + 1,
      assignedNode: node.id,
      nodeInfo: { poolId: pool.id, nodeId: node.id },
      lastModified: now.toISOString(),
      etag: taskEtag({ ...task, attempt: task.attempt + 1 }, now),
    };
    claimed.push(next);
    byNode.set(nodeKey, [...(byNode.get(nodeKey) ?? []), next]);
  }
  return claimed;
}

/** `workitems/<job>/job-1/<task>`: where Batch puts a task's files on a Linux node. */
export const taskDirOf = (jobId: string, taskId: string): string => `workitems/${jobId}/job-1/${taskId}`;

function taskAssignment(
  pool: PoolRecord,
  node: NodeRecord,
  job: JobRecord | undefined,
  task: TaskRecord,
  accountUrl: string,
): TaskAssignment {
  const runAs = runAsOf(task.spec, pool);
  const taskDir = taskDirOf(task.jobId, task.id);
  const environment = taskRunEnvironment(pool, node, accountUrl, runAs, {
    jobId: task.jobId,
    taskId: task.id,
    taskDir,
  });
  Object.assign(environment, prepEnvironment(job));
  applyEnvironmentSettings(environment, job?.spec.commonEnvironmentSettings);
  applyEnvironmentSettings(environment, task.spec.environmentSettings);
  return {
    jobId: task.jobId,
    taskId: task.id,
    attempt: task.attempt,
    commandLine: String(task.spec.commandLine),
    environment,
    ...runFields(runAs),
    taskDir,
    ...(task.maxWallClockTimeMs === undefined ? {} : { timeoutMs: task.maxWallClockTimeMs }),
    resourceFiles: (Array.isArray(task.spec.resourceFiles)
      ? task.spec.resourceFiles
      : []) as ResourceFileSpec[],
    outputFiles: (Array.isArray(task.spec.outputFiles) ? task.spec.outputFiles : []) as OutputFileSpec[],
    ...containerOf(pool, task.spec),
  };
}

function containerOf(pool: PoolRecord, spec: Record<string, unknown>): { container?: TaskContainer } {
  const container = taskContainer(pool, spec);
  return container ? { container } : {};
}
