/**
 * Slurm peer for the task-throughput benchmark: trivial jobs (`/bin/true`) through Debian's `slurm-wlm` on a
 * single-host cluster configured here (4 `slurmd -N` nodes × 16 declared CPUs, the high-throughput scheduler
 * parameters of shared/reference/slurm/slurm-single-host-tuned.conf, munge auth), measured twice: an `sbatch --wrap`
 * loop (SUBMITTERS parallel submitters) and one job array, each from the first submission to the last job gone.
 * Completion is counted from a jobcomp/filetxt record file (no RPC load on slurmctld while polling), then confirmed
 * with an empty `squeue`. Standalone: `node bench/slurm.ts [jobs]` logs to stderr and prints the result as JSON.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync } from 'node:fs';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SlurmResult {
  jobs: number;
  sbatchSeconds: number;
  sbatchPerSec: number;
  arraySeconds: number;
  arrayPerSec: number;
  version: string;
}

type Log = (line: string) => void;
type Env = NodeJS.ProcessEnv;

const STEM = 'lazurite-slurm-';
const PREFIX = join(tmpdir(), STEM);
const NODES = ['sn1', 'sn2', 'sn3', 'sn4'];
const CTLD_PORT = 16817; // not Slurm's default 6817, so a system Slurm on this host is left alone
const NODE_PORT = 17001;
const SUBMITTERS = 4; // concurrent `sbatch` processes in the loop measurement
const POLL_MS = 100;
const STALL_MS = 120_000;
const MUNGE_KEY = '/etc/munge/munge.key';
const MUNGE_RUN_DIR = '/run/munge';
const PACKAGES = ['slurm-wlm', 'munge'];
const BINARIES = ['slurmctld', 'slurmd', 'sbatch', 'squeue', 'sinfo', 'munged', 'munge'];

interface Daemon {
  name: string;
  child: ChildProcess;
}

interface Session {
  dir: string;
  env: Env;
  log: Log;
  daemons: Daemon[];
  tail: JobcompTail;
}

const secondsSince = (start: number) => (performance.now() - start) / 1000;
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

function findBin(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  return dirs.map((d) => join(d, name)).find((p) => p.startsWith('/') && existsSync(p));
}

function bin(name: string): string {
  const path = findBin(name);
  if (!path) throw new Error(`${name} not found in PATH or /usr/sbin`);
  return path;
}

function run(cmd: string, args: string[], env: Env = process.env, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin(cmd), args, { env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (!err) resolve(stdout);
      else
        reject(new Error(`${cmd} ${args.join(' ').slice(0, 120)} failed: ${stderr.trim() || err.message}`));
    });
  });
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, alive = () => {}) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    alive();
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/** Install time in seconds (0 when already there), or the reason Slurm cannot be installed here. */
async function ensureInstalled(log: Log): Promise<number | string> {
  if (BINARIES.every((b) => findBin(b))) return 0;
  if (!findBin('apt-get')) return `${PACKAGES.join(' and ')} not installed and no apt-get here`;
  log(`installing ${PACKAGES.join(' ')} with apt-get`);
  const start = performance.now();
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...PACKAGES], env, 1_200_000);
  try {
    await install();
  } catch (first) {
    log(`apt-get install failed (${String(first).slice(0, 200)}); running apt-get update and retrying`);
    try {
      await run('apt-get', ['update', '-q'], env, 600_000);
      await install();
    } catch (e) {
      return `apt-get could not install ${PACKAGES.join(' ')}: ${String(e).slice(0, 500)}`;
    }
  }
  const seconds = round(secondsSince(start), 1);
  log(`installed ${PACKAGES.join(' ')} in ${seconds} s`);
  return seconds;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Kills daemons of an earlier aborted run (their command line names a PREFIX dir; munged via its pid marker). */
async function cleanLeftovers(log: Log): Promise<void> {
  const stale = readdirSync(tmpdir())
    .filter((n) => n.startsWith(STEM))
    .map((n) => join(tmpdir(), n));
  const pids = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .filter((e) => readText(`/proc/${e}/cmdline`)?.includes(PREFIX))
    .map(Number);
  for (const dir of stale) {
    const pid = Number(readText(join(dir, 'munged.pid')));
    if (pid > 0 && readText(`/proc/${pid}/comm`)?.trim() === 'munged') pids.push(pid);
  }
  if (pids.length > 0) {
    log(`stopping ${pids.length} leftover daemon(s) of an earlier run: pids ${pids.join(' ')}`);
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    await until('leftover daemons to exit', 10_000, () => Promise.resolve(!pids.some(isAlive))).catch(() => {
      for (const pid of pids.filter(isAlive)) process.kill(pid, 'SIGKILL');
    });
  }
  for (const dir of stale) rmSync(dir, { recursive: true, force: true });
}

function startDaemon(dir: string, name: string, cmd: string, args: string[], env: Env): Daemon {
  const out = openSync(join(dir, 'log', `${name}.out`), 'a');
  const child = spawn(bin(cmd), args, { env, stdio: ['ignore', out, out] });
  closeSync(out);
  child.on('error', (e) => {
    writeFileSync(join(dir, 'log', `${name}.out`), `spawn failed: ${e.message}\n`, { flag: 'a' });
  });
  return { name, child };
}

const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null || c.pid === undefined;

function checkAlive(daemons: Daemon[]): void {
  const dead = daemons.find((d) => exited(d.child));
  if (dead)
    throw new Error(`${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode ?? 'spawn error'})`);
}

async function stopDaemon(d: Daemon, log: Log): Promise<void> {
  if (exited(d.child)) return;
  const gone = new Promise((resolve) => d.child.once('exit', resolve));
  d.child.kill('SIGTERM');
  const timeout = sleep(20_000).then(() => 'timeout');
  if ((await Promise.race([gone, timeout])) !== 'timeout') return;
  log(`${d.name} (pid ${d.child.pid}) ignored SIGTERM for 20 s; killing it`);
  d.child.kill('SIGKILL');
  await Promise.race([gone, sleep(5_000)]);
}

async function mungeWorks(): Promise<boolean> {
  return run('munge', ['-n'], process.env, 5_000).then(
    () => true,
    () => false,
  );
}

function systemUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined)
    throw new Error(`no ${name} user (the munge package creates it)`);
  return { uid: Number(uid), gid: Number(gid) };
}

/** Uses a running munged, or starts one as the munge user (creating the key if missing); returns what it started. */
async function ensureMunge(dir: string, log: Log): Promise<Daemon | undefined> {
  if (await mungeWorks()) {
    log('munged is already running; using it');
    return undefined;
  }
  const { uid, gid } = systemUser('munge');
  mkdirSync(MUNGE_RUN_DIR, { recursive: true, mode: 0o755 });
  chownSync(MUNGE_RUN_DIR, uid, gid);
  if (!existsSync(MUNGE_KEY)) {
    writeFileSync(MUNGE_KEY, randomBytes(1024), { mode: 0o400 });
    chownSync(MUNGE_KEY, uid, gid);
    log(`created ${MUNGE_KEY}`);
  }
  const out = openSync(join(dir, 'log', 'munged.out'), 'a');
  const child = spawn(bin('munged'), ['--foreground'], { uid, gid, stdio: ['ignore', out, out] });
  closeSync(out);
  child.on('error', () => {});
  const munged = { name: 'munged', child };
  writeFileSync(join(dir, 'munged.pid'), String(child.pid ?? ''));
  await until('munged to answer', 15_000, mungeWorks, () => {
    checkAlive([munged]);
  });
  log(`started munged (pid ${child.pid})`);
  return munged;
}

function slurmConf(dir: string, jobs: number): string {
  const host = hostname().split('.')[0] ?? 'localhost';
  const [state, spool, runDir, logDir] = ['state', 'spool', 'run', 'log'].map((d) => join(dir, d));
  return [
    'ClusterName=lzbench',
    `SlurmctldHost=${host}(127.0.0.1)`,
    'SlurmUser=root',
    `SlurmctldPort=${CTLD_PORT}`,
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `StateSaveLocation=${state}`,
    `SlurmdSpoolDir=${spool}/%n`,
    `SlurmctldPidFile=${runDir}/slurmctld.pid`,
    `SlurmdPidFile=${runDir}/slurmd-%n.pid`,
    `SlurmctldLogFile=${logDir}/slurmctld.log`,
    `SlurmdLogFile=${logDir}/slurmd-%n.log`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    // One line per finished job: completion is counted from this file instead of polling slurmctld.
    'JobCompType=jobcomp/filetxt',
    `JobCompLoc=${join(dir, 'jobcomp.txt')}`,
    'MpiDefault=none',
    'SchedulerType=sched/backfill',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'ReturnToService=2',
    'SlurmctldDebug=error',
    'SlurmdDebug=error',
    `MaxJobCount=${Math.max(100_000, 2 * jobs + 1000)}`,
    `MaxArraySize=${Math.max(1001, jobs + 1)}`,
    'SlurmdParameters=config_overrides',
    ...NODES.map(
      (n, i) =>
        `NodeName=${n} NodeHostname=${host} NodeAddr=127.0.0.1 Port=${NODE_PORT + i} CPUs=16 RealMemory=4000 State=UNKNOWN`,
    ),
    'PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
    'SchedulerParameters=batch_sched_delay=0,default_queue_depth=1100,bf_interval=1,bf_max_job_test=1100,max_rpc_cnt=0',
    'MinJobAge=10',
    '',
  ].join('\n');
}

/** Follows the jobcomp/filetxt file: counts finished jobs by JobState since the last reset(). */
class JobcompTail {
  readonly path: string;
  total = 0;
  states = new Map<string, number>();
  #offset = 0;
  #partial = '';

  constructor(path: string) {
    this.path = path;
  }

  reset(): void {
    this.total = 0;
    this.states.clear();
  }

  async poll(): Promise<void> {
    const fh = await open(this.path, 'r').catch(() => undefined);
    if (!fh) return;
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.#offset);
        if (bytesRead === 0) break;
        this.#offset += bytesRead;
        const lines = (this.#partial + buf.toString('latin1', 0, bytesRead)).split('\n');
        this.#partial = lines.pop() ?? '';
        for (const line of lines) {
          const state = /JobState=(\S+)/.exec(line)?.[1] ?? 'UNPARSED';
          this.states.set(state, (this.states.get(state) ?? 0) + 1);
          this.total++;
        }
      }
    } finally {
      await fh.close();
    }
  }
}

async function queueLength(env: Env): Promise<number> {
  const out = await run('squeue', ['-h', '-r', '-o', '%i'], env, 30_000);
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

async function queueSummary(env: Env): Promise<string> {
  const out = await run('squeue', ['-h', '-r', '-o', '%T %r'], env, 30_000).catch((e: unknown) => String(e));
  const counts = new Map<string, number>();
  for (const l of out.split('\n').filter((x) => x.trim() !== '')) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v}× ${k}`).join(', ') || 'empty';
}

/** Polls until `expected` jobs have a completion record and squeue is empty; returns the performance.now() of that. */
async function waitAllDone(s: Session, label: string, expected: number, start: number): Promise<number> {
  const timeoutMs = 120_000 + expected * 250;
  let lastTotal = -1;
  let progressAt = performance.now();
  let loggedAt = performance.now();
  for (;;) {
    await s.tail.poll();
    if (s.tail.total >= expected && (await queueLength(s.env)) === 0) return performance.now();
    const now = performance.now();
    if (s.tail.total !== lastTotal) [lastTotal, progressAt] = [s.tail.total, now];
    if (now - loggedAt >= 5_000) {
      s.log(`${label}: ${s.tail.total}/${expected} finished after ${round(secondsSince(start), 1)} s`);
      loggedAt = now;
    }
    const problem =
      now - start > timeoutMs
        ? `timed out after ${timeoutMs / 1000} s`
        : now - progressAt > STALL_MS
          ? 'stalled'
          : '';
    if (problem) {
      const queue = await queueSummary(s.env);
      throw new Error(`${label}: ${problem}, ${s.tail.total}/${expected} finished; queue: ${queue}`);
    }
    checkAlive(s.daemons);
    await sleep(POLL_MS);
  }
}

async function sbatch(env: Env, dir: string, extra: string[]): Promise<void> {
  const args = [
    '--parsable',
    '-J',
    'lzbench',
    '-o',
    '/dev/null',
    '-e',
    '/dev/null',
    `--chdir=${dir}`,
    ...extra,
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      await run('sbatch', [...args, '--wrap', '/bin/true'], env, 60_000);
      return;
    } catch (e) {
      if (attempt >= 3) throw e;
      await sleep(500 * attempt);
    }
  }
}

async function submitLoop(s: Session, jobs: number): Promise<void> {
  let next = 0;
  const submitter = async () => {
    while (next < jobs) {
      next++;
      await sbatch(s.env, s.dir, []);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SUBMITTERS, jobs) }, submitter));
}

/** Seconds from the first submission until every job has finished. */
async function measure(
  s: Session,
  label: string,
  jobs: number,
  submit: () => Promise<void>,
): Promise<number> {
  s.tail.reset();
  const start = performance.now();
  await submit();
  const submitted = secondsSince(start);
  s.log(`${label}: ${jobs} jobs submitted in ${round(submitted)} s (${round(jobs / submitted, 1)}/s)`);
  const seconds = (await waitAllDone(s, label, jobs, start)) / 1000 - start / 1000;
  const failed = [...s.tail.states].filter(([state]) => state !== 'COMPLETED');
  if (failed.length > 0) throw new Error(`${label}: jobs did not complete: ${JSON.stringify(failed)}`);
  s.log(`${label}: ${jobs} jobs finished in ${round(seconds)} s (${round(jobs / seconds, 1)} jobs/s)`);
  return seconds;
}

async function startCluster(s: Session, jobs: number): Promise<void> {
  const conf = join(s.dir, 'slurm.conf');
  writeFileSync(conf, slurmConf(s.dir, jobs));
  s.daemons.push(startDaemon(s.dir, 'slurmctld', 'slurmctld', ['-D', '-f', conf], s.env));
  for (const n of NODES)
    s.daemons.push(startDaemon(s.dir, `slurmd-${n}`, 'slurmd', ['-D', '-N', n, '-f', conf], s.env));
  let sinfo = '';
  const allIdle = async () => {
    sinfo = await run('sinfo', ['-h', '-N', '-o', '%N %t'], s.env, 10_000).catch((e: unknown) => String(e));
    const lines = sinfo.trim().split('\n');
    return lines.length === NODES.length && lines.every((l) => l.endsWith(' idle'));
  };
  const start = performance.now();
  await until('all nodes idle', 90_000, allIdle, () => {
    checkAlive(s.daemons);
  }).catch((e: unknown) => {
    throw new Error(`${String(e)}; sinfo: ${sinfo.trim().replaceAll('\n', ', ')}`);
  });
  s.log(`slurmctld and ${NODES.length} slurmd up, nodes idle after ${round(secondsSince(start), 1)} s`);
}

function dumpLogs(dir: string, log: Log): void {
  const logDir = join(dir, 'log');
  for (const name of existsSync(logDir) ? readdirSync(logDir) : []) {
    const lines = (readText(join(logDir, name)) ?? '').trim().split('\n').slice(-15);
    if (lines.join('') !== '') log(`--- ${name} (last lines) ---\n${lines.join('\n')}`);
  }
}

function skip(reason: string, log: Log): { skipped: string } {
  log(`slurm benchmark skipped: ${reason}`);
  return { skipped: reason };
}

/**
 * Installs slurm-wlm + munge if missing (apt-get, root), writes a single-host config into a temp dir, starts munged
 * (unless one runs), slurmctld and 4 slurmd (-N) daemons, runs the two measurements, stops everything it started and
 * removes its temp state. Returns `{ skipped }` with the reason logged when Slurm cannot run here (not root, no apt).
 */
export async function runSlurmBench(
  jobs: number,
  log: (line: string) => void,
): Promise<SlurmResult | { skipped: string }> {
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`jobs must be a positive integer, got ${jobs}`);
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return skip('needs root on Linux', log);
  const installed = await ensureInstalled(log);
  if (typeof installed === 'string') return skip(installed, log);
  await cleanLeftovers(log);
  const dir = mkdtempSync(PREFIX);
  for (const d of ['state', 'spool', 'run', 'log']) mkdirSync(join(dir, d));
  const env = { ...process.env, SLURM_CONF: join(dir, 'slurm.conf') };
  const s: Session = { dir, env, log, daemons: [], tail: new JobcompTail(join(dir, 'jobcomp.txt')) };
  // If this process dies without reaching `finally`, at least signal the daemons; cleanLeftovers() does the rest.
  const onExit = () => {
    for (const d of s.daemons) if (!exited(d.child)) d.child.kill('SIGTERM');
  };
  process.on('exit', onExit);
  try {
    const munged = await ensureMunge(dir, log);
    if (munged) s.daemons.push(munged);
    await startCluster(s, jobs);
    const version = (await run('sbatch', ['--version'], env)).trim();
    const sbatchSeconds = await measure(s, 'sbatch loop', jobs, () => submitLoop(s, jobs));
    await sleep(12_000); // > MinJobAge: let slurmctld purge the finished records before the next measurement
    const arraySeconds = await measure(s, 'job array', jobs, () =>
      sbatch(env, dir, [`--array=0-${jobs - 1}`]),
    );
    return {
      jobs,
      sbatchSeconds: round(sbatchSeconds),
      sbatchPerSec: round(jobs / sbatchSeconds, 1),
      arraySeconds: round(arraySeconds),
      arrayPerSec: round(jobs / arraySeconds, 1),
      version,
    };
  } catch (e) {
    dumpLogs(dir, log);
    throw e;
  } finally {
    // slurmd first, then slurmctld, then munged (only if started here)
    for (const d of [...s.daemons].reverse()) await stopDaemon(d, log);
    process.off('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
    log('slurm daemons stopped, temp state removed');
  }
}

if (import.meta.main) {
  // A plain SIGTERM/SIGINT would skip `finally`; exiting runs the 'exit' hook that signals the daemons.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const jobs = Number(process.argv[2] ?? 10_000);
  const started = performance.now();
  const result = await runSlurmBench(jobs, (line) => {
    console.error(`[slurm ${round(secondsSince(started), 1)}s] ${line}`);
  });
  console.log(JSON.stringify(result, null, 2));
}
