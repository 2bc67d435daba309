import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { constants } from 'node:os';
import { basename } from 'node:path';
import { holdEventLoop, onLines } from './child-io.ts';
import { parseUsage, type ProcessUsage } from '../port.ts';
import type { LaunchResult } from './launcher.ts';

/** Where a node's runner lives and what it joins (enter-node.c, `serve`). */
export interface RunnerPlace {
  holderPid: number;
  /** The node whose marker (`lazurite-node=<id>`) the holder must carry when the runner opens its pidfd. */
  nodeId: string;
  /** The node's `cgroup.procs` files: the runner joins them once, its runs inherit them. */
  nodeProcs: string[];
  /** The folder the runs' own cgroups are made in ('' when there are none). */
  execParent: string;
  /** The node's run journal folder ('' for none). */
  journalDir: string;
  /**
   * A VM's runner (enter-node's VM mode): its data disks as `LUN:/dev/loopN` lines (maybe none). Its processes
   * get the disks' device nodes and the VM's filter, whose mount(2) calls the waiters broker (vm-broker.h).
   */
  vmDisks?: string;
}

/** One run: paths inside the node; `cgroup` and `exitName` relative to the runner's execParent and journalDir. */
export interface RunRequest {
  /** enter-node's USER field: `0` (node root) or `UID:GID:GROUPS:NNP` (node-users.ts runUserField). */
  user: string;
  cgroup: string;
  workingDir: string;
  stdout: string;
  stderr: string;
  exitName: string;
  commandLine: string;
  environment: Record<string, string>;
  /** Bytes for the process's stdin (sent over the runner's stdin pipe, never through a file or argv). */
  stdin?: Buffer;
  /** A container run (ADR 0039): the host folder of the image's unpacked root, the run's root inside the node. */
  containerRoot?: string;
}

/** A checked process (paths inside the node) as a request: its own cgroup and exit file by name. */
export function runRequest(p: Omit<RunRequest, 'cgroup'>, cg: { own?: string }): RunRequest {
  return {
    user: p.user,
    cgroup: cg.own === undefined ? '' : basename(cg.own),
    workingDir: p.workingDir,
    stdout: p.stdout,
    stderr: p.stderr,
    exitName: p.exitName,
    commandLine: p.commandLine,
    environment: p.environment,
    ...(p.stdin === undefined ? {} : { stdin: p.stdin }),
    ...(p.containerRoot === undefined ? {} : { containerRoot: p.containerRoot }),
  };
}

interface Waiting {
  onPid: (pid: number) => void;
  stderr: string;
  usage?: ProcessUsage;
  resolve: (r: LaunchResult) => void;
}

interface Runner {
  holderPid: number;
  child: ChildProcessWithoutNullStreams;
  pending: Map<string, Waiting>;
  stderr: string;
}

/**
 * One long-lived runner per node (ADR 0018, 0020): the enter-node helper in its `serve` form, started once (a
 * spawn, the only fork of the server per node) and fed run requests (with their stdin bytes) on its stdin; it
 * answers with `<id> pid <n>`, `<id> !err <text>`, `<id> !usage <figures>` (what the run used, ADR 0031) and
 * `<id> !exit <status>` lines. A run costs one fork of the
 * small runner (the waiter, on the host side), one fork into the node and one exec; no command line or
 * environment is ever on a host argv.
 * The runner dies with its node (it is in the node's cgroups); runs waiting on it then end as the launcher's
 * would: with its exit status and what it said on stderr.
 */
export class NodeRunners {
  private readonly helper: string;
  private readonly dropCaps: string;
  private readonly path: string;
  private readonly runners = new Map<string, Runner>();
  private seq = 0;

  constructor(helper: string, dropCaps: string, path: string) {
    this.helper = helper;
    this.dropCaps = dropCaps;
    this.path = path;
  }

  /** Runs one process in the node (its runner started first if need be); resolves when it has ended. */
  run(nodeId: string, place: RunnerPlace, request: RunRequest, onPid: (pid: number) => void) {
    const fields = [
      request.user,
      request.cgroup,
      request.workingDir,
      request.stdout,
      request.stderr,
      request.exitName,
      request.commandLine,
      request.containerRoot ?? '',
      ...Object.entries(request.environment).map(([k, v]) => `${k}=${v}`),
    ];
    if (fields.some((f) => f.includes('\0')))
      throw new Error('a NUL character cannot be passed to a process');
    const runner = this.runnerFor(nodeId, place);
    const id = `r${String(++this.seq)}`;
    const payload = Buffer.from(`${[id, ...fields].join('\0')}\0`);
    const stdin = request.stdin ?? Buffer.alloc(0);
    const done = new Promise<LaunchResult>((resolve) => {
      runner.pending.set(id, { onPid, stderr: '', resolve });
    });
    this.refresh(runner);
    runner.child.stdin.write(
      Buffer.concat([Buffer.from(`${String(payload.length)} ${String(stdin.length)}\n`), payload, stdin]),
    );
    return done;
  }

  private runnerFor(nodeId: string, place: RunnerPlace): Runner {
    const known = this.runners.get(nodeId);
    if (
      known?.holderPid === place.holderPid &&
      known.child.exitCode === null &&
      known.child.signalCode === null
    )
      return known;
    if (known) this.forget(nodeId);
    const child = spawn(
      this.helper,
      [
        'serve',
        String(place.holderPid),
        place.nodeId,
        this.dropCaps,
        place.nodeProcs.join('\n'),
        place.execParent,
        place.journalDir,
        ...(place.vmDisks === undefined ? [] : [place.vmDisks]),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: this.path } },
    );
    const runner: Runner = { holderPid: place.holderPid, child, pending: new Map(), stderr: '' };
    onLines(child.stdout, (line) => {
      this.line(runner, line);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      runner.stderr = (runner.stderr + d).slice(-4096);
    });
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      if (this.runners.get(nodeId) === runner) this.runners.delete(nodeId);
      const status = code ?? 128 + (signal === null ? 0 : constants.signals[signal]);
      for (const w of runner.pending.values())
        w.resolve({ code: status, stderr: `${w.stderr}${runner.stderr}` });
      runner.pending.clear();
    });
    this.runners.set(nodeId, runner);
    return runner;
  }

  private line(runner: Runner, line: string): void {
    const space = line.indexOf(' ');
    const id = line.slice(0, space);
    const w = runner.pending.get(id);
    if (!w) return;
    const text = line.slice(space + 1);
    if (text.startsWith('!exit ')) {
      runner.pending.delete(id);
      this.refresh(runner);
      w.resolve({
        code: Number(text.slice(6)),
        stderr: w.stderr,
        ...(w.usage === undefined ? {} : { usage: w.usage }),
      });
    } else if (text.startsWith('!usage ')) {
      const usage = parseUsage(text.slice(7));
      if (usage) w.usage = usage;
    } else if (text.startsWith('!err ')) w.stderr += `${text.slice(5)}\n`;
    else if (text.startsWith('pid ')) w.onPid(Number(text.slice(4)));
  }

  /** Keeps the event loop alive only while a run waits on the runner. */
  private refresh(runner: Runner): void {
    holdEventLoop(runner.child, runner.pending.size > 0);
  }

  /** Lets the node's runner go (its stdin ends; runs still going finish without it). */
  forget(nodeId: string): void {
    const runner = this.runners.get(nodeId);
    if (!runner) return;
    this.runners.delete(nodeId);
    runner.child.stdin.end();
  }

  close(): void {
    for (const id of [...this.runners.keys()]) this.forget(id);
  }
}
