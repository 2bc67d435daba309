import { answerFileRequest } from './remote-files.ts';
import type {
  AgentLink,
  FileRequest,
  NodeAssignment,
  NodeReport,
  StartTaskAssignment,
  TaskAssignment,
  TaskReport,
} from '../protocol/agent-protocol.ts';
import { PackageInstalls } from './app-packages.ts';
import { ImagePullError } from './image-pull.ts';
import { instanceRunIds, runInstance } from './instance-runner.ts';
import { nodeFileAccess, processUser, runIdOf, runTask, type RunReport } from './task-runner.ts';
import type { NodeExecutor, NodeSpec } from './port.ts';
import { prefetchImages, type HostContainerImages } from './container-images.ts';

/** How long the end of a signal-killed run waits before it is reported (see `runReporter`). */
const SIGNALLED_RUN_GRACE_MS = 2_000;

/** A task run in progress on a node: its attempt and how to stop it. */
interface RunEntry {
  nodeId: string;
  attempt: number;
  abort: AbortController;
  coordinated?: () => void;
  /** A multi-instance run: ends only once its coordination services are gone. */
  instance?: Promise<void>;
}

export interface HostAgentOptions {
  hostId: string;
  executor: NodeExecutor;
  link: AgentLink;
  /** Node operations (hydrate/boot/start task) run at once on this host. */
  concurrency: number;
  /** How often to sync when nothing is happening. */
  pollMs: number;
  /** Shortest time between two syncs (default 50 ms). */
  minSyncGapMs?: number;
  now?: () => Date;
  onError?: (err: unknown) => void;
  /**
   * Runs this one node of the host and nothing else (a cluster scheduler's allocation, ADR 0030): syncs ask for it
   * alone, and sandboxes of other nodes on the host (other agents') are left alone.
   */
  onlyNode?: string;
  /** This host's container images (ADR 0039); without it a node whose pool prefetches images is unusable. */
  containers?: HostContainerImages;
}

/** Phases a node reaches within one generation on this host. */
type Phase = 'none' | 'started' | 'evicted';

const MAX_START_TASK_ATTEMPTS = 100;

/**
 * A host agent: syncs with the server (reports out, assignments in) and converges each assigned node with the
 * executor — level-triggered: one operation per node and generation, anything local the server no longer
 * assigns is destroyed. Runs in the server process for the embedded default, or as `lazurite agent` on
 * another machine over HTTPS; it never touches the store.
 */
export class HostAgent {
  private readonly o: HostAgentOptions;
  private readonly now: () => Date;
  private readonly reports: NodeReport[] = [];
  private readonly taskReports: TaskReport[] = [];
  /** Task runs in progress, by node and task: the attempt and how to stop it. */
  private readonly runs = new Map<string, RunEntry>();
  /** Named runs that ended here, until the server stops assigning them (then their journal is dropped). */
  private readonly ended = new Map<string, { nodeId: string; runIds: string[] }>();
  /** Per node: stopped instances still taking their coordination services down; the next run waits for them. */
  private readonly draining = new Map<string, Promise<void>>();
  private readonly phases = new Map<string, { generation: number; phase: Phase }>();
  private readonly busy = new Set<string>();
  /** Application package installs in progress on this host's nodes (ADR 0040). */
  private readonly packageInstalls = new PackageInstalls();
  private readonly queue: (() => Promise<void>)[] = [];
  private running = 0;
  private readonly jobs = new Set<Promise<void>>();
  private stopped = true;
  /** Set by `stop()`: reports made after it are dropped (the server learns of this host's runs from its next agent). */
  private stopping = false;
  private wake: (() => void) | undefined;
  private nudged = false;
  private loop: Promise<void> | undefined;
  private cleaned = false;

  constructor(options: HostAgentOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.stopping = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped = true;
    this.nudge();
    await this.loop;
  }

  private wasNudged(): boolean {
    return this.nudged;
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  /** Syncs soon (the server calls this when it has new work, and each report does). */
  nudge(): void {
    this.nudged = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.nudged = false;
      try {
        await this.syncOnce();
      } catch (err) {
        this.o.onError?.(err);
      }
      // At most one sync per `minSyncGapMs`: every sync costs the server O(nodes on this host), and a report per
      // node per step would otherwise make a large pool quadratic. The wait is a timer (a macrotask), so an
      // in-process link can never starve the server's own timers (the pool sizer runs on them).
      await new Promise((r) => setTimeout(r, this.o.minSyncGapMs ?? 50));
      if (this.isStopped()) break;
      if (this.wasNudged() || this.reports.length > 0 || this.taskReports.length > 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** One exchange with the server, then start whatever the answer asks for. */
  async syncOnce(): Promise<void> {
    const reports = this.reports.splice(0);
    const taskReports = this.taskReports.splice(0);
    let nodes: NodeAssignment[];
    let fileRequests: FileRequest[] | undefined;
    try {
      ({ nodes, fileRequests } = await this.o.link.sync({
        hostId: this.o.hostId,
        kind: this.o.executor.kind,
        reports,
        taskReports,
        ...(this.o.onlyNode === undefined ? {} : { nodeIds: [this.o.onlyNode] }),
      }));
    } catch (err) {
      this.reports.unshift(...reports);
      this.taskReports.unshift(...taskReports);
      throw err;
    }
    const assigned = new Set(nodes.map((n) => n.spec.nodeId));
    if (this.o.onlyNode !== undefined) nodes = nodes.filter((n) => n.spec.nodeId === this.o.onlyNode);
    if (!this.cleaned && this.o.onlyNode === undefined) {
      // After a restart: sandboxes left on this host that the server no longer knows are removed.
      this.cleaned = true;
      for (const id of await this.o.executor.list()) {
        if (!assigned.has(id)) this.schedule(id, () => this.o.executor.destroy(id));
      }
    }
    for (const a of nodes) this.converge(a);
    this.reconcileRuns(nodes);
    for (const r of fileRequests ?? []) this.answer(r);
  }

  /** Serves one node file read for the server (remote hosts only; in process the server reads directly). */
  private answer(r: FileRequest): void {
    const { link, executor } = this.o;
    if (!link.fileResult) return;
    void answerFileRequest(executor, r)
      .then(({ result, body }) => {
        if (!body || result.info === undefined || !link.fileBody) {
          body?.destroy();
          return link.fileResult?.(r.id, result);
        }
        return link.fileBody(r.id, result.info, body);
      })
      .catch((err: unknown) => this.o.onError?.(err));
  }

  /** Stops a run; a multi-instance one keeps later runs on its node waiting until its services are gone. */
  private stopRun(run: RunEntry): void {
    run.abort.abort();
    if (run.instance) this.drainNode(run.nodeId, run.instance);
  }

  /** Makes later runs on `nodeId` wait until `stopping` has ended (errors are the run's own, reported there). */
  private drainNode(nodeId: string, stopping: Promise<void>): void {
    const before = this.draining.get(nodeId) ?? Promise.resolve();
    const after = Promise.all([before, stopping.catch(() => undefined)]).then(() => undefined);
    this.draining.set(nodeId, after);
    void after.then(() => {
      if (this.draining.get(nodeId) === after) this.draining.delete(nodeId);
    });
  }

  /** Where a run's reports go: into the next sync, unless the run was stopped here or the agent is stopping. */
  private runReporter(a: NodeAssignment, t: TaskAssignment, abort: AbortController): (r: RunReport) => void {
    const push = (r: RunReport) => {
      if (abort.signal.aborted || this.stopping) return;
      this.taskReports.push({
        accountName: a.spec.accountName,
        poolId: a.spec.poolId,
        nodeId: a.spec.nodeId,
        jobId: t.jobId,
        taskId: t.taskId,
        attempt: t.attempt,
        ...r,
      });
      this.nudge();
    };
    return (r) => {
      // A run killed by SIGTERM/SIGKILL may have been killed along with this agent (a cluster scheduler cancelling
      // or preempting the allocation signals every process in it): its end is reported only if the agent still
      // runs a moment later, so the server requeues the task with the lost node instead of failing it.
      if (r.state === 'completed' && (r.exitCode === 143 || r.exitCode === 137)) {
        setTimeout(() => {
          push(r);
        }, SIGNALLED_RUN_GRACE_MS).unref();
        return;
      }
      push(r);
    };
  }

  /** Starts task runs the server assigns that are not running here; stops runs it no longer assigns. */
  private reconcileRuns(nodes: NodeAssignment[]): void {
    const wanted = new Set<string>();
    for (const a of nodes) {
      const id = a.spec.nodeId;
      const phase = this.phases.get(id);
      const ready = phase?.generation === a.generation && phase.phase === 'started' && !this.busy.has(id);
      for (const t of a.tasks) {
        const k = `${id}|${t.jobId}|${t.taskId}`.toLowerCase();
        wanted.add(`${k}#${String(t.attempt)}`);
        const run = this.runs.get(k);
        if (run?.attempt === t.attempt && t.instance?.allCoordinated === true) run.coordinated?.();
        // A run that ended here stays ended until the server stops assigning it (its report may be in flight).
        if (run?.attempt === t.attempt || !ready || this.ended.has(`${k}#${String(t.attempt)}`)) continue;
        if (run) this.stopRun(run);
        const abort = new AbortController();
        let coordinated: () => void = () => undefined;
        const gate = new Promise<void>((resolve) => {
          coordinated = resolve;
        });
        if (t.instance?.allCoordinated === true) coordinated();
        const entry: RunEntry = { nodeId: id, attempt: t.attempt, abort, coordinated };
        this.runs.set(k, entry);
        const report = this.runReporter(a, t, abort);
        // A stopped instance of a multi-instance task may still be taking its coordination services down on this
        // node; the next run here starts once they are gone.
        const draining = this.draining.get(id) ?? Promise.resolve();
        const running = draining.then(() =>
          t.instance === undefined
            ? runTask(
                this.o.executor,
                id,
                t,
                abort.signal,
                report,
                this.now,
                this.packageInstalls,
                this.o.containers,
              )
            : runInstance(this.o.executor, id, t, abort.signal, report, this.now, gate),
        );
        if (t.instance !== undefined) entry.instance = running;
        void running
          .catch((err: unknown) => this.o.onError?.(err))
          .finally(() => {
            if (this.runs.get(k)?.abort === abort) this.runs.delete(k);
            const runIds = t.instance === undefined ? [runIdOf(t)] : instanceRunIds(t);
            this.ended.set(`${k}#${String(t.attempt)}`, { nodeId: id, runIds });
          });
      }
    }
    for (const [k, run] of this.runs) {
      if (!wanted.has(`${k}#${String(run.attempt)}`)) {
        this.stopRun(run);
        this.runs.delete(k);
      }
    }
    for (const [k, run] of this.ended) {
      if (wanted.has(k)) continue;
      this.ended.delete(k);
      for (const runId of run.runIds)
        void this.o.executor.forgetRun?.(run.nodeId, runId).catch((err: unknown) => this.o.onError?.(err));
    }
  }

  private report(
    a: NodeAssignment,
    fields: Omit<NodeReport, 'accountName' | 'poolId' | 'nodeId' | 'generation'>,
  ): void {
    this.reports.push({
      accountName: a.spec.accountName,
      poolId: a.spec.poolId,
      nodeId: a.spec.nodeId,
      generation: a.generation,
      ...fields,
    });
    this.nudge();
  }

  private schedule(nodeId: string, work: () => Promise<void>): void {
    if (this.busy.has(nodeId)) return;
    this.busy.add(nodeId);
    this.queue.push(async () => {
      try {
        await work();
      } catch (err) {
        this.o.onError?.(err);
      } finally {
        this.busy.delete(nodeId);
        this.nudge();
      }
    });
    this.drain();
  }

  private drain(): void {
    while (this.running < this.o.concurrency && this.queue.length > 0) {
      const job = this.queue.shift();
      if (!job) break;
      this.running++;
      const p: Promise<void> = job().finally(() => {
        this.running--;
        this.jobs.delete(p);
        this.drain();
      });
      this.jobs.add(p);
    }
  }

  /** Resolves once no node operation is queued or running (lets tests wait for a sync's work without sleeping). */
  async idle(): Promise<void> {
    while (this.jobs.size > 0) await Promise.all([...this.jobs]);
  }

  private converge(a: NodeAssignment): void {
    const id = a.spec.nodeId;
    if (this.busy.has(id)) return;
    if (a.goal === 'remove' || a.state === 'leavingpool') {
      this.schedule(id, async () => {
        await this.o.executor.destroy(id);
        this.phases.delete(id);
        this.report(a, { state: 'gone' });
      });
      return;
    }
    const known = this.phases.get(id);
    if (known?.generation === a.generation && known.phase !== 'none') return;
    if (a.state === 'preempted' && a.goal !== 'reimage') {
      // Low-priority capacity taken back: the sandbox goes; the server brings the node back later (goal reimage).
      this.schedule(id, async () => {
        await this.o.executor.destroy(id);
        this.phases.set(id, { generation: a.generation, phase: 'evicted' });
      });
      return;
    }
    if (a.state === 'creating' && !a.granted) return;
    const steadyStates = ['idle', 'running', 'starttaskfailed', 'unusable', 'offline'];
    if (known === undefined && steadyStates.includes(a.state)) {
      // This agent restarted: the node already went through its start; make sure its sandbox runs again.
      this.schedule(id, async () => {
        await this.o.executor.hydrate(a.spec.image);
        await this.o.executor.boot(a.spec);
        this.phases.set(id, { generation: a.generation, phase: 'started' });
      });
      return;
    }
    this.schedule(id, () => this.bringUp(a));
  }

  /** creating/rebooting/reimaging/starting → boot → start task → idle (or starttaskfailed/unusable). */
  private async bringUp(a: NodeAssignment): Promise<void> {
    const { executor } = this.o;
    const id = a.spec.nodeId;
    try {
      if (a.state === 'reimaging' || a.state === 'preempted') await executor.destroy(id);
      if (a.state === 'rebooting') await executor.stop(id);
      await executor.hydrate(a.spec.image);
      const bootTime = this.now().toISOString();
      this.report(a, { state: 'starting', bootTime });
      await executor.boot(a.spec);
    } catch (err) {
      this.phases.set(id, { generation: a.generation, phase: 'started' });
      this.report(a, {
        state: 'unusable',
        errors: [
          err instanceof ImagePullError
            ? { code: err.code, message: err.message }
            : { code: 'NodeStartFailed', message: `The node could not start: ${String(err)}` },
        ],
      });
      return;
    }
    // The pool's containerImageNames, pulled once per host before the node takes work (ADR 0039).
    const pullFailed = await prefetchImages(this.o.containers, a.spec);
    if (pullFailed) {
      this.phases.set(id, { generation: a.generation, phase: 'started' });
      this.report(a, { state: 'unusable', errors: [pullFailed] });
      return;
    }
    this.phases.set(id, { generation: a.generation, phase: 'started' });
    const task = a.startTask;
    if (!task) {
      this.report(a, { state: 'idle' });
      return;
    }
    if (!task.waitForSuccess) {
      this.report(a, { state: 'idle' });
      await this.runStartTask(a, a.spec, task);
      return;
    }
    this.report(a, { state: 'waitingforstarttask' });
    const ok = await this.runStartTask(a, a.spec, task);
    this.report(a, { state: ok ? 'idle' : 'starttaskfailed' });
  }

  /** Installs the pool's application packages for the start task; false (and reported) when that failed. */
  private async startTaskPackages(a: NodeAssignment, task: StartTaskAssignment): Promise<boolean> {
    const packages = task.applicationPackages ?? [];
    if (packages.length === 0) return true;
    const startTime = this.now().toISOString();
    const run = { ...task, taskDir: 'startup' };
    const access = nodeFileAccess(this.o.executor, a.spec.nodeId, run, 'startup');
    const failed = await this.packageInstalls.install(a.spec.nodeId, packages, access);
    if (!failed) return true;
    const { category, code, message } = failed;
    this.report(a, {
      startTaskInfo: {
        state: 'completed',
        startTime,
        endTime: this.now().toISOString(),
        result: 'failure',
        retryCount: 0,
        failureInfo: { category, code, message },
      },
    });
    return false;
  }

  private async runStartTask(a: NodeAssignment, spec: NodeSpec, task: StartTaskAssignment): Promise<boolean> {
    if (!(await this.startTaskPackages(a, task))) return false;
    const attempts = task.maxTaskRetryCount < 0 ? MAX_START_TASK_ATTEMPTS : task.maxTaskRetryCount + 1;
    for (let retry = 0; retry < attempts; retry++) {
      const startTime = this.now().toISOString();
      this.report(a, { startTaskInfo: { state: 'running', startTime, retryCount: retry } });
      let exitCode: number;
      let failure: string | undefined;
      try {
        const r = await this.o.executor.exec(spec.nodeId, {
          commandLine: task.commandLine,
          environment: task.environment,
          elevation: task.elevation,
          ...processUser(task.user, 'startup'),
          workingDir: `${task.environment.AZ_BATCH_NODE_STARTUP_DIR ?? '/mnt/batch/tasks/startup'}/wd`,
          stdoutFile: 'startup/stdout.txt',
          stderrFile: 'startup/stderr.txt',
        });
        exitCode = r.exitCode;
      } catch (err) {
        exitCode = -1;
        failure = String(err);
      }
      const ok = exitCode === 0;
      if (ok || retry === attempts - 1) {
        this.report(a, {
          startTaskInfo: {
            state: 'completed',
            startTime,
            endTime: this.now().toISOString(),
            exitCode,
            result: ok ? 'success' : 'failure',
            retryCount: retry,
            ...(ok
              ? {}
              : {
                  failureInfo: {
                    category: failure === undefined ? 'usererror' : 'servererror',
                    code: failure === undefined ? 'FailureExitCode' : 'CommandLaunchFailed',
                    message:
                      failure ??
                      `The task process exited with an unexpected exit code (${String(exitCode)}).`,
                  },
                }),
          },
        });
        return ok;
      }
    }
    return false;
  }
}
