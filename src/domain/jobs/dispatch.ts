import type {
  PackageReferenceSpec,
  TaskAssignment,
  TaskContainer,
  TaskReport,
} from '../../protocol/agent-protocol.ts';
import { taskContainer } from './container-settings.ts';
import type { OutputFileSpec, ResourceFileSpec } from '../../backends/task-files.ts';
import { compoundKey } from '../../storage/keys.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { JobRecord, NodeRecord, PoolRecord, SubtaskRecord, TaskRecord } from '../../storage/records.ts';
import { moveNode } from '../pools/node-states.ts';
import { applyEnvironmentSettings, runFields, taskRunEnvironment } from '../pools/start-task.ts';
import { runAsOf } from '../pools/user-accounts.ts';
import { applyPrepReport, prepAssignments, prepEnvironment, prepGate } from './job-prep.ts';
import {
  applyInstanceReport,
  endInstances,
  instanceAssignment,
  instancesOnNodes,
  multiInstanceOf,
  newInstances,
  pickInstanceNodes,
  type HeldInstance,
} from './multi-instance.ts';
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
    if (!task || task.attempt !== r.attempt) continue;
    if (task.state !== 'preparing' && task.state !== 'running') continue;
    if (r.instance !== undefined) {
      changed = true;
      const failed = await applyInstanceReport(tx, task, r, now);
      if (failed)
        await completeRun(
          tx,
          task,
          { ...failed, startTime: task.executionInfo.startTime ?? failed.startTime },
          now,
        );
      continue;
    }
    if (task.assignedNode?.toLowerCase() !== r.nodeId.toLowerCase()) continue;
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
  if (multiInstanceOf(task)) await endInstances(tx, task, now);
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
    const { byNode, lost, requeued, held } = await loadPool(tx, pool, nodes, onNodes, now);
    const hosts: PoolNodes = {
      current: new Map(nodes.map((n) => [n.id.toLowerCase(), n])),
      dirty: new Set(),
    };
    const open = new Set(nodes.filter(claimable).map((n) => n.id.toLowerCase()));
    const claimed = await claim(tx, pool, open, hosts, { byNode, held }, jobOf, now);
    await tx.putTasks(claimed);
    movedTasks += lost.length + requeued.size + claimed.length;
    const instancesOf = memoInstances(tx);
    for (const [k, node] of hosts.current) {
      const own = byNode.get(k) ?? [];
      const subtasks = held.get(k) ?? [];
      const busy = restingState(node, own.length + subtasks.length);
      const moved =
        SCHEDULABLE.has(node.state) && node.state !== busy ? moveNode(node, busy, now) : undefined;
      const latest = moved ?? node;
      if (moved || hosts.dirty.has(k)) changedNodes.push(latest);
      const list: TaskAssignment[] = prepAssignments(pool, latest, accountUrl(pool.accountName));
      for (const t of own) {
        const job = await jobOf(t.accountName, t.jobId);
        const base = taskAssignment(pool, latest, job, t, accountUrl(pool.accountName));
        const settings = multiInstanceOf(t);
        list.push(settings ? instanceAssignment(base, settings, 0, await instancesOf(t)) : base);
      }
      for (const { task, instance } of subtasks) {
        const job = await jobOf(task.accountName, task.jobId);
        const base = taskAssignment(pool, latest, job, task, accountUrl(pool.accountName));
        const settings = multiInstanceOf(task);
        if (settings) list.push(instanceAssignment(base, settings, instance.id, await instancesOf(task)));
      }
      runs.set(compoundKey(pool.accountName, pool.id, node.id), list);
    }
  }
  return { runs, nodes: changedNodes, moved: movedTasks };
}

/**
 * What holds a pool's nodes on this host, after requeueing the tasks of nodes that can no longer run them (`lost`)
 * and the multi-instance tasks whose subtask lost its node (`requeued`, ids): tasks by node and subtasks by node.
 */
async function loadPool(
  tx: StoreTx,
  pool: PoolRecord,
  nodes: NodeRecord[],
  onNodes: TaskRecord[],
  now: Date,
): Promise<PoolLoad & { lost: TaskRecord[]; requeued: Set<string> }> {
  const byNode = new Map<string, TaskRecord[]>();
  const lost: TaskRecord[] = [];
  const usable = new Set(nodes.filter(schedulable).map((n) => n.id.toLowerCase()));
  for (const t of onNodes) {
    const node = t.assignedNode?.toLowerCase() ?? '';
    if (!usable.has(node)) lost.push(requeueTask(t, now));
    else byNode.set(node, [...(byNode.get(node) ?? []), t]);
  }
  await tx.putTasks(lost);
  for (const t of lost) if (multiInstanceOf(t)) await endInstances(tx, t, now);
  // A multi-instance task whose subtask lost its node goes back to the queue whole.
  const requeued = new Set<string>();
  const held = await instancesOnNodes(
    tx,
    pool,
    nodes.map((n) => n.id),
    usable,
    now,
    (t) => {
      requeued.add(compoundKey(t.accountName, t.jobId, t.id));
      return requeueTask(t, now);
    },
  );
  for (const [k, own] of byNode)
    byNode.set(
      k,
      own.filter((t) => !requeued.has(compoundKey(t.accountName, t.jobId, t.id))),
    );
  return { byNode, held, lost, requeued };
}

/** A task's instances, read once per sync. */
function memoInstances(tx: StoreTx): (task: TaskRecord) => Promise<SubtaskRecord[]> {
  const seen = new Map<string, Promise<SubtaskRecord[]>>();
  return (task) => {
    const k = compoundKey(task.accountName, task.jobId, task.id);
    const found = seen.get(k) ?? tx.findSubtasks(task.accountName, task.jobId, task.id);
    seen.set(k, found);
    return found;
  };
}

/** What holds a pool's nodes: tasks (their own or a multi-instance task's primary) and subtasks. */
interface PoolLoad {
  byNode: Map<string, TaskRecord[]>;
  held: Map<string, HeldInstance[]>;
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
  load: PoolLoad,
  jobOf: (account: string, jobId: string) => Promise<JobRecord | undefined>,
  now: Date,
): Promise<TaskRecord[]> {
  const { byNode } = load;
  const perNode = typeof pool.spec.taskSlotsPerNode === 'number' ? pool.spec.taskSlotsPerNode : 1;
  const free = new Map<string, number>();
  for (const k of usable) {
    const used =
      (byNode.get(k) ?? []).reduce((s, t) => s + t.requiredSlots, 0) + (load.held.get(k) ?? []).length;
    if (perNode - used > 0) free.set(k, perNode - used);
  }
  const total = [...free.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return [];
  const pack = record(pool.spec.taskSchedulingPolicy).nodeFillType === 'pack';
  const claimed: TaskRecord[] = [];
  for (const task of await tx.queuedTasks(pool.accountName, pool.id, total)) {
    const job = await jobOf(task.accountName, task.jobId);
    const settings = multiInstanceOf(task);
    if (settings) {
      const picked = pickInstanceNodes(pool, settings, free, (k) => admits(hosts, k, job));
      if (picked) claimed.push(await claimInstances(tx, task, picked, hosts, load, free, now));
      continue;
    }
    const fits = [...free.entries()].filter(([, f]) => f >= task.requiredSlots);
    // spread: the node with the most free slots; pack: the fullest node that still fits.
    fits.sort((a, b) => (pack ? a[1] - b[1] : b[1] - a[1]) || a[0].localeCompare(b[0]));
    const chosen = fits.find(([k]) => admits(hosts, k, job));
    if (!chosen) continue;
    const [nodeKey, slots] = chosen;
    free.set(nodeKey, slots - task.requiredSlots);
    const node = hosts.current.get(nodeKey) as NodeRecord;
    const next = dispatched(task, node, now);
    claimed.push(next);
    byNode.set(nodeKey, [...(byNode.get(nodeKey) ?? []), next]);
  }
  return claimed;
}

/** The task handed to `node` (its primary's node for a multi-instance task), as a new run. */
function dispatched(task: TaskRecord, node: NodeRecord, now: Date): TaskRecord {
  const moved = moveTask(task, 'preparing', now) ?? task;
  return {
    ...moved,
    attempt: task.attempt + 1,
    assignedNode: node.id,
    nodeInfo: { poolId: node.poolId, nodeId: node.id },
    lastModified: now.toISOString(),
    etag: taskEtag({ ...task, attempt: task.attempt + 1 }, now),
  };
}

/** A multi-instance task takes `picked` (primary first): its run and instances are recorded together. */
async function claimInstances(
  tx: StoreTx,
  task: TaskRecord,
  picked: string[],
  hosts: PoolNodes,
  load: PoolLoad,
  free: Map<string, number>,
  now: Date,
): Promise<TaskRecord> {
  const nodes = picked.map((k) => hosts.current.get(k) as NodeRecord);
  const next = dispatched(task, nodes[0] as NodeRecord, now);
  const instances = newInstances(next, nodes, now);
  await tx.putSubtasks(task.accountName, task.jobId, task.id, instances);
  for (const [i, k] of picked.entries()) {
    free.set(k, (free.get(k) ?? 1) - 1);
    const instance = instances[i] as SubtaskRecord;
    if (i === 0) load.byNode.set(k, [...(load.byNode.get(k) ?? []), next]);
    else load.held.set(k, [...(load.held.get(k) ?? []), { task: next, instance }]);
  }
  return next;
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
    ...packageReferencesOf(pool, task),
    ...containerOf(pool, task.spec),
  };
}

/** The pool's references, then the task's: the server resolves them before the run goes to its host. */
function packageReferencesOf(
  pool: PoolRecord,
  task: TaskRecord,
): { packageReferences?: PackageReferenceSpec[] } {
  const refs = [pool.spec.applicationPackageReferences, task.spec.applicationPackageReferences].flatMap(
    (v) => (Array.isArray(v) ? (v as PackageReferenceSpec[]) : []),
  );
  return refs.length === 0 ? {} : { packageReferences: refs };
}

function containerOf(pool: PoolRecord, spec: Record<string, unknown>): { container?: TaskContainer } {
  const container = taskContainer(pool, spec);
  return container ? { container } : {};
}
