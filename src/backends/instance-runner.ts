import type { InstanceAssignment, TaskAssignment } from '../protocol/agent-protocol.ts';
import { readWhole } from './file-read.ts';
import { NODE_ROOT_DIR, type NodeExecutor, type ProcessResult } from './port.ts';
import { downloadResourceFiles } from './task-files.ts';
import { nodeFileAccess, processUser, runIdOf, runTask, type RunReport } from './task-runner.ts';

/**
 * One instance of a multi-instance task on its node (ADR 0038). The common resource files go to the task's
 * folder (AZ_BATCH_TASK_SHARED_DIR); the coordination command line runs inside a wrapper that records its exit
 * code and then stays, so whatever it started in the background (an MPI daemon, sshd) lives in the wrapper's
 * process tree until the instance is stopped, and dies with it. The primary then waits until every instance is
 * coordinated and runs the task's command line as an ordinary run; a subtask waits until the server stops
 * assigning it (the primary ended).
 */

const POLL_MS = 100;
const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The named runs an instance's assignment starts on its node (the agent forgets them once it is over). */
export function instanceRunIds(t: TaskAssignment): string[] {
  const coordination = coordinationRunId(t);
  return t.instance?.id === 0 ? [runIdOf(t), coordination] : [coordination];
}

const coordinationRunId = (t: TaskAssignment) => `${runIdOf(t)}/i${String(t.instance?.id ?? 0)}/coordination`;
const markerOf = (t: TaskAssignment) => `${t.taskDir}/coordination-exit.txt`;

/** Read through a call, so a check after an await is not narrowed away. */
const isAborted = (signal: AbortSignal): boolean => signal.aborted;

const whenAborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
  });

/**
 * Starts the coordination wrapper; `exitCode` resolves with the coordination command's exit code once the wrapper
 * recorded it (or the wrapper's own code when it ended first: a simulated node, a wrapper killed), `done` when the
 * wrapper is gone.
 */
function startCoordination(
  executor: NodeExecutor,
  nodeId: string,
  t: TaskAssignment,
  instance: InstanceAssignment,
  signal: AbortSignal,
): { exitCode: Promise<number>; done: Promise<ProcessResult | undefined> } {
  const marker = markerOf(t);
  const wrapper = [
    `(`,
    instance.coordinationCommandLine,
    `)`,
    `echo "${String(t.attempt)} $?" > ${shq(`${NODE_ROOT_DIR}/${marker}`)}`,
    `while :; do sleep 3600; done`,
  ].join('\n');
  const done = executor
    .exec(nodeId, {
      commandLine: wrapper,
      environment: t.environment,
      elevation: t.elevation,
      ...processUser(t.user, runIdOf(t)),
      workingDir: `${NODE_ROOT_DIR}/${t.taskDir}/wd`,
      stdoutFile: `${t.taskDir}/coordination-stdout.txt`,
      stderrFile: `${t.taskDir}/coordination-stderr.txt`,
      signal,
      runId: coordinationRunId(t),
    })
    .catch(() => undefined);
  const exitCode = (async () => {
    const wrapperState: { over: boolean; result?: ProcessResult } = { over: false };
    void done.then((r) => {
      wrapperState.over = true;
      if (r) wrapperState.result = r;
    });
    for (;;) {
      const recorded = await readWhole(executor, nodeId, marker).then(
        (r) => r.content.toString('utf8'),
        () => '',
      );
      // `<attempt> <exit code>`: a marker an earlier run of the task left in the same folder is not this run's.
      const [attempt, code] = recorded.trim().split(' ');
      if (recorded.endsWith('\n') && attempt === String(t.attempt)) return Number.parseInt(code ?? '1', 10);
      if (wrapperState.over) return wrapperState.result?.exitCode ?? 1;
      if (isAborted(signal)) return 137;
      await Promise.race([new Promise((r) => setTimeout(r, POLL_MS)), done]);
    }
  })();
  return { exitCode, done };
}

/** Runs one instance; `coordinated` resolves when the server says every instance is coordinated (primary). */
export async function runInstance(
  executor: NodeExecutor,
  nodeId: string,
  t: TaskAssignment,
  signal: AbortSignal,
  report: (r: RunReport) => void,
  now: () => Date,
  coordinated: Promise<void>,
): Promise<void> {
  const instance = t.instance as InstanceAssignment;
  const tag = instance.id === 0 ? {} : { instance: instance.id };
  const startTime = now().toISOString();
  report({ state: 'running', startTime, ...tag });
  const pre = await downloadResourceFiles(
    instance.commonResourceFiles,
    instance.sharedDir,
    nodeFileAccess(executor, nodeId, t, runIdOf(t)),
  );
  if (isAborted(signal)) return;
  if (pre) {
    report({ state: 'completed', startTime, failureInfo: pre, preProcessingError: true, ...tag });
    return;
  }
  const stop = new AbortController();
  const stopAll = () => {
    stop.abort();
  };
  signal.addEventListener('abort', stopAll, { once: true });
  const coordination = startCoordination(executor, nodeId, t, instance, stop.signal);
  try {
    const exitCode = await coordination.exitCode;
    if (isAborted(signal)) return;
    if (exitCode !== 0) {
      const message = `The coordination command line exited with exit code ${String(exitCode)}`;
      report({
        state: 'completed',
        startTime,
        exitCode,
        failureInfo: { category: 'usererror', code: 'FailureExitCode', message },
        ...tag,
      });
      return;
    }
    report({ state: 'running', startTime, instance: instance.id, coordinationExitCode: 0 });
    if (instance.id !== 0) {
      await whenAborted(signal);
      return;
    }
    await Promise.race([coordinated, whenAborted(signal)]);
    if (isAborted(signal)) return;
    const main: TaskAssignment = { ...t };
    delete main.instance;
    let finished: RunReport | undefined;
    await runTask(
      executor,
      nodeId,
      main,
      signal,
      (r) => {
        if (r.state === 'completed') finished = r;
      },
      now,
    );
    // The task completes once the coordination wrapper and what it started are gone: the server frees the node
    // on this report, and the next task must not meet this one's services (ports, files) still running.
    stop.abort();
    await coordination.done;
    if (finished) report(finished);
  } finally {
    signal.removeEventListener('abort', stopAll);
    stop.abort();
    await coordination.done;
  }
}
