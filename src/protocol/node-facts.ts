/**
 * What host agents report about nodes and runs, declared once with no imports (ADR 0036): the agent protocol
 * carries them, the backend port measures `ProcessUsage`, and the store's records keep them as they came
 * (`NodeState`, `TaskUsageRecord`, `StartTaskInfoRecord`). No imports, so browser code that reads records (the
 * portal's planner) type-checks without Node's types.
 */

/**
 * What a process and the descendants it waited for used (ADR 0031): CPU time from wait4's rusage, I/O from the
 * process's /proc/PID/io taken just before it was reaped (rchar/wchar: bytes through read and write calls,
 * syscr/syscw: the calls).
 */
export interface ProcessUsage {
  userCpuMicros: number;
  kernelCpuMicros: number;
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
}

/**
 * A completed run's figures: the command's CPU time and I/O as its executor measured them (zero when the command
 * never ran, and on the simulated backend, where nothing runs) and the run's wall-clock time on the agent's clock
 * (from its start, resource file downloads included, to its report).
 */
export interface RunUsage extends ProcessUsage {
  wallClockMs: number;
}

/** The server's node states an agent acts on. */
export type AssignedState =
  | 'creating'
  | 'starting'
  | 'waitingforstarttask'
  | 'idle'
  | 'running'
  | 'starttaskfailed'
  | 'rebooting'
  | 'reimaging'
  | 'leavingpool'
  | 'unusable'
  | 'preempted'
  | 'offline'
  | 'unknown';

export interface StartTaskReport {
  state: 'running' | 'completed';
  startTime: string;
  endTime?: string;
  exitCode?: number;
  result?: 'success' | 'failure';
  retryCount: number;
  failureInfo?: { category: 'usererror' | 'servererror'; code: string; message: string };
}
