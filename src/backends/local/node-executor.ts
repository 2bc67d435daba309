import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import type { RegionStores } from '../../content/regions.ts';
import { checkNodeId, cleanNodePath } from '../node-paths.ts';
import {
  NODE_ROOT_DIR,
  type NodeExecutor,
  type NodeFileInfo,
  type NodeFileRange,
  type NodeImage,
  type NodeSpec,
  type ProcessResult,
  type ProcessSpec,
} from '../port.ts';
import { NodeCgroups } from './cgroups.ts';
import { ImageCache } from './image-cache.ts';
import { DROPPED_CAP_NUMBERS, enterNodeHelper } from './enter-node.ts';
import { Launcher } from './launcher.ts';
import { HolderStarter } from './node-holder.ts';
import { nodeUpHelper } from './node-up.ts';
import { nodeNetHelper, NodeNetworks } from './node-network.ts';
import { NodeRunners, runRequest, type RunnerPlace } from './node-runner.ts';
import { cgroupAlive, RunJournal } from './run-journal.ts';
import { planDisks } from './node-disks.ts';
import { listNodeFiles, readNodeFile } from './node-files.ts';
import { prepareImage, prepareNode, type PreparedImage } from './node-prepare.ts';
import { BOOT_MARKER, DEFAULT_PATH, execCommand, HOLDER_MARKER } from './node-sandbox.ts';

/*
 * Batch compute nodes as sandboxes on this host (design; the scripts are in node-sandbox.ts):
 * - Disk: `<dataDir>/nodes/<nodeId>/` holds the overlay `upper/` (the node's OS disk: everything it wrote),
 *   `work/` (the root goes on `<dataDir>/cache/node-root`, in the node's namespace only), `disks/lun<N>/{upper,work}`
 *   per data disk with a file system, and `holder.pid`. Lowers are shared per host (ImageCache): the image's
 *   unpacked root, and each data disk loop-mounted read-only once.
 * - Running: a long-lived holder per node (node-up.c or unshare: mount, PID, UTS, IPC namespaces) is PID 1 of the
 *   node; everything runs by `nsenter`ing it. Its host PID is in holder.pid and its argv carries
 *   `lazurite-node=<nodeId>`, so after a server crash `boot` adopts a live holder instead of starting a
 *   second one over the same upper (which the kernel forbids). stop = SIGKILL the holder: the kernel kills the
 *   whole PID namespace with it, then whatever is left in the node's cgroups (host-side wrappers) is killed;
 *   the mounts go with the last process.
 * - Exec: with the enter-node helper, each node has a long-lived runner (node-runner.ts, ADR 0018): the helper's
 *   `serve` form, in the node's cgroups and namespaces, forks a waiter per run that joins the run's own pids
 *   cgroup and then does what the one-run helper does after entering the node. Runs with stdin bytes (file
 *   writes), or all with LAZURITE_NODE_RUNNER=0, use the one-run helper (enter-node.c, ADR 0013): a subshell of
 *   the launcher starts it; it joins the node's memory and cpu cgroups and a per-exec pids cgroup (reused by the node's next exec once empty), enters
 *   the node, makes the folders and output files, forks (as root, or uid 1000 without capabilities and with
 *   no_new_privs) and execs `/bin/sh -c commandLine`, then records the status for a named run. Without the helper:
 *   the launcher's script shell joins the cgroups, then `env --default-signal` → `setpriv` (bounding set) →
 *   `nsenter` → the image's /bin/sh prelude (folders, output files, environment) → `/bin/sh -c commandLine`.
 *   A timeout SIGKILLs every process in the exec's cgroup (setsid and double forks included).
 *   Host processes never see the task's environment.
 * - Files: read on the host from the node's upper (node-files.ts), never through the node's own view.
 * Processes start through one small long-lived shell (launcher.ts) or the node's runner, not by forking the server
 * (a runner is spawned once per node). Per boot: one node-up process that forks the node's PID 1 (ADR 0017; the
 * shell fallback: eight short-lived forks); per exec through the runner: two forks
 * (waiter, process) and one exec; with the one-run helper: two forks and one exec on the host, one fork and exec
 * in the node.
 */

export interface LocalNodeExecutorOptions {
  dataDir: string;
  regions: RegionStores;
  /** Share the VM host's cache (one unpack per manifest per process); made if not given. */
  cache?: ImageCache;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A host tool's absolute path (the host side never searches a task's PATH). */
function hostTool(name: string): string {
  for (const dir of DEFAULT_PATH.split(':')) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next
    }
  }
  throw new Error(`${name} is not installed (util-linux, coreutils)`);
}

/** `env --default-signal=INT,QUIT` (coreutils 8.31+) if this host has it; without it tasks ignore SIGINT. */
function signalReset(): string[] {
  const env = hostTool('env');
  const probe = spawnSync(env, ['--default-signal=INT,QUIT', 'true'], { stdio: 'ignore' });
  return probe.status === 0 ? [env, '--default-signal=INT,QUIT'] : [];
}

/** Reads a process's argv; undefined when it is gone (or a zombie: its namespaces are already released). */
async function argvOf(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return undefined;
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  } catch {
    return undefined;
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function waitGone(pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await argvOf(pid)) !== undefined) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not exit`);
    await sleep(5);
  }
}

/** A process spec as the exec script takes it: paths inside the node, the environment complete and checked. */
function checkProcess(p: ProcessSpec) {
  const workingDir = posix.normalize(p.workingDir).replace(/(.)\/+$/, '$1');
  if (!workingDir.startsWith('/') || workingDir.split('/').includes('..') || workingDir.includes('\0'))
    throw new Error(`invalid working directory '${p.workingDir}'`);
  const file = (f: string) => {
    const clean = cleanNodePath(f);
    if (clean === '') throw new Error(`invalid output file '${f}'`);
    return `${NODE_ROOT_DIR}/${clean}`;
  };
  const environment = { ...p.environment };
  if (!('PATH' in environment)) environment.PATH = DEFAULT_PATH;
  const bad = Object.keys(environment).find((k) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k));
  if (bad !== undefined) throw new Error(`environment variable name '${bad}' is not supported`);
  return {
    nonadmin: p.elevation === 'nonadmin',
    workingDir,
    stdout: file(p.stdoutFile),
    stderr: file(p.stderrFile),
    commandLine: p.commandLine,
    environment,
  };
}

export class LocalNodeExecutor implements NodeExecutor {
  readonly kind = 'local';
  private readonly dataDir: string;
  private readonly nodesDir: string;
  private readonly cache: ImageCache;
  private readonly cgroups = new NodeCgroups();
  private readonly tools = {
    setpriv: hostTool('setpriv'),
    nsenter: hostTool('nsenter'),
    resetSignals: signalReset(),
    enterNode: undefined as string | undefined,
    dropCaps: DROPPED_CAP_NUMBERS,
  };
  private readonly launcher: Launcher;
  /** Long-lived per-node runners (with the helper; LAZURITE_NODE_RUNNER=0 starts each run on its own). */
  private readonly runners: NodeRunners | undefined;
  private readonly journal: RunJournal;
  /** Holders this executor started or adopted: node id → host PID. */
  private readonly holders = new Map<string, number>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly images = new Map<string, Promise<PreparedImage>>();
  private readonly holderStarter: HolderStarter;
  /** Bridges, NAT and each node's eth0 (ADR 0021). */
  private readonly networks: NodeNetworks;
  /** The mount point every node's root goes on, each in its own mount namespace. */
  private nodeRoot: Promise<string> | undefined;

  constructor(options: LocalNodeExecutorOptions) {
    if (/[\s,:\\]/.test(options.dataDir))
      throw new Error(
        'the data dir path must not contain spaces, commas, colons or backslashes (overlay options)',
      );
    this.dataDir = options.dataDir;
    this.nodesDir = join(options.dataDir, 'nodes');
    this.cache = options.cache ?? new ImageCache(options.dataDir, options.regions);
    this.launcher = new Launcher(join(options.dataDir, 'run'), DEFAULT_PATH);
    this.journal = new RunJournal(options.dataDir);
    this.tools.enterNode = enterNodeHelper(options.dataDir);
    const cache = join(options.dataDir, 'cache');
    this.holderStarter = new HolderStarter(this.launcher, cache, nodeUpHelper(options.dataDir));
    this.networks = new NodeNetworks(this.launcher, nodeNetHelper(options.dataDir), options.dataDir);
    this.runners =
      this.tools.enterNode === undefined || process.env.LAZURITE_NODE_RUNNER === '0'
        ? undefined
        : new NodeRunners(this.tools.enterNode, DROPPED_CAP_NUMBERS, DEFAULT_PATH);
  }

  private dir(nodeId: string): string {
    checkNodeId(nodeId);
    return join(this.nodesDir, nodeId);
  }

  /** boot, stop and destroy of one node run one after another. */
  private serial<T>(nodeId: string, work: () => Promise<T>): Promise<T> {
    const next = (this.locks.get(nodeId) ?? Promise.resolve()).then(work, work);
    const tail = next.catch(() => undefined);
    this.locks.set(nodeId, tail);
    void tail.then(() => {
      if (this.locks.get(nodeId) === tail) this.locks.delete(nodeId);
    });
    return next;
  }

  private hydrated(image: NodeImage): Promise<PreparedImage> {
    const key = JSON.stringify([image.osManifest, image.dataDisks]);
    let p = this.images.get(key);
    if (!p) {
      p = (async () => {
        const lower = await this.cache.rootfs(image.region, image.osManifest);
        const disks = await Promise.all(
          image.dataDisks.map(async (d) => ({
            lun: d.lun,
            fs: await this.cache.mountedDisk(image.region, d.manifest),
          })),
        );
        return prepareImage(lower, await planDisks(lower, disks), join(this.dataDir, 'cache', 'node-layers'));
      })();
      this.images.set(key, p);
      p.catch(() => this.images.delete(key));
    }
    return p;
  }

  async hydrate(image: NodeImage): Promise<void> {
    await this.hydrated(image);
  }

  /** The node's running holder (verified by its marker), if any. */
  private async liveHolder(nodeId: string): Promise<number | undefined> {
    let pid = this.holders.get(nodeId);
    if (pid === undefined) {
      const text = await readFile(join(this.dir(nodeId), 'holder.pid'), 'utf8').catch(() => '');
      pid = Number(text.trim()) || undefined;
    }
    if (pid === undefined) return undefined;
    const argv = await argvOf(pid);
    if (argv?.includes(`${HOLDER_MARKER}${nodeId}`)) return pid;
    const halfway = (a: string) =>
      a === `${BOOT_MARKER}${nodeId}` || a.includes(`${HOLDER_MARKER}${nodeId}'`);
    if (argv?.some(halfway)) {
      // A holder caught half-way through its set-up by a crash: it must not share the upper with a new one.
      process.kill(pid, 'SIGKILL');
      await waitGone(pid);
    }
    this.holders.delete(nodeId);
    return undefined;
  }

  boot(node: NodeSpec): Promise<void> {
    return this.serial(node.nodeId, async () => {
      const dir = this.dir(node.nodeId);
      if (!/^[\w.-]{1,64}$/.test(node.hostname)) throw new Error(`invalid hostname '${node.hostname}'`);
      const running = await this.liveHolder(node.nodeId);
      if (running !== undefined) {
        this.holders.set(node.nodeId, running);
        if (node.network) await this.networks.ensure(node.nodeId, running, node.network);
        return;
      }
      const image = await this.hydrated(node.image);
      this.nodeRoot ??= (async () => {
        const at = join(this.dataDir, 'cache', 'node-root');
        await mkdir(at, { recursive: true });
        return at;
      })();
      const spec = await prepareNode(node, dir, image, await this.nodeRoot);
      const procs = await this.cgroups.create(node.nodeId, node.size);
      // The node's network is made while its holder mounts (node-net waits for the holder's own namespace).
      const net = node.network;
      let attached: Promise<void> | undefined;
      const onPid = (pid: number) => {
        if (net) (attached = this.networks.attach(node.nodeId, pid, net)).catch(() => undefined);
      };
      const pid = await this.holderStarter.start(spec, procs, onPid).catch(async (err: unknown) => {
        await attached?.catch(() => undefined);
        throw err;
      });
      this.holders.set(node.nodeId, pid);
      if (net)
        await (attached ?? this.networks.attach(node.nodeId, pid, net)).catch(async (err: unknown) => {
          await this.stopNow(node.nodeId);
          throw err;
        });
    });
  }

  async exec(nodeId: string, p: ProcessSpec): Promise<ProcessResult> {
    const holderPid = this.holders.get(nodeId) ?? (await this.liveHolder(nodeId));
    if (holderPid === undefined) throw new Error(`node ${nodeId} is not running`);
    this.holders.set(nodeId, holderPid);
    const checked = checkProcess(p);
    if (p.runId !== undefined) {
      const prior = await this.journal.state(nodeId, p.runId);
      if (prior?.kind === 'started') {
        const attached = await this.attach(nodeId, p.runId, prior.cgroup, p);
        if (attached) return attached;
      } else if (prior?.kind === 'ended') return { exitCode: prior.exitCode, timedOut: false };
    }
    const stdinFile = p.stdin === undefined ? undefined : await this.stage(p.stdin);
    const cg = await this.cgroups.forExec(nodeId);
    const journal = p.runId === undefined ? undefined : await this.journal.files(nodeId, p.runId);
    if (p.runId !== undefined) await this.journal.recordStart(nodeId, p.runId, cg.own ?? '');
    const spec = {
      ...checked,
      exitName: journal === undefined ? '' : basename(journal.exit),
      holderPid,
      cgroupProcs: cg.procs,
      tools: this.tools,
      ...(stdinFile ? { stdinFile } : {}),
      ...(journal ? { exitFile: journal.exit } : {}),
    };
    const state = { wrapper: undefined as number | undefined, ended: '', killing: Promise.resolve() };
    const end = (why: 'timeout' | 'killed') => {
      if (state.ended !== '') return;
      state.ended = why;
      // The exec's own cgroup holds everything it started; without one, at least its host side dies.
      if (cg.own === undefined && state.wrapper !== undefined) kill(state.wrapper);
      state.killing = this.cgroups.killExec(cg).catch(() => undefined);
    };
    const timer =
      p.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            end('timeout');
          }, p.timeoutMs);
    const onAbort = () => {
      end('killed');
    };
    if (p.signal?.aborted === true) onAbort();
    p.signal?.addEventListener('abort', onAbort);
    try {
      const onPid = (pid: number) => {
        state.wrapper ??= pid || undefined;
        if (state.ended !== '' && state.wrapper !== undefined && cg.own === undefined) kill(state.wrapper);
      };
      const r =
        this.runners !== undefined && stdinFile === undefined
          ? await this.runners.run(nodeId, this.runnerPlace(nodeId, holderPid), runRequest(spec, cg), onPid)
          : await this.launcher.run(
              (id) => execCommand(spec, id),
              (text) => {
                onPid(Number(/^pid (\d+)$/.exec(text)?.[1]));
                return false;
              },
              this.tools.enterNode !== undefined,
            );
      clearTimeout(timer);
      await state.killing;
      const exitCode = r.code ?? 1;
      if (state.ended !== '')
        return {
          exitCode: exitCode === 0 ? 137 : exitCode,
          timedOut: state.ended === 'timeout',
          killed: state.ended === 'killed',
        };
      if (exitCode !== 0 && r.stderr.trim() !== '') {
        if ((await argvOf(holderPid)) === undefined) this.holders.delete(nodeId);
        throw new Error(`exec on node ${nodeId} failed (exit ${exitCode}): ${r.stderr.trim()}`);
      }
      return { exitCode, timedOut: false };
    } finally {
      clearTimeout(timer);
      p.signal?.removeEventListener('abort', onAbort);
      await this.cgroups.releaseExec(nodeId, cg, state.ended === '');
      if (stdinFile !== undefined) await rm(stdinFile, { force: true });
    }
  }

  /** Where the node's runner lives: its holder, its cgroups, its journal folder. */
  private runnerPlace(nodeId: string, holderPid: number): RunnerPlace {
    return { holderPid, ...this.cgroups.runnerPlace(nodeId), journalDir: this.journal.nodeDir(nodeId) };
  }

  /**
   * Waits for a named run a previous server started (it kept running in the node): its status once its wrapper
   * records it; undefined when it vanished without one (then it runs again). The timeout counts from now.
   */
  private async attach(
    nodeId: string,
    runId: string,
    cgroup: string,
    p: ProcessSpec,
  ): Promise<ProcessResult | undefined> {
    const deadline = p.timeoutMs === undefined ? Infinity : Date.now() + p.timeoutMs;
    for (;;) {
      // Liveness first: the wrapper writes the status before it leaves the cgroup, so a status read after the
      // cgroup emptied is final (read the other way round, a run ending in between would look lost).
      const alive = await cgroupAlive(cgroup);
      const state = await this.journal.state(nodeId, runId);
      if (state?.kind === 'ended') return { exitCode: state.exitCode, timedOut: false };
      if (!alive) return undefined;
      const over = Date.now() >= deadline;
      if (over || p.signal?.aborted === true) {
        await this.cgroups.killExec({ procs: [], own: cgroup });
        return { exitCode: 137, timedOut: over, killed: !over };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Puts stdin bytes in the launcher's private folder (0700, on /dev/shm when there is one). */
  private async stage(content: Buffer): Promise<string> {
    const file = join(await this.launcher.folder(), `stdin-${randomUUID()}`);
    await writeFile(file, content, { mode: 0o600 });
    return file;
  }

  stop(nodeId: string): Promise<void> {
    return this.serial(nodeId, () => this.stopNow(nodeId));
  }

  private async stopNow(nodeId: string): Promise<void> {
    const pid = await this.liveHolder(nodeId);
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await waitGone(pid);
    }
    // What is left: the holder's unshare parent, host-side exec wrappers and nsenters (which hold the mount
    // namespace while they live), and any process that escaped into them.
    await this.cgroups.killNode(nodeId);
    await this.networks.detach(nodeId);
    this.runners?.forget(nodeId);
    this.holders.delete(nodeId);
    await rm(join(this.dir(nodeId), 'holder.pid'), { force: true });
  }

  destroy(nodeId: string): Promise<void> {
    return this.serial(nodeId, async () => {
      await this.stopNow(nodeId);
      await this.cgroups.remove(nodeId);
      await rm(this.dir(nodeId), { recursive: true, force: true });
      await this.journal.forgetNode(nodeId);
    });
  }

  forgetRun(nodeId: string, runId: string): Promise<void> {
    return this.journal.forget(nodeId, runId);
  }

  async list(): Promise<string[]> {
    if (!existsSync(this.nodesDir)) return [];
    const entries = await readdir(this.nodesDir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  listFiles(nodeId: string, dir: string, recursive: boolean): Promise<NodeFileInfo[]> {
    return Promise.resolve().then(() => listNodeFiles(join(this.dir(nodeId), 'upper'), dir, recursive));
  }

  readFile(
    nodeId: string,
    path: string,
    range?: NodeFileRange,
  ): Promise<{ content: Buffer; info: NodeFileInfo }> {
    return Promise.resolve().then(() => readNodeFile(join(this.dir(nodeId), 'upper'), path, range));
  }

  /**
   * Stops every holder of this data dir (those this executor started or adopted, those being booted right now —
   * their stop queues behind the boot — and any a crashed predecessor left that was not adopted yet); disks stay.
   */
  async close(): Promise<void> {
    const ids = new Set([...this.holders.keys(), ...this.locks.keys(), ...(await this.list())]);
    await Promise.all([...ids].map((id) => this.stop(id)));
    // With every holder gone nothing uses the host's read-only data disk mounts: detach them too.
    await this.detachDiskCaches();
    await this.networks.close();
    this.runners?.close();
    await this.launcher.close();
  }

  /** The node's memory cgroup limit in bytes (undefined without a memory controller). */
  memoryLimit(nodeId: string): Promise<number | undefined> {
    checkNodeId(nodeId);
    return this.cgroups.memoryLimit(nodeId);
  }

  /** Unmounts this host's read-only data disk mounts (nodes that still use one keep it until they stop). */
  async detachDiskCaches(): Promise<void> {
    this.images.clear();
    await this.cache.detachDisks();
  }
}
