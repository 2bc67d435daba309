import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeSize } from '../port.ts';

/**
 * Node cgroups. cgroups v1 (this machine): per node `<controller>/<server's own cgroup>/lazurite/<nodeId>` in
 * the memory, cpu, pids and devices hierarchies (limits from the node's size: memoryMB, cores, pidsMax; devices:
 * only the node's /dev and pseudo-terminals), under the server's own cgroup so nodes stay inside whatever limits the
 * server runs under; each exec gets a child `x<random>` in the pids hierarchy, so a timeout can find and kill
 * every process it started (setsid and double forks included) while the node-level pids.max still counts it.
 * cgroups v2 (`/sys/fs/cgroup/cgroup.controllers` exists): `/sys/fs/cgroup/lazurite/<nodeId>` with the limits
 * and `x<random>` children without controllers of their own (the node's limits apply to them); a timeout
 * writes `cgroup.kill`. A missing controller is skipped: the node runs without that limit (and without a
 * per-exec cgroup the timeout falls back to killing the process group).
 */
const V1_CONTROLLERS = ['memory', 'cpu', 'pids', 'devices'] as const;
/**
 * The character devices a node may use (v1 devices controller; everything else, every block device included, is
 * denied): what its /dev holds (null, zero, full, random, urandom, tty, ptmx) and its pseudo-terminals.
 */
const NODE_DEVICES = [
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:2 rwm',
  'c 136:* rwm',
];

/**
 * The size's process limit: what Linux gives a machine of that memory (threads-max is one thread per 128 KiB of
 * RAM: 8 per MiB), at least 256.
 */
export function pidsMax(size: NodeSize): number {
  return Math.max(256, size.memoryMB * 8);
}
const ROOT = '/sys/fs/cgroup';
const SPARE_PER_NODE = 64;

interface Layout {
  unified: boolean;
  /** controller → the folder node cgroups go into (`.../lazurite`). */
  bases: Map<string, string>;
}

/** The server's own cgroup path per v1 controller (`/proc/self/cgroup`), or for v2 under the `0::` entry. */
function ownCgroups(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined || path === undefined) continue;
    for (const c of controllers.split(',')) out.set(c === '' ? 'unified' : c, path);
  }
  return out;
}

function detect(): Layout {
  if (existsSync(join(ROOT, 'cgroup.controllers'))) {
    return { unified: true, bases: new Map([['unified', join(ROOT, 'lazurite')]]) };
  }
  const own = ownCgroups();
  const bases = new Map<string, string>();
  for (const c of V1_CONTROLLERS) {
    if (!existsSync(join(ROOT, c, 'cgroup.procs'))) continue; // controller not mounted: no such limit
    bases.set(c, join(ROOT, c, own.get(c) ?? '/', 'lazurite'));
  }
  return { unified: false, bases };
}

/** `user_usec` and `system_usec` of a cgroup v2 `cpu.stat`; undefined when either is missing. */
export function parseCpuStat(text: string): { userMicros: number; kernelMicros: number } | undefined {
  const field = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const user = field('user_usec');
  const kernel = field('system_usec');
  return user === undefined || kernel === undefined ? undefined : { userMicros: user, kernelMicros: kernel };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function procsOf(dir: string): Promise<number[]> {
  const pids: number[] = [];
  try {
    pids.push(...(await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number));
    for (const e of await readdir(dir, { withFileTypes: true }))
      if (e.isDirectory()) pids.push(...(await procsOf(join(dir, e.name))));
  } catch {
    // gone
  }
  return pids;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** SIGKILLs every process in the cgroup folders (and their children) until they are empty. */
async function emptyCgroups(dirs: string[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = (await Promise.all(dirs.map(procsOf))).flat();
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(' ')} did not die`);
    killAll(pids);
    await sleep(5);
  }
}

/** rmdir a cgroup folder and its children; a cgroup still holding processes is left alone. */
async function removeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  await rmdir(dir).catch(() => undefined);
}

/** The cgroups of one exec: the `cgroup.procs` files its wrapper joins, and its own cgroup (if any). */
export interface ExecCgroups {
  procs: string[];
  own?: string;
}

export class NodeCgroups {
  private readonly layout: Layout = detect();
  private prepared: Promise<void> | undefined;
  /** Empty exec cgroups of finished execs, per node (only for nodes created or adopted by this instance). */
  private readonly spare = new Map<string, string[]>();

  private nodeDirs(nodeId: string): string[] {
    return [...this.layout.bases.values()].map((b) => join(b, nodeId));
  }

  private node(controller: string, nodeId: string): string | undefined {
    const base = this.layout.bases.get(controller);
    return base === undefined ? undefined : join(base, nodeId);
  }

  /** The `lazurite` parents; on v2 also the controllers enabled for children (best effort). */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      for (const base of this.layout.bases.values()) await mkdir(base, { recursive: true });
      if (!this.layout.unified) return;
      for (const dir of [ROOT, join(ROOT, 'lazurite')])
        await writeFile(join(dir, 'cgroup.subtree_control'), '+memory +cpu +pids').catch(() => undefined);
    })();
    return this.prepared;
  }

  /** Creates (or updates) the node's cgroups with its size's limits; returns the `cgroup.procs` to join. */
  async create(nodeId: string, size: NodeSize): Promise<string[]> {
    await this.prepare();
    const limit = async (controller: string, file: string, value: string) => {
      const dir = this.node(controller, nodeId);
      if (dir !== undefined) await writeFile(join(dir, file), value).catch(() => undefined);
    };
    for (const dir of this.nodeDirs(nodeId)) await mkdir(dir, { recursive: true });
    const bytes = String(size.memoryMB * 1024 * 1024);
    if (this.layout.unified) {
      await limit('unified', 'memory.max', bytes);
      await limit('unified', 'cpu.max', `${Math.round(size.cores * 100_000)} 100000`);
      await limit('unified', 'pids.max', String(pidsMax(size)));
    } else {
      await limit('memory', 'memory.limit_in_bytes', bytes);
      const cpu = this.node('cpu', nodeId);
      if (cpu !== undefined) {
        const period = Number(await readFile(join(cpu, 'cpu.cfs_period_us'), 'utf8').catch(() => '100000'));
        await limit('cpu', 'cpu.cfs_quota_us', String(Math.round(size.cores * period)));
      }
      await limit('pids', 'pids.max', String(pidsMax(size)));
      const devices = this.node('devices', nodeId);
      if (devices !== undefined) {
        await writeFile(join(devices, 'devices.deny'), 'a');
        for (const rule of NODE_DEVICES) await writeFile(join(devices, 'devices.allow'), rule);
      }
    }
    this.spare.set(nodeId, []);
    return this.nodeDirs(nodeId).map((d) => join(d, 'cgroup.procs'));
  }

  /** Allows more devices to the node's processes (v1 devices rules such as `b 7:3 rwm`: a VM's data disks). */
  async allowDevices(nodeId: string, rules: string[]): Promise<void> {
    const devices = this.node('devices', nodeId);
    if (devices === undefined) return;
    for (const rule of rules) await writeFile(join(devices, 'devices.allow'), rule);
  }

  /**
   * A cgroup for one exec inside the node's (an empty one a finished exec left, else a new one), plus the
   * node-level cgroups of the other controllers.
   */
  async forExec(nodeId: string): Promise<ExecCgroups> {
    await Promise.resolve();
    const execParent = this.node(this.layout.unified ? 'unified' : 'pids', nodeId);
    const procs: string[] = [];
    let own: string | undefined = this.spare.get(nodeId)?.pop();
    if (own === undefined && execParent !== undefined && existsSync(execParent)) {
      own = join(execParent, `x${randomBytes(6).toString('hex')}`);
      mkdirSync(own); // cgroupfs: in memory, cheaper than a thread-pool call
    }
    if (own !== undefined) procs.push(join(own, 'cgroup.procs'));
    for (const base of this.layout.bases.values()) {
      const dir = join(base, nodeId);
      if (dir !== execParent && existsSync(dir)) procs.push(join(dir, 'cgroup.procs'));
    }
    return { procs, ...(own === undefined ? {} : { own }) };
  }

  /**
   * cgroup v2 only: the CPU time (µs) everything that ran in the exec's own cgroup used so far, from its `cpu.stat`
   * (there whether or not the cpu controller is enabled). Undefined under v1 (the per-exec cgroup is in the pids
   * hierarchy, which keeps no CPU time) or without an own cgroup. A spare cgroup is reused, so callers subtract a
   * reading taken at the start.
   */
  execCpu(cg: ExecCgroups): { userMicros: number; kernelMicros: number } | undefined {
    if (!this.layout.unified || cg.own === undefined) return undefined;
    try {
      return parseCpuStat(readFileSync(join(cg.own, 'cpu.stat'), 'utf8')); // cgroupfs: in memory
    } catch {
      return undefined;
    }
  }

  /** What a node's runner joins (the node's cgroups) and where the runs' own cgroups go. */
  runnerPlace(nodeId: string): { nodeProcs: string[]; execParent: string } {
    const execParent = this.node(this.layout.unified ? 'unified' : 'pids', nodeId);
    return {
      nodeProcs: this.nodeDirs(nodeId)
        .filter((d) => existsSync(d))
        .map((d) => join(d, 'cgroup.procs')),
      execParent: execParent !== undefined && existsSync(execParent) ? execParent : '',
    };
  }

  /** Kills every process of an exec (v2: cgroup.kill; v1: SIGKILL until empty). */
  async killExec(cg: ExecCgroups): Promise<void> {
    if (cg.own === undefined) return;
    if (this.layout.unified) await writeFile(join(cg.own, 'cgroup.kill'), '1').catch(() => undefined);
    await emptyCgroups([cg.own]);
  }

  /**
   * Done with an exec's cgroup: kept for the node's next exec when the exec ended by itself and left no process
   * behind (creating and removing a cgroup costs more than the run of a small task), else removed.
   */
  async releaseExec(nodeId: string, cg: ExecCgroups, reusable: boolean): Promise<void> {
    if (cg.own === undefined) return;
    const spare = this.spare.get(nodeId) ?? [];
    if (reusable && spare.length < SPARE_PER_NODE && this.spare.has(nodeId)) {
      let procs = 'unreadable';
      try {
        procs = readFileSync(join(cg.own, 'cgroup.procs'), 'utf8');
      } catch {
        // gone
      }
      if (procs === '') {
        spare.push(cg.own);
        return;
      }
    }
    await rmdir(cg.own).catch(() => undefined);
  }

  /** Kills every process in the node's cgroups (holder, execs and their host-side wrappers). */
  async killNode(nodeId: string): Promise<void> {
    this.spare.delete(nodeId);
    const dirs = this.nodeDirs(nodeId).filter((d) => existsSync(d));
    if (this.layout.unified)
      for (const d of dirs) await writeFile(join(d, 'cgroup.kill'), '1').catch(() => undefined);
    await emptyCgroups(dirs);
    for (const d of dirs) {
      for (const e of await readdir(d, { withFileTypes: true }).catch(() => []))
        if (e.isDirectory()) await removeTree(join(d, e.name));
    }
  }

  /** Removes the node's cgroups (after killNode). */
  async remove(nodeId: string): Promise<void> {
    for (const d of this.nodeDirs(nodeId)) await removeTree(d);
  }

  /** The node's memory limit as the kernel holds it (for tests); undefined without a memory controller. */
  async memoryLimit(nodeId: string): Promise<number | undefined> {
    const dir = this.node(this.layout.unified ? 'unified' : 'memory', nodeId);
    if (dir === undefined) return undefined;
    const file = this.layout.unified ? 'memory.max' : 'memory.limit_in_bytes';
    return Number((await readFile(join(dir, file), 'utf8')).trim());
  }
}
