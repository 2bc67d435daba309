import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  writeFileSync,
  readdirSync,
  rmdirSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { formatIpv4, parseCidr } from '../../domain/pools/node-network.ts';
import {
  HOST_DATA_DIR,
  mungeSocket,
  PREEMPTIBLE_PARTITION,
  renderSlurmConf,
  type ClusterHost,
  type ClusterLayout,
} from './slurm-conf.ts';

const run = promisify(execFile);

/**
 * `lazurite cluster up|down`: a real Slurm cluster on this machine for tests and for trying the Slurm backend.
 * One munged and one slurmctld in the root namespaces; per host a network namespace (a veth to the cluster's
 * bridge, its own address), and inside it a mount, UTS and PID namespace (own hostname, own /proc, its private data
 * dir mounted at HOST_DATA_DIR) whose first process runs the host's slurmd. Killing that first process ends every
 * process of the host, as pulling a machine's plug would.
 */
export interface ClusterUpOptions {
  stateDir: string;
  hosts: number;
  /** The cluster bridge's IPv4 network (controller .1, hosts from .2); default 10.251.0.0/24. */
  network?: string;
  cpusPerHost?: number;
  memoryMBPerHost?: number;
  controllerPort?: number;
  /** The environment Slurm's client commands start from (the caller's: `lazurite cluster up` passes its own). */
  environment: NodeJS.ProcessEnv;
}

export interface ClusterInfo {
  hosts: ClusterHost[];
  /** The extra `npm start --` arguments that make a server use this cluster. */
  serverArgs: string[];
}

/** What `up` made, written before it makes it, so `down` can remove it even after a kill -9 halfway. */
interface ClusterRecord {
  stateDir: string;
  bridge: string;
  controllerAddress: string;
  prefix: number;
  hosts: (ClusterHost & { netns: string; veth: string })[];
  /** Each host's first process (`nsenter --net … unshare --kill-child …`), once started. */
  hostPids: Record<string, number>;
}

const RECORD = 'cluster.json';

export class ClusterError extends Error {}

export function slurmConfPath(stateDir: string): string {
  return join(resolve(stateDir), 'slurm.conf');
}

/** Environment for Slurm's client commands (sbatch, squeue, sinfo, scancel) on this cluster. */
export function slurmEnv(stateDir: string, environment: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...environment, SLURM_CONF: slurmConfPath(stateDir) };
}

function plan(o: ClusterUpOptions): ClusterRecord {
  const stateDir = resolve(o.stateDir);
  const tag = createHash('sha256').update(stateDir).digest('hex').slice(0, 6);
  const net = parseCidr(o.network ?? '10.251.0.0/24');
  if (o.hosts < 1 || o.hosts > 2 ** (32 - net.prefix) - 3)
    throw new ClusterError(`--hosts must be 1 to ${String(2 ** (32 - net.prefix) - 3)} for this network`);
  const hosts = Array.from({ length: o.hosts }, (_, i) => ({
    name: `lzh${String(i + 1)}`,
    address: formatIpv4(net.base + 2 + i),
    netns: `lzslurm-${tag}-${String(i + 1)}`,
    veth: `lzs${tag}${String(i + 1)}`,
  }));
  return {
    stateDir,
    bridge: `lzsb${tag}`,
    controllerAddress: formatIpv4(net.base + 1),
    prefix: net.prefix,
    hosts,
    hostPids: {},
  };
}

function writeRecord(r: ClusterRecord): void {
  writeFileSync(join(r.stateDir, RECORD), `${JSON.stringify(r, null, 2)}\n`);
}

function readRecord(stateDir: string): ClusterRecord | undefined {
  const file = join(resolve(stateDir), RECORD);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterRecord;
}

async function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, {
      ...(env === undefined ? {} : { env }),
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new ClusterError(`${cmd} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

async function makeNetwork(r: ClusterRecord): Promise<void> {
  await sh('ip', ['link', 'add', r.bridge, 'type', 'bridge']);
  await sh('ip', ['addr', 'add', `${r.controllerAddress}/${String(r.prefix)}`, 'dev', r.bridge]);
  await sh('ip', ['link', 'set', r.bridge, 'up']);
  for (const h of r.hosts) {
    await sh('ip', ['netns', 'add', h.netns]);
    await sh('ip', ['link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns]);
    await sh('ip', ['link', 'set', h.veth, 'master', r.bridge, 'up']);
    await sh('ip', ['-n', h.netns, 'addr', 'add', `${h.address}/${String(r.prefix)}`, 'dev', 'eth0']);
    await sh('ip', ['-n', h.netns, 'link', 'set', 'eth0', 'up']);
    await sh('ip', ['-n', h.netns, 'link', 'set', 'lo', 'up']);
  }
}

async function startMunge(stateDir: string): Promise<void> {
  const dir = join(stateDir, 'munge');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'munge.key'), randomBytes(1024), { mode: 0o400 });
  await sh('munged', [
    '--force',
    `--key-file=${join(dir, 'munge.key')}`,
    `--socket=${mungeSocket(stateDir)}`,
    `--pid-file=${join(dir, 'munged.pid')}`,
    `--log-file=${join(dir, 'munged.log')}`,
    `--seed-file=${join(dir, 'munged.seed')}`,
  ]);
}

/** Starts a host: its namespaces, its hostname and private data dir, then its slurmd. Returns the first pid. */
function startHost(r: ClusterRecord, h: ClusterHost & { netns: string }): number {
  const own = join(r.stateDir, 'hosts', h.name);
  mkdirSync(join(own, 'slurmd', 'spool'), { recursive: true, mode: 0o700 });
  mkdirSync(HOST_DATA_DIR, { recursive: true, mode: 0o700 });
  const conf = slurmConfPath(r.stateDir);
  // sh is the host's PID 1: it reaps orphans, and when it dies (slurmd ended, or it was killed) the kernel kills
  // every process of the host's PID namespace; --kill-child ends it when the outer unshare is killed.
  const script = [
    'set -e',
    `hostname ${h.name}`,
    // A sysfs of the host's network namespace (its /sys/class/net), with the machine's cgroup trees kept.
    `mkdir -p '${own}/.cgroup'`,
    `mount --rbind /sys/fs/cgroup '${own}/.cgroup'`,
    'mount -t sysfs sysfs /sys',
    `mount --rbind '${own}/.cgroup' /sys/fs/cgroup`,
    `umount -l '${own}/.cgroup'`,
    `mount --bind '${own}' ${HOST_DATA_DIR}`,
    // Its own /dev/shm, as a machine has: the launchers' run folders there are named by PIDs, which repeat across
    // the hosts' PID namespaces.
    'mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm',
    'set +e',
    `slurmd -D -f '${conf}' -N ${h.name} &`,
    'wait',
  ].join('\n');
  const log = openSync(join(own, 'host.log'), 'a');
  const child = spawn(
    'nsenter',
    [
      `--net=/run/netns/${h.netns}`,
      'unshare',
      '--mount',
      '--uts',
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      'sh',
      '-c',
      script,
      `lazurite-slurm-host:${r.stateDir}`,
    ],
    { detached: true, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new ClusterError(`host ${h.name} did not start`);
  return child.pid;
}

async function waitForIdle(
  stateDir: string,
  want: number,
  timeoutMs: number,
  environment: NodeJS.ProcessEnv,
): Promise<void> {
  const env = slurmEnv(stateDir, environment);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      last = await sh('sinfo', ['-h', '-N', '-o', '%N %T'], env);
      const idle = last.split('\n').filter((l) => / idle$/.test(l.trim())).length;
      if (idle >= want) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new ClusterError(`the cluster's hosts did not become idle: ${last.trim()}`);
}

/** Starts the cluster; a failure halfway removes what was made. */
export async function clusterUp(o: ClusterUpOptions): Promise<ClusterInfo> {
  const r = plan(o);
  if (existsSync(join(r.stateDir, RECORD)))
    throw new ClusterError(`a cluster is already up in ${r.stateDir} (run 'lazurite cluster down' first)`);
  mkdirSync(join(r.stateDir, 'slurm', 'state'), { recursive: true, mode: 0o700 });
  writeRecord(r);
  try {
    await startMunge(r.stateDir);
    await makeNetwork(r);
    const layout: ClusterLayout = {
      stateDir: r.stateDir,
      controllerName: hostname().split('.')[0] ?? 'localhost',
      controllerAddress: r.controllerAddress,
      controllerPort: o.controllerPort ?? 6817,
      hosts: r.hosts.map((h) => ({ name: h.name, address: h.address })),
      cpusPerHost: o.cpusPerHost ?? 16,
      memoryMBPerHost: o.memoryMBPerHost ?? 65536,
    };
    writeFileSync(slurmConfPath(r.stateDir), renderSlurmConf(layout));
    await sh('slurmctld', ['-c', '-f', slurmConfPath(r.stateDir)]);
    for (const h of r.hosts) {
      r.hostPids[h.name] = startHost(r, h);
      writeRecord(r);
    }
    await waitForIdle(r.stateDir, r.hosts.length, 60_000, o.environment);
  } catch (err) {
    await clusterDown(r.stateDir);
    throw err;
  }
  return {
    hosts: r.hosts.map((h) => ({ name: h.name, address: h.address })),
    serverArgs: [
      '--node-backend',
      'slurm',
      '--slurm-conf',
      slurmConfPath(r.stateDir),
      '--host',
      '0.0.0.0',
      '--advertise-url',
      `https://${r.controllerAddress}`,
      '--slurm-low-priority-args',
      JSON.stringify([`--partition=${PREEMPTIBLE_PARTITION}`]),
    ],
  };
}

/** Whether `pid` still runs a process whose command line names this cluster's state dir. */
function ours(pid: number, stateDir: string): boolean {
  try {
    return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').includes(stateDir);
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidFrom(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

async function netnsPids(netns: string): Promise<number[]> {
  try {
    return (await sh('ip', ['netns', 'pids', netns])).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** SIGKILLs a host's first process (which takes its PID namespace with it) and anything left in its network. */
export async function killHost(stateDir: string, name: string): Promise<void> {
  const r = readRecord(stateDir);
  const h = r?.hosts.find((x) => x.name === name);
  if (!r || !h) throw new ClusterError(`no host '${name}' in the cluster at ${resolve(stateDir)}`);
  const pid = r.hostPids[name];
  const pids = [...(pid !== undefined && ours(pid, r.stateDir) ? [pid] : []), ...(await netnsPids(h.netns))];
  for (const p of pids) signal(p, 'SIGKILL');
  await waitGone(pids, 10_000);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

async function waitGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
}

/** Stops everything `up` started and removes what it made; idempotent, and works after a kill -9 of either. */
export async function clusterDown(stateDir: string): Promise<void> {
  const r = readRecord(stateDir);
  if (!r) return;
  for (const h of r.hosts) {
    if (existsSync(`/run/netns/${h.netns}`)) await killHost(r.stateDir, h.name);
  }
  const daemons = [join(r.stateDir, 'slurm', 'slurmctld.pid'), join(r.stateDir, 'munge', 'munged.pid')]
    .map(pidFrom)
    .filter((p): p is number => p !== undefined && ours(p, r.stateDir));
  for (const p of daemons) signal(p, 'SIGTERM');
  await waitGone(daemons, 10_000);
  for (const p of daemons) signal(p, 'SIGKILL');
  await waitGone(daemons, 5_000);
  for (const h of r.hosts) {
    // Deleting the host end removes the pair now; a namespace whose mount another process's mount
    // namespace still holds a copy of is freed only later, and with it the veth.
    await sh('ip', ['link', 'del', h.veth]).catch((err: unknown) => {
      if (existsSync(`/sys/class/net/${h.veth}`)) throw err; // gone meanwhile with its namespace is fine
    });
    if (existsSync(`/run/netns/${h.netns}`)) await sh('ip', ['netns', 'del', h.netns]);
  }
  if (existsSync(`/sys/class/net/${r.bridge}`)) await sh('ip', ['link', 'del', r.bridge]);
  for (const part of ['munge', 'slurm', 'hosts', 'slurm.conf', RECORD])
    rmSync(join(r.stateDir, part), { recursive: true, force: true });
  if (readdirSync(r.stateDir).length === 0) rmdirSync(r.stateDir);
}

/** The cluster's hosts, as `up` printed them. */
export function clusterHosts(stateDir: string): (ClusterHost & { netns: string })[] {
  const r = readRecord(stateDir);
  if (!r) throw new ClusterError(`no cluster is up in ${resolve(stateDir)}`);
  return r.hosts.map((h) => ({ name: h.name, address: h.address, netns: h.netns }));
}
