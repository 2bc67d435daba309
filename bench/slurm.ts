/**
 * Slurm peer for the task-throughput benchmark: trivial jobs (`/bin/true`) through Debian's `slurm-wlm` on a
 * single-host cluster configured here (4 `slurmd -N` nodes × 16 declared CPUs, the high-throughput scheduler
 * parameters of shared/reference/slurm/slurm-single-host-tuned.conf, munge auth), measured twice: an `sbatch --wrap`
 * loop (SUBMITTERS parallel submitters) and one job array, each from the first submission to the last job gone.
 * Completion is counted from a jobcomp/filetxt record file (no RPC load on slurmctld while polling), then confirmed
 * with an empty `squeue`. Standalone: `node bench/slurm.ts [jobs]` logs to stderr and prints the result as JSON.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
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

type Daemon = { name: string; child: ChildProcess };
/** One benchmark run: its temp dir, the environment for Slurm commands (SLURM_CONF), the daemons it started. */
type Session = { dir: string; env: Env; log: Log; daemons: Daemon[]; tail: JobcompTail };

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
  const apt = (...args: string[]) => run('apt-get', ['-y', '-q', ...args], env, 1_200_000);
  const install = () => apt('install', '--no-install-recommends', ...PACKAGES);
  const failure = await install()
    .catch(() => apt('update').then(install)) // stale package lists: update once and retry
    .then(() => '', String);
  if (failure) return `apt-get could not install ${PACKAGES.join(' ')}: ${failure.slice(0, 500)}`;
  const seconds = round(secondsSince(start), 1);
  log(`installed ${PACKAGES.join(' ')} in ${seconds} s`);
  return seconds;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const signal = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
};
/** Running and not a zombie (orphans are reaped by PID 1, which may take a while). */
const isAlive = (pid: number) => !/^\d+ \(.*\) [ZX]/.test(readText(`/proc/${pid}/stat`) ?? '0 () X');

/** Processes of runs under `prefix`: daemons name it on their command line, job steps (slurmstepd) in SLURM_CONF. */
function processesUnder(prefix: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .filter((e) => {
      const cmdline = readText(`/proc/${e}/cmdline`) ?? '';
      if (cmdline.includes(prefix)) return true;
      if (!readText(`/proc/${e}/comm`)?.startsWith('slurm')) return false;
      return (readText(`/proc/${e}/environ`) ?? '').includes(prefix);
    })
    .map(Number);
}

async function terminate(pids: number[], what: string, log: Log): Promise<void> {
  if (pids.length === 0) return;
  log(`stopping ${pids.length} ${what}: pids ${pids.join(' ')}`);
  for (const pid of pids) signal(pid, 'SIGTERM');
  await until(`${what} to exit`, 10_000, () => Promise.resolve(!pids.some(isAlive))).catch(() => {
    for (const pid of pids.filter(isAlive)) signal(pid, 'SIGKILL');
  });
}

/** Stops what an earlier aborted run left (Slurm processes under PREFIX, munged via its pid marker), removes its dir. */
async function cleanLeftovers(log: Log): Promise<void> {
  const stale = readdirSync(tmpdir())
    .filter((n) => n.startsWith(STEM))
    .map((n) => join(tmpdir(), n));
  // Same ports and prefix: a second concurrent run would break the first, so refuse instead of killing it.
  const owner = stale.map((d) => Number(readText(join(d, 'owner.pid')))).find((p) => p > 0 && isAlive(p));
  if (owner) throw new Error(`another Slurm benchmark (pid ${owner}) is running; ${PREFIX}* is in use`);
  const pids = processesUnder(PREFIX);
  for (const dir of stale) {
    const pid = Number(readText(join(dir, 'munged.pid')));
    if (pid > 0 && readText(`/proc/${pid}/comm`)?.trim() === 'munged') pids.push(pid);
  }
  await terminate(pids, 'leftover process(es) of an earlier run', log);
  for (const dir of stale) rmSync(dir, { recursive: true, force: true });
}

/** Starts a daemon in the foreground (-D/-F) as our child, its stdout/stderr into log/<name>.out. */
function startDaemon(dir: string, name: string, args: string[], opts: SpawnOptions): Daemon {
  const out = openSync(join(dir, 'log', `${name}.out`), 'a');
  const child = spawn(bin(args[0] ?? ''), args.slice(1), { ...opts, stdio: ['ignore', out, out] });
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

const mungeWorks = () => run('munge', ['-n'], process.env, 5_000).then(Boolean, () => false);

/** Uses a running munged, or starts one as the munge user (key created if missing), registered in `daemons`. */
async function ensureMunge({ dir, log, daemons }: Session): Promise<void> {
  if (await mungeWorks()) {
    log('munged is already running; using it');
    return;
  }
  const [uid, gid] = await Promise.all(['-u', '-g'].map(async (o) => Number(await run('id', [o, 'munge']))));
  if (uid === undefined || gid === undefined) throw new Error('no munge user');
  mkdirSync(MUNGE_RUN_DIR, { recursive: true, mode: 0o755 });
  chownSync(MUNGE_RUN_DIR, uid, gid);
  if (!existsSync(MUNGE_KEY)) {
    writeFileSync(MUNGE_KEY, randomBytes(1024), { mode: 0o400 });
    chownSync(MUNGE_KEY, uid, gid);
    log(`created ${MUNGE_KEY}`);
  }
  const munged = startDaemon(dir, 'munged', ['munged', '--foreground'], { uid, gid });
  daemons.push(munged); // from here on, `finally` stops it
  writeFileSync(join(dir, 'munged.pid'), String(munged.child.pid ?? ''));
  await until('munged to answer', 15_000, mungeWorks, () => {
    checkAlive([munged]);
  });
  log(`started munged (pid ${munged.child.pid})`);
}

function slurmConf(dir: string, jobs: number): string {
  const host = hostname().split('.')[0] ?? 'localhost';
  const nodes = NODES.map(
    (n, i) =>
      `NodeName=${n} NodeHostname=${host} NodeAddr=127.0.0.1 Port=${NODE_PORT + i} CPUs=16 RealMemory=4000 State=UNKNOWN`,
  );
  // The tuned reference configuration with per-run paths; jobcomp/filetxt writes one line per finished job, so
  // completion is counted from a file instead of polling slurmctld.
  return `ClusterName=lzbench
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmctldPort=${CTLD_PORT}
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool/%n
SlurmctldPidFile=${dir}/run/slurmctld.pid
SlurmdPidFile=${dir}/run/slurmd-%n.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${dir}/jobcomp.txt
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldDebug=error
SlurmdDebug=error
MaxJobCount=${Math.max(100_000, 2 * jobs + 1000)}
MaxArraySize=${Math.max(1001, jobs + 1)}
SlurmdParameters=config_overrides
${nodes.join('\n')}
PartitionName=batch Nodes=ALL Default=YES MaxTime=INFINITE State=UP
SchedulerParameters=batch_sched_delay=0,default_queue_depth=1100,bf_interval=1,bf_max_job_test=1100,max_rpc_cnt=0
MinJobAge=10
`;
}

/** Follows the jobcomp/filetxt file (one line per finished job): counts by JobState since the last reset. */
class JobcompTail {
  readonly states = new Map<string, number>();
  total = 0;
  readonly #path: string;
  #offset = 0;
  #partial = '';

  constructor(path: string) {
    this.#path = path;
  }

  reset(): void {
    this.total = 0;
    this.states.clear();
  }

  async poll(): Promise<void> {
    const fh = await open(this.#path).catch(() => undefined);
    if (!fh) return;
    try {
      const size = (await fh.stat()).size - this.#offset;
      const { buffer, bytesRead } = await fh.read(Buffer.alloc(size), 0, size, this.#offset);
      this.#offset += bytesRead;
      const lines = (this.#partial + buffer.toString('latin1', 0, bytesRead)).split('\n');
      this.#partial = lines.pop() ?? '';
      for (const state of lines.map((l) => /JobState=(\S+)/.exec(l)?.[1] ?? 'UNPARSED')) {
        this.states.set(state, (this.states.get(state) ?? 0) + 1);
        this.total++;
      }
    } finally {
      await fh.close();
    }
  }
}

/** Active jobs (array tasks expanded) as `state reason` lines. */
async function queue(env: Env): Promise<string[]> {
  const out = await run('squeue', ['-h', '-r', '-o', '%T %r'], env, 30_000);
  return out.split('\n').filter((l) => l.trim() !== '');
}

/** Polls until `expected` jobs have a completion record and squeue is empty; returns the performance.now() of that. */
async function waitAllDone(s: Session, label: string, expected: number, start: number): Promise<number> {
  const timeoutMs = 120_000 + expected * 250;
  let lastTotal = -1;
  let progressAt = performance.now();
  let loggedAt = performance.now();
  for (;;) {
    await s.tail.poll();
    if (s.tail.total >= expected && (await queue(s.env)).length === 0) return performance.now();
    const now = performance.now();
    if (s.tail.total !== lastTotal) [lastTotal, progressAt] = [s.tail.total, now];
    if (now - loggedAt >= 5_000) {
      s.log(`${label}: ${s.tail.total}/${expected} finished after ${round(secondsSince(start), 1)} s`);
      loggedAt = now;
    }
    if (now - start > timeoutMs || now - progressAt > STALL_MS) {
      const counts = Map.groupBy(await queue(s.env).catch((e: unknown) => [String(e)]), (l) => l);
      const queued = [...counts].map(([line, all]) => `${all.length}× ${line}`).join(', ') || 'empty';
      const why = now - start > timeoutMs ? `timed out after ${timeoutMs / 1000} s` : 'no progress for 120 s';
      throw new Error(`${label}: ${why}, ${s.tail.total}/${expected} finished; queue: ${queued}`);
    }
    checkAlive(s.daemons);
    await sleep(POLL_MS);
  }
}

async function sbatch(env: Env, dir: string, extra: string[]): Promise<void> {
  // No output files: thousands of slurm-N.out would otherwise land in the working directory.
  const args = ['-J', 'lzbench', '-o', '/dev/null', '-e', '/dev/null', `--chdir=${dir}`, ...extra];
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
  const start = performance.now();
  let next = 0;
  const submitter = async () => {
    while (next < jobs) {
      next++;
      await sbatch(s.env, s.dir, []);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SUBMITTERS, jobs) }, submitter));
  const seconds = secondsSince(start);
  s.log(`sbatch loop: ${jobs} jobs submitted in ${round(seconds)} s (${round(jobs / seconds, 1)}/s)`);
}

/** Seconds from the first submission until every job has finished. */
async function measure(s: Session, label: string, jobs: number, submit: () => Promise<void>) {
  s.tail.reset();
  const start = performance.now();
  await submit();
  const seconds = (await waitAllDone(s, label, jobs, start)) / 1000 - start / 1000;
  const failed = [...s.tail.states].filter(([state]) => state !== 'COMPLETED');
  if (failed.length > 0) throw new Error(`${label}: jobs did not complete: ${JSON.stringify(failed)}`);
  s.log(`${label}: ${jobs} jobs finished in ${round(seconds)} s (${round(jobs / seconds, 1)} jobs/s)`);
  return seconds;
}

async function startCluster(s: Session, jobs: number): Promise<void> {
  const conf = join(s.dir, 'slurm.conf');
  writeFileSync(conf, slurmConf(s.dir, jobs));
  s.daemons.push(startDaemon(s.dir, 'slurmctld', ['slurmctld', '-D', '-f', conf], { env: s.env }));
  for (const n of NODES)
    s.daemons.push(startDaemon(s.dir, `slurmd-${n}`, ['slurmd', '-D', '-N', n, '-f', conf], { env: s.env }));
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
  const installed = process.getuid?.() === 0 ? await ensureInstalled(log) : 'needs root (apt-get, daemons)';
  if (typeof installed === 'string') {
    log(`slurm benchmark skipped: ${installed}`);
    return { skipped: installed };
  }
  await cleanLeftovers(log);
  const dir = mkdtempSync(PREFIX);
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  for (const d of ['state', 'spool', 'run', 'log']) mkdirSync(join(dir, d));
  const env = { ...process.env, SLURM_CONF: join(dir, 'slurm.conf') };
  const s: Session = { dir, env, log, daemons: [], tail: new JobcompTail(join(dir, 'jobcomp.txt')) };
  // If this process exits without reaching `finally` (signal), kill what it started; cleanLeftovers() does the rest.
  const onExit = () => {
    for (const d of s.daemons) if (!exited(d.child)) d.child.kill('SIGKILL');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300); // let slurmd die before sweeping its steps
    for (const pid of processesUnder(`${dir}/`)) signal(pid, 'SIGKILL');
  };
  process.on('exit', onExit);
  try {
    await ensureMunge(s);
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
    await terminate(processesUnder(`${dir}/`), 'remaining job step(s)', log);
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
