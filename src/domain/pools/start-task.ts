import type { StartTaskAssignment } from '../../protocol/agent-protocol.ts';
import { NODE_ROOT_DIR } from '../../backends/port.ts';
import type { NodeRecord, PoolRecord } from '../../storage/records.ts';
import { runAsOf, type RunAs } from './user-accounts.ts';

const ROOT = NODE_ROOT_DIR;

/** The AZ_BATCH_* variables Batch sets for a node's start task (Linux layout under /mnt/batch/tasks). */
export function startTaskEnvironment(
  pool: PoolRecord,
  node: NodeRecord,
  accountUrl: string,
  runAs: RunAs,
): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: `${ROOT}/startup/wd`,
    AZ_BATCH_ACCOUNT_NAME: pool.accountName,
    AZ_BATCH_ACCOUNT_URL: accountUrl,
    AZ_BATCH_POOL_ID: pool.id,
    AZ_BATCH_NODE_ID: node.id,
    AZ_BATCH_NODE_IS_DEDICATED: node.isDedicated ? 'true' : 'false',
    AZ_BATCH_NODE_ROOT_DIR: ROOT,
    AZ_BATCH_NODE_SHARED_DIR: `${ROOT}/shared`,
    AZ_BATCH_NODE_STARTUP_DIR: `${ROOT}/startup`,
    AZ_BATCH_NODE_STARTUP_WORKING_DIR: `${ROOT}/startup/wd`,
    AZ_BATCH_NODE_MOUNTS_DIR: `${ROOT}/fsmounts`,
    AZ_BATCH_TASK_DIR: `${ROOT}/startup`,
    AZ_BATCH_TASK_WORKING_DIR: `${ROOT}/startup/wd`,
    AZ_BATCH_CERTIFICATES_DIR: `${ROOT}/startup/certs`,
    AZ_BATCH_TASK_USER: runAs.envUser,
    AZ_BATCH_TASK_USER_IDENTITY: runAs.envIdentity,
  };
}

/** A JSON object value, or an empty one for anything else (wire bodies are loosely typed). */
export const record = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** A run's elevation and user as an assignment carries them. */
export function runFields(runAs: RunAs): Pick<StartTaskAssignment, 'elevation' | 'user'> {
  return { elevation: runAs.elevation, ...(runAs.user === undefined ? {} : { user: runAs.user }) };
}

/**
 * The AZ_BATCH_* variables of a run of a job's task — a task, or the job's preparation or release — whose folder
 * is `taskDir` (relative to the node root dir): the node's variables with the task's own folders.
 */
export function taskRunEnvironment(
  pool: PoolRecord,
  node: NodeRecord,
  accountUrl: string,
  runAs: RunAs,
  run: { jobId: string; taskId: string; taskDir: string },
): Record<string, string> {
  const dir = `${ROOT}/${run.taskDir}`;
  return {
    ...startTaskEnvironment(pool, node, accountUrl, runAs),
    HOME: `${dir}/wd`,
    AZ_BATCH_JOB_ID: run.jobId,
    AZ_BATCH_TASK_ID: run.taskId,
    AZ_BATCH_TASK_DIR: dir,
    AZ_BATCH_TASK_WORKING_DIR: `${dir}/wd`,
  };
}

/** Adds Batch `environmentSettings` (`[{name, value}]`) to an environment; later settings win. */
export function applyEnvironmentSettings(target: Record<string, string>, list: unknown): void {
  for (const s of (Array.isArray(list) ? (list as unknown[]) : []).map(record)) {
    if (typeof s.name === 'string') target[s.name] = typeof s.value === 'string' ? s.value : '';
  }
}

/** The start task a host agent runs on `node`, or undefined when the pool has none. */
export function startTaskAssignment(
  pool: PoolRecord,
  node: NodeRecord,
  accountUrl: string,
): StartTaskAssignment | undefined {
  const task = record(pool.spec.startTask);
  if (typeof task.commandLine !== 'string') return undefined;
  const runAs = runAsOf(task, pool);
  const environment = startTaskEnvironment(pool, node, accountUrl, runAs);
  applyEnvironmentSettings(environment, task.environmentSettings);
  return {
    commandLine: task.commandLine,
    environment,
    ...runFields(runAs),
    waitForSuccess: task.waitForSuccess !== false,
    maxTaskRetryCount: typeof task.maxTaskRetryCount === 'number' ? task.maxTaskRetryCount : 0,
  };
}
