import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import type { RegionStores } from '../../content/regions.ts';
import { checkNodeId, cleanNodePath } from '../node-paths.ts';
import {
  NODE_ROOT_DIR,
  type NodeExecutor,
  type NodeFileInfo,
  type NodeFileRange,
  type NodeFileRead,
  type NodeImage,
  type NodeSpec,
  type NodeUserAccount,
  type ProcessResult,
  type ProcessSpec,
  type ProcessUsage,
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
import { NodeIdRanges } from './node-ids.ts';
import { nodeDiskHelper, NodeOwnDisks } from './node-own-disk.ts';
import type { LoginPlace } from './node-logins.ts';
import { deleteNodeFile, listNodeFiles, readNodeFile, statNodeFile } from './node-files.ts';
import { prepareImage, prepareNode, type PreparedImage } from './node-prepare.ts';
import { BOOT_MARKER, DEFAULT_PATH, HOLDER_MARKER } from './node-sandbox.ts';
import { runUserField } from './node-users.ts';
import { TaskUsers } from './task-users.ts';
import { NODE_IDS, taskUserName } from '../node-user-ids.ts';

/*
 * Batch compute nodes as sandboxes on this host (design; ADR 0017, 0018, 0020):
 * - Disk: `<dataDir>/nodes/<nodeId>/` (the mount point of the node's own disk, a sparse ext4 image of its size's
 *   temporary disk, node-own-disk.ts, ADR 0025) holds the overlay `upper/` (the node's OS disk: everything it wrote),
 *   `work/` (the root goes on `<dataDir>/cache/node-root`, in the node's namespace only), `disks/lun<N>/{upper,work}`
 *   per data disk with a file system, and `holder.pid`. Lowers are shared per host (ImageCache): the image's
 *   unpacked root, and each data disk loop-mounted read-only once.
 * - Isolation (ADR 0020): a long-lived holder per node (node-up.c, the only way: compiled on first use, a missing
 *   compiler is an error) is PID 1 of the node's mount, PID, UTS, IPC, network (lo only) and cgroup namespaces,
 *   all made by host root, and of the node's own user namespace, made last: node id k is host id base + k (a
 *   65536-id slot per node on the host, `<node>/idmap`, node-ids.ts), so node root holds capabilities only over
 *   that user namespace and cannot mount, change the network or hostname, write /proc/sys or load modules. The
 *   overlay layers are idmapped mounts (disks keep unshifted ids: the host reads and writes node files by path as
 *   before). A seccomp filter (node-seccomp.h: no new user namespaces, kexec, modules, keys, bpf, handles, swap,
 *   reboot, acct) is in PID 1 and every process; the node's cgroups limit memory, CPU, pids (from the size) and
 *   devices.
 * - Running: the holder's host PID is in holder.pid and its argv carries
 *   `lazurite-node=<nodeId>`, so after a server crash `boot` adopts a live holder instead of starting a
 *   second one over the same upper (which the kernel forbids). stop = SIGKILL the holder: the kernel kills the
 *   whole PID namespace with it, then whatever is left in the node's cgroups (the runner and its waiters) is
 *   killed; the mounts go with the last process.
 * - Exec: every process starts through the node's runner (node-runner.ts, enter-node.c `serve`), a host-side
 *   process in the node's cgroups that holds a pidfd of the holder (checked by its marker when opened). Per run it
 *   forks a waiter (host side: joins the run's own pids cgroup, keeps the journal) that forks the process into
 *   the node; the process keeps nothing of the host but its stdin and a report pipe, joins the node's namespaces
 *   through the pidfd, makes its folders and output files, becomes the run's user unless admin (ADR 0026: the
 *   pool auto-user 1000, a task-scope user, a pool account; no capabilities, no_new_privs but for an admin
 *   account) and execs `/bin/sh -c commandLine`. The command line, the environment and stdin
 *   bytes travel over the runner's stdin pipe, never on a host argv or in a host file. A timeout SIGKILLs
 *   every process in the exec's cgroup (setsid and double forks included).
 * - Files: read on the host from the node's upper (node-files.ts), never through the node's own view.
 * Holders start through one small long-lived shell (launcher.ts), not by forking the server; runners are spawned
 * once per node. Per boot: one node-up process that forks a short-lived helper (the idmap user namespace) and
 * the node's PID 1; per exec: two forks of the runner
 * (waiter, process) and one exec.
 */

export interface LocalNodeExecutorOptions {
  dataDir: string;
  regions: RegionStores;
  /** Share the VM host's cache (one unpack per manifest per process); made if not given. */
  cache?: ImageCache;
  /** Caps every node's own disk (MiB; `--node-disk-mb`); unset, a node's disk is its size's temporary disk. */
  nodeDiskMB?: number | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/**
 * A run's figures with, on cgroup v2, the CPU time of its own cgroup (ADR 0031): that counts every process the run
 * started, orphans a shell left to the node's init included, so it is never below wait4's and replaces it.
 */
function withCgroupCpu(
  usage: ProcessUsage | undefined,
  before: { userMicros: number; kernelMicros: number } | undefined,
  after: { userMicros: number; kernelMicros: number } | undefined,
): ProcessUsage | undefined {
  if (!usage || !before || !after) return usage;
  return {
    ...usage,
    userCpuMicros: Math.max(usage.userCpuMicros, after.userMicros - before.userMicros),
    kernelCpuMicros: Math.max(usage.kernelCpuMicros, after.kernelMicros - before.kernelMicros),
  };
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
  private readonly launcher: Launcher;
  /** Long-lived per-node runners: every process in a node starts through its node's runner. */
  private readonly runners: NodeRunners;
  /** The compiled helpers this executor uses (built when it is made; see compileHelper). */
  readonly helpers: { enterNode: string; nodeUp: string };
  private readonly journal: RunJournal;
  /** Holders this executor started or adopted: node id → host PID. */
  private readonly holders = new Map<string, number>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly images = new Map<string, Promise<PreparedImage>>();
  private readonly holderStarter: HolderStarter;
  /** The mount points every node's root and layers go on, each in its own mount namespace. */
  private mountPoints: Promise<{ merged: string; layerAt: string }> | undefined;
  private readonly idRanges: NodeIdRanges;
  /** The task-scope auto-users of each node (ADR 0026). */
  private readonly taskUsers: TaskUsers;
  /** Bridges, NAT and each node's eth0 (ADR 0021). */
  private readonly networks: NodeNetworks;
  /** Each node's own disk, mounted over its folder (ADR 0025). */
  private readonly ownDisks: NodeOwnDisks;

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
    this.idRanges = new NodeIdRanges(this.nodesDir);
    this.ownDisks = new NodeOwnDisks({
      nodesDir: this.nodesDir,
      imagesDir: join(options.dataDir, 'node-disks'),
      helper: nodeDiskHelper(options.dataDir),
      capMB: options.nodeDiskMB,
    });
    this.taskUsers = new TaskUsers(this.nodesDir);
    this.helpers = { enterNode: enterNodeHelper(options.dataDir), nodeUp: nodeUpHelper(options.dataDir) };
    this.holderStarter = new HolderStarter(this.launcher, this.helpers.nodeUp);
    this.runners = new NodeRunners(this.helpers.enterNode, DROPPED_CAP_NUMBERS, DEFAULT_PATH);
    this.networks = new NodeNetworks(this.launcher, nodeNetHelper(options.dataDir), options.dataDir);
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

  private hydrated(image: NodeImage, accounts: NodeUserAccount[] = []): Promise<PreparedImage> {
    const key = JSON.stringify([image.osManifest, image.dataDisks, accounts]);
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
        const layers = join(this.dataDir, 'cache', 'node-layers');
        return prepareImage(lower, await planDisks(lower, disks), layers, accounts);
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
    if (argv?.includes(`${BOOT_MARKER}${nodeId}`)) {
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
      const image = await this.hydrated(node.image, node.userAccounts);
      await this.ownDisks.attach(node.nodeId, node.size);
      await this.taskUsers.reset(node.nodeId);
      this.mountPoints ??= (async () => {
        const at = {
          merged: join(this.dataDir, 'cache', 'node-root'),
          layerAt: join(this.dataDir, 'cache', 'node-layers-at'),
        };
        await mkdir(at.merged, { recursive: true });
        await mkdir(at.layerAt, { recursive: true });
        return at;
      })();
      const spec = await prepareNode(node, dir, image, await this.mountPoints, (id) =>
        this.idRanges.baseFor(id),
      );
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

  /** A container run's root: its image unpacked once on this host (ADR 0039). */
  private async containerRoot(p: ProcessSpec): Promise<string | undefined> {
    if (p.container === undefined) return undefined;
    return this.cache.rootfs(p.container.region, p.container.filesystem);
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
      } else if (prior?.kind === 'ended')
        return { exitCode: prior.exitCode, timedOut: false, ...(prior.usage ? { usage: prior.usage } : {}) };
    }
    const user = await this.runUser(nodeId, p, checked.environment);
    const cg = await this.cgroups.forExec(nodeId);
    const cpuBefore = this.cgroups.execCpu(cg);
    const journal = p.runId === undefined ? undefined : await this.journal.files(nodeId, p.runId);
    if (p.runId !== undefined) await this.journal.recordStart(nodeId, p.runId, cg.own ?? '');
    const containerRoot = await this.containerRoot(p);
    const spec = {
      ...checked,
      user,
      exitName: journal === undefined ? '' : basename(journal.exit),
      ...(p.stdin === undefined ? {} : { stdin: p.stdin }),
      ...(containerRoot === undefined ? {} : { containerRoot }),
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
      const r = await this.runners.run(
        nodeId,
        this.runnerPlace(nodeId, holderPid),
        runRequest(spec, cg),
        onPid,
      );
      clearTimeout(timer);
      await state.killing;
      const exitCode = r.code ?? 1;
      const measured = withCgroupCpu(r.usage, cpuBefore, this.cgroups.execCpu(cg));
      const usage = measured === undefined ? {} : { usage: measured };
      if (state.ended !== '')
        return {
          exitCode: exitCode === 0 ? 137 : exitCode,
          timedOut: state.ended === 'timeout',
          killed: state.ended === 'killed',
          ...usage,
        };
      if (exitCode !== 0 && r.stderr.trim() !== '') {
        if ((await argvOf(holderPid)) === undefined) this.holders.delete(nodeId);
        throw new Error(`exec on node ${nodeId} failed (exit ${exitCode}): ${r.stderr.trim()}`);
      }
      return { exitCode, timedOut: false, ...usage };
    } finally {
      clearTimeout(timer);
      p.signal?.removeEventListener('abort', onAbort);
      await this.cgroups.releaseExec(nodeId, cg, state.ended === '');
    }
  }

  /**
   * Where a remote-login session enters the node (ADR 0027): the helper, the node's running holder and its
   * cgroups; undefined when the node is not running here.
   */
  async loginPlace(nodeId: string): Promise<LoginPlace | undefined> {
    const holderPid = this.holders.get(nodeId) ?? (await this.liveHolder(nodeId));
    if (holderPid === undefined) return undefined;
    const { nodeProcs } = this.cgroups.runnerPlace(nodeId);
    return { helper: this.helpers.enterNode, holderPid, nodeId, nodeProcs, dropCaps: DROPPED_CAP_NUMBERS };
  }

  /** Where the node's runner lives: its holder, its cgroups, its journal folder. */
  private runnerPlace(nodeId: string, holderPid: number): RunnerPlace {
    return {
      holderPid,
      nodeId,
      ...this.cgroups.runnerPlace(nodeId),
      journalDir: this.journal.nodeDir(nodeId),
    };
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
      if (state?.kind === 'ended')
        return { exitCode: state.exitCode, timedOut: false, ...(state.usage ? { usage: state.usage } : {}) };
      if (!alive) return undefined;
      const over = Date.now() >= deadline;
      if (over || p.signal?.aborted === true) {
        await this.cgroups.killExec({ procs: [], own: cgroup });
        return { exitCode: 137, timedOut: over, killed: !over };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
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
    this.runners.forget(nodeId);
    this.holders.delete(nodeId);
    await rm(join(this.dir(nodeId), 'holder.pid'), { force: true });
  }

  destroy(nodeId: string): Promise<void> {
    return this.serial(nodeId, async () => {
      await this.stopNow(nodeId);
      await this.cgroups.remove(nodeId);
      await this.idRanges.release(nodeId);
      // Disk before folder: an image whose folder is gone is swept by list(), a folder is never left mounted.
      await this.ownDisks.remove(nodeId);
      await rm(this.dir(nodeId), { recursive: true, force: true });
      await this.journal.forgetNode(nodeId);
    });
  }

  async forgetRun(nodeId: string, runId: string): Promise<void> {
    await this.taskUsers.release(nodeId, runId);
    await this.journal.forget(nodeId, runId);
  }

  /**
   * enter-node's USER field for a process (ADR 0026): node root for admin auto-users, a pool account's ids, the
   * task-scope user of `user.key` (its name put in AZ_BATCH_TASK_USER), or the pool-scope auto-user.
   */
  private async runUser(
    nodeId: string,
    p: ProcessSpec,
    environment: Record<string, string>,
  ): Promise<string> {
    const u = p.user;
    if (u?.kind === 'account') return runUserField({ uid: u.uid, gid: u.gid, nnp: !u.admin });
    if (p.elevation === 'admin') return runUserField('root');
    if (u?.kind === 'task') {
      const uid = await this.taskUsers.uidFor(nodeId, u.key);
      if ('AZ_BATCH_TASK_USER' in environment) environment.AZ_BATCH_TASK_USER = taskUserName(uid);
      return runUserField({ uid, gid: uid, nnp: true });
    }
    const auto = NODE_IDS.poolAutoUser;
    return runUserField({ uid: auto, gid: auto, nnp: true });
  }

  async list(): Promise<string[]> {
    await this.ownDisks.sweep();
    if (!existsSync(this.nodesDir)) return [];
    const entries = await readdir(this.nodesDir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  listFiles(nodeId: string, dir: string, recursive: boolean): Promise<NodeFileInfo[]> {
    return Promise.resolve().then(() => listNodeFiles(join(this.dir(nodeId), 'upper'), dir, recursive));
  }

  readFile(nodeId: string, path: string, range?: NodeFileRange): Promise<NodeFileRead> {
    return Promise.resolve().then(() => readNodeFile(join(this.dir(nodeId), 'upper'), path, range));
  }

  statFile(nodeId: string, path: string): Promise<NodeFileInfo> {
    return Promise.resolve().then(() => statNodeFile(join(this.dir(nodeId), 'upper'), path));
  }

  /** Through the running node's own root when it has a holder (its overlay sees the change), else in its upper. */
  deleteFile(nodeId: string, path: string, recursive: boolean): Promise<void> {
    return Promise.resolve().then(() => {
      const pid = this.holders.get(nodeId);
      const holder = pid === undefined ? undefined : { pid, marker: `${HOLDER_MARKER}${nodeId}` };
      return deleteNodeFile(join(this.dir(nodeId), 'upper'), holder, path, recursive);
    });
  }

  /**
   * Stops every holder of this data dir (those this executor started or adopted, those being booted right now —
   * their stop queues behind the boot — and any a crashed predecessor left that was not adopted yet) and unmounts
   * their own disks; disks' contents stay.
   */
  async close(): Promise<void> {
    const ids = new Set([...this.holders.keys(), ...this.locks.keys(), ...(await this.list())]);
    await Promise.all([...ids].map((id) => this.stop(id)));
    // Their disks too (the images stay): the next boot mounts them again.
    await Promise.all([...ids].map((id) => this.serial(id, () => this.ownDisks.unmount(id))));
    // With every holder gone nothing uses the host's read-only data disk mounts: detach them too.
    await this.detachDiskCaches();
    await this.networks.close();
    this.runners.close();
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
