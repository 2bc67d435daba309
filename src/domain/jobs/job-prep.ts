import type { PackageReferenceSpec, TaskAssignment, TaskReport } from '../../protocol/agent-protocol.ts';
import type { ResourceFileSpec } from '../../backends/task-files.ts';
import { caseKey } from '../../storage/keys.ts';
import type { StoreTx } from '../../storage/port.ts';
import type {
  JobPrepRecord,
  JobRecord,
  NodeRecord,
  PoolRecord,
  PrepRunRecord,
} from '../../storage/records.ts';
import { NODE_ROOT_DIR } from '../../backends/port.ts';
import { applyEnvironmentSettings, runFields, taskRunEnvironment } from '../pools/start-task.ts';
import { runAsOf } from '../pools/user-accounts.ts';
import { constraintsOf, durationOf, record } from './spec.ts';
import { runSucceeded } from './task-outcome.ts';

/**
 * Job preparation and release tasks, per node: the preparation runs on a node before the first task of its job
 * there (tasks of the job wait for it; if it fails for good, the node takes no tasks of that job), the release runs
 * on every node that prepared once the job is terminated or deleted. Both are recorded on the node record and run
 * by the host agent like tasks (internal task ids `$prep` / `$release`, which no Batch task id can take).
 */

export const PREP_ID = '$prep';
export const RELEASE_ID = '$release';
export const prepDirOf = (jobId: string, kind: 'preparation' | 'release') =>
  `workitems/${jobId}/job-1/${kind === 'preparation' ? 'jobpreparation' : 'jobrelease'}`;

/** The node's preparations without the one of `jobId`. */
const without = (preps: Record<string, JobPrepRecord>, jobId: string): Record<string, JobPrepRecord> =>
  Object.fromEntries(Object.entries(preps).filter(([k]) => k !== caseKey(jobId)));

const pending = (): PrepRunRecord => ({ state: 'pending', attempt: 1, retryCount: 0 });

export type PrepGate = 'ready' | 'wait' | 'never';

/**
 * Whether `node` may run tasks of `job` now. A node that has not prepared for the job gets a pending preparation
 * (the returned node carries it; the caller stores it) and waits.
 */
export function prepGate(node: NodeRecord, job: JobRecord | undefined): { gate: PrepGate; node: NodeRecord } {
  const task = record(job?.spec.jobPreparationTask);
  if (!job || typeof task.commandLine !== 'string') return { gate: 'ready', node };
  const existing = node.jobPreps?.[caseKey(job.id)];
  if (!existing) {
    const prep: JobPrepRecord = {
      jobId: job.id,
      preparationTask: task,
      ...(job.spec.jobReleaseTask === undefined ? {} : { releaseTask: record(job.spec.jobReleaseTask) }),
      ...(Array.isArray(job.spec.commonEnvironmentSettings)
        ? { environmentSettings: job.spec.commonEnvironmentSettings }
        : {}),
      preparation: pending(),
    };
    const next = { ...node, jobPreps: { ...node.jobPreps, [caseKey(job.id)]: prep } };
    return { gate: task.waitForSuccess === false ? 'ready' : 'wait', node: next };
  }
  const p = existing.preparation;
  if (task.waitForSuccess === false) return { gate: 'ready', node };
  if (p.state !== 'completed') return { gate: 'wait', node };
  return { gate: p.result === 'success' ? 'ready' : 'never', node };
}

const prepDirs = (jobId: string): Record<string, string> => {
  const dir = `${NODE_ROOT_DIR}/${prepDirOf(jobId, 'preparation')}`;
  return { AZ_BATCH_JOB_PREP_DIR: dir, AZ_BATCH_JOB_PREP_WORKING_DIR: `${dir}/wd` };
};

/** The AZ_BATCH_JOB_PREP_* variables tasks of a job with a preparation task get. */
export function prepEnvironment(job: JobRecord | undefined): Record<string, string> {
  return !job || job.spec.jobPreparationTask === undefined ? {} : prepDirs(job.id);
}

function runAssignment(
  pool: PoolRecord,
  node: NodeRecord,
  prep: JobPrepRecord,
  kind: 'preparation' | 'release',
  accountUrl: string,
): TaskAssignment {
  const task = kind === 'preparation' ? prep.preparationTask : (prep.releaseTask ?? {});
  const run = (kind === 'preparation' ? prep.preparation : prep.release) as PrepRunRecord;
  const runAs = runAsOf(task, pool);
  const taskDir = prepDirOf(prep.jobId, kind);
  const environment = {
    ...taskRunEnvironment(pool, node, accountUrl, runAs, {
      jobId: prep.jobId,
      taskId: kind === 'preparation' ? 'jobpreparation' : 'jobrelease',
      taskDir,
    }),
    ...prepDirs(prep.jobId),
  };
  applyEnvironmentSettings(environment, prep.environmentSettings);
  applyEnvironmentSettings(environment, task.environmentSettings);
  // JobPreparationTask has constraints; JobReleaseTask its own maxWallClockTime, 15 minutes by default.
  const limitMs =
    kind === 'preparation'
      ? constraintsOf(task).maxWallClockTimeMs
      : (durationOf(task.maxWallClockTime, 'jobReleaseTask.maxWallClockTime') ?? 15 * 60_000);
  return {
    jobId: prep.jobId,
    taskId: kind === 'preparation' ? PREP_ID : RELEASE_ID,
    attempt: run.attempt,
    commandLine: String(task.commandLine),
    environment,
    ...runFields(runAs),
    taskDir,
    ...(limitMs === undefined ? {} : { timeoutMs: limitMs }),
    resourceFiles: (Array.isArray(task.resourceFiles) ? task.resourceFiles : []) as ResourceFileSpec[],
    outputFiles: [],
    // The pool's application packages reach these runs too (their own specs have no references; ADR 0040).
    ...(Array.isArray(pool.spec.applicationPackageReferences) &&
    pool.spec.applicationPackageReferences.length > 0
      ? { packageReferences: pool.spec.applicationPackageReferences as PackageReferenceSpec[] }
      : {}),
  };
}

/** The preparation and release runs a node should be doing now. */
export function prepAssignments(pool: PoolRecord, node: NodeRecord, accountUrl: string): TaskAssignment[] {
  const out: TaskAssignment[] = [];
  for (const prep of Object.values(node.jobPreps ?? {})) {
    if (prep.preparation.state !== 'completed')
      out.push(runAssignment(pool, node, prep, 'preparation', accountUrl));
    else if (prep.release && prep.release.state !== 'completed')
      out.push(runAssignment(pool, node, prep, 'release', accountUrl));
  }
  return out;
}

/** Applies a node's report of a preparation or release run; true when it was one. */
export async function applyPrepReport(tx: StoreTx, r: TaskReport, now: Date): Promise<boolean> {
  if (r.taskId !== PREP_ID && r.taskId !== RELEASE_ID) return false;
  const node = await tx.findNode(r.accountName, r.poolId, r.nodeId);
  const prep = node?.jobPreps?.[caseKey(r.jobId)];
  const kind = r.taskId === PREP_ID ? 'preparation' : 'release';
  const run = prep?.[kind];
  if (!node || !prep || !run || run.attempt !== r.attempt || run.state === 'completed') return true;
  let next: PrepRunRecord = { ...run, state: 'running', startTime: r.startTime };
  if (r.state === 'completed') {
    const ok = runSucceeded(r);
    const retries = kind === 'preparation' ? (constraintsOf(prep.preparationTask).maxTaskRetryCount ?? 0) : 0;
    next =
      !ok && (retries < 0 || run.retryCount < retries)
        ? {
            state: 'pending',
            attempt: run.attempt + 1,
            retryCount: run.retryCount + 1,
            lastRetryTime: now.toISOString(),
          }
        : {
            ...next,
            state: 'completed',
            endTime: now.toISOString(),
            result: ok ? 'success' : 'failure',
            ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }),
            ...(r.failureInfo === undefined ? {} : { failureInfo: r.failureInfo }),
          };
  }
  const preps = { ...node.jobPreps, [caseKey(r.jobId)]: { ...prep, [kind]: next } };
  // A released job that no longer exists leaves nothing behind on the node.
  const gone =
    kind === 'release' && next.state === 'completed' && !(await tx.findJob(r.accountName, r.jobId));
  await tx.putNodes([{ ...node, jobPreps: gone ? without(preps, r.jobId) : preps }]);
  return true;
}

/**
 * The job ended (terminated or deleted): every node that prepared for it runs the release task. Without one, a
 * deleted job's records go at once; a terminated job keeps them for its status list.
 */
export async function releaseJob(tx: StoreTx, job: JobRecord, deleted: boolean): Promise<void> {
  const changed: NodeRecord[] = [];
  for (const node of await tx.listNodes(job.accountName, job.poolId)) {
    const prep = node.jobPreps?.[caseKey(job.id)];
    if (!prep) continue;
    const preps = node.jobPreps ?? {};
    if (!prep.releaseTask || prep.preparation.state === 'pending') {
      if (deleted) changed.push({ ...node, jobPreps: without(preps, job.id) });
    } else if (!prep.release)
      changed.push({ ...node, jobPreps: { ...preps, [caseKey(job.id)]: { ...prep, release: pending() } } });
  }
  await tx.putNodes(changed);
}
