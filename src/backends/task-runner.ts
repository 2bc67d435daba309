import type { RunUser, TaskAssignment, TaskReport } from '../protocol/agent-protocol.ts';
import { readWhole } from './file-read.ts';
import { containerFailure, type HostContainerImages } from './container-images.ts';
import {
  NODE_ROOT_DIR,
  type NodeExecutor,
  type ProcessResult,
  type ProcessUsage,
  type ProcessUser,
} from './port.ts';
import { PackageInstalls } from './app-packages.ts';
import { downloadResourceFiles, uploadOutputFiles, type NodeFileAccess } from './task-files.ts';

type Failure = NonNullable<TaskReport['failureInfo']>;
export type RunReport = Omit<
  TaskReport,
  'accountName' | 'poolId' | 'nodeId' | 'jobId' | 'taskId' | 'attempt'
>;

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** A run's user as an exec wants it: a task-scope user is named by the run (`key`), so all its execs share it. */
export function processUser(user: RunUser | undefined, key: string): { user?: ProcessUser } {
  if (user === undefined) return {};
  return { user: user.kind === 'task' ? { kind: 'task', key } : user };
}

/**
 * A node's files as the resource and output file transfer sees them. Writes run inside the node as the task's
 * user (`cat` with the bytes on stdin), so a link the node planted cannot send them anywhere else.
 */
export function nodeFileAccess(
  executor: NodeExecutor,
  nodeId: string,
  t: Pick<TaskAssignment, 'environment' | 'elevation' | 'user' | 'taskDir'>,
  runId: string,
): NodeFileAccess {
  return {
    async writeFile(path, content, mode) {
      const target = `${NODE_ROOT_DIR}/${path}`;
      const chmod = mode === undefined ? '' : `; s=$?; chmod ${mode.toString(8)} ${shq(target)}; exit $s`;
      const r = await executor.exec(nodeId, {
        commandLine: `cat${chmod}`,
        environment: { PATH: t.environment.PATH ?? '/usr/bin:/bin' },
        elevation: t.elevation,
        ...processUser(t.user, runId),
        workingDir: `${NODE_ROOT_DIR}/${t.taskDir}/wd`,
        stdoutFile: path,
        stderrFile: `${t.taskDir}/stderr.txt`,
        stdin: content,
      });
      if (r.exitCode !== 0)
        throw new Error(`writing ${path} on the node failed (exit ${String(r.exitCode)})`);
    },
    listFiles: (dir, recursive) => executor.listFiles(nodeId, dir, recursive),
    readFile: async (path) => (await readWhole(executor, nodeId, path)).content,
  };
}

const NOTHING_RAN: ProcessUsage = {
  userCpuMicros: 0,
  kernelCpuMicros: 0,
  readBytes: 0,
  writeBytes: 0,
  readOps: 0,
  writeOps: 0,
};

/** A task run's name on its node: the same after a restart, different for every dispatch. */
export const runIdOf = (t: TaskAssignment): string => `${t.jobId}/${t.taskId}/${String(t.attempt)}`;

function exitFailure(r: ProcessResult, t: TaskAssignment): Failure | undefined {
  if (r.timedOut)
    return {
      category: 'usererror',
      code: 'TaskEnded',
      message: `The task ran longer than its maximum wall clock time (${String((t.timeoutMs ?? 0) / 1000)} s) and was terminated.`,
    };
  if (r.exitCode !== 0)
    return {
      category: 'usererror',
      code: 'FailureExitCode',
      message: 'The task exited with an exit code representing a failure',
      details: [{ name: 'Message', value: `The task exited with exit code ${String(r.exitCode)}` }],
    };
  return undefined;
}

/**
 * One run of a task on a node: fetch its resource files, run its command line in the task's working folder
 * (stdout.txt and stderr.txt beside it, as Batch lays them out), upload its output files, and say how it ended.
 * A run whose signal aborts (the server no longer assigns it) is killed and reports nothing more.
 */
export async function runTask(
  executor: NodeExecutor,
  nodeId: string,
  t: TaskAssignment,
  signal: AbortSignal,
  report: (r: RunReport) => void,
  now: () => Date,
  packages: PackageInstalls = new PackageInstalls(),
  containers?: HostContainerImages,
): Promise<void> {
  const aborted = () => signal.aborted;
  const started = now();
  const startTime = started.toISOString();
  const usage = (measured: ProcessUsage = NOTHING_RAN) => ({
    usage: { ...measured, wallClockMs: Math.max(0, now().getTime() - started.getTime()) },
  });
  report({ state: 'running', startTime });
  if (t.user?.kind === 'account' && t.user.uid === 0) {
    // The server found no such account in the node's pool (the job moved to another pool): nothing runs.
    const message = `The task's user '${t.user.name}' is not one of the pool's user accounts.`;
    report({
      state: 'completed',
      startTime,
      failureInfo: { category: 'usererror', code: 'CommandLaunchFailed', message },
    });
    return;
  }
  const run = await containerRun(containers, t);
  if (aborted()) return;
  if ('failureInfo' in run) {
    report({ state: 'completed', startTime, failureInfo: run.failureInfo, ...usage() });
    return;
  }
  const access = nodeFileAccess(executor, nodeId, t, runIdOf(t));
  const pre =
    (await packages.install(nodeId, t.applicationPackages ?? [], access)) ??
    (await downloadResourceFiles(t.resourceFiles, `${t.taskDir}/wd`, access));
  if (aborted()) return;
  if (pre) {
    report({ state: 'completed', startTime, failureInfo: pre, preProcessingError: true, ...usage() });
    return;
  }
  let result: ProcessResult;
  try {
    result = await executor.exec(nodeId, {
      commandLine: t.commandLine,
      environment: run.environment,
      elevation: t.elevation,
      ...processUser(t.user, runIdOf(t)),
      workingDir: run.workingDir,
      ...(run.container ? { container: run.container } : {}),
      stdoutFile: `${t.taskDir}/stdout.txt`,
      stderrFile: `${t.taskDir}/stderr.txt`,
      signal,
      runId: runIdOf(t),
      ...(t.timeoutMs === undefined ? {} : { timeoutMs: t.timeoutMs }),
    });
  } catch (err) {
    if (aborted()) return;
    const failureInfo: Failure = {
      category: 'servererror',
      code: 'CommandLaunchFailed',
      message: String(err),
    };
    report({ state: 'completed', startTime, failureInfo, ...usage() });
    return;
  }
  if (aborted() || result.killed === true) return;
  const failure = exitFailure(result, t);
  const upload = await uploadOutputFiles(t.outputFiles, failure ? 'failure' : 'success', t.taskDir, access);
  const failureInfo = upload ?? failure;
  report({
    state: 'completed',
    startTime,
    exitCode: result.exitCode,
    ...(failureInfo ? { failureInfo } : {}),
    ...(upload ? { fileUploadError: true } : {}),
    ...usage(result.usage),
  });
}

interface RunPlace {
  environment: Record<string, string>;
  workingDir: string;
  container?: { region: string; filesystem: string };
}

/**
 * Where and how a task runs: in the node as before, or in its container (ADR 0039): the image pulled (or checked
 * with its registry) on this host first, its environment under the task's and the run options' `--env`, its
 * working directory the task's folder, the image's (`containerImageDefault`) or `--workdir`. A pull that fails is
 * the task's failureInfo with Batch's container code.
 */
async function containerRun(
  containers: HostContainerImages | undefined,
  t: TaskAssignment,
): Promise<RunPlace | { failureInfo: Failure }> {
  const taskWd = `${NODE_ROOT_DIR}/${t.taskDir}/wd`;
  const c = t.container;
  if (c === undefined) return { environment: t.environment, workingDir: taskWd };
  if (containers === undefined)
    return {
      failureInfo: {
        category: 'servererror',
        ...containerFailure(c.imageName, new Error('this host has no image store')),
      },
    };
  try {
    const image = await containers.ensure(c.imageName, c.registries, c.region);
    const imageEnv: Record<string, string> = {};
    for (const kv of image.config.env) {
      const eq = kv.indexOf('=');
      if (eq > 0) imageEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    const imageWd = c.imageWorkingDir ? image.config.workingDir || '/' : taskWd;
    return {
      // The image's variables (its PATH above all) over the node's and the task's, --env over both.
      environment: { ...t.environment, ...imageEnv, ...c.env },
      workingDir: c.workdir ?? imageWd,
      container: { region: c.region, filesystem: image.filesystem },
    };
  } catch (err) {
    return { failureInfo: { category: 'usererror', ...containerFailure(c.imageName, err) } };
  }
}
