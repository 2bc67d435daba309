/**
 * Task throughput (issue 5), all in one run on this machine:
 * 1. Raw in-sandbox spawn: `nsenter` into one running node sandbox (all its namespaces, its user namespace too) and
 *    run `/bin/true`, 4 loops in parallel — the cheapest way to start a process in an existing sandbox (the peer
 *    for the ≥ 50 % goal).
 * 2. Lazurite, the real server (`lazurite start`, local sandboxes) driven by `@azure/batch`: 10,000 `/bin/true`
 *    tasks on a 16-node pool (4 slots each, 64 in all), from the first add to the last completion —
 *    a) added one by one (`task.add`, 8 callers at once), b) added as 100 collections of 100 (`addCollection`).
 * 3. Slurm (`bench/slurm.ts`): the same 10,000 jobs on a single-host slurm-wlm cluster with 64 CPUs, as an
 *    `sbatch --wrap` loop and as one job array.
 * Also the CPU time per task of each Lazurite run and per raw spawn: everything this bench starts (client, server,
 * nodes, tasks) is in one cpuacct cgroup, so the figure depends much less on other load than the rates do.
 * 4. With BENCH_STORES=sqlite,postgres the Lazurite part runs once per store, the second time on a throw-away
 *    PostgreSQL cluster (`--database-url`, fsync on; ADR 0029), and the ratio of the rates is printed.
 * Env: BENCH_TASKS (default 10000), BENCH_SKIP_SLURM=1, BENCH_STORES (default sqlite).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startThrowawayCluster } from '../src/storage/postgres/cluster.fixture.ts';
import { startServer, type TestServer } from '../tests/compat/harness.ts';
import { tinyPoolSpec } from '../tests/compat/pool-image.ts';
import { cpuClock } from './cpu-clock.ts';
import { runSlurmBench } from './slurm.ts';

const COUNT = Number(process.env.BENCH_TASKS ?? 10_000);
type StoreKind = 'sqlite' | 'postgres';
const STORES = (process.env.BENCH_STORES ?? 'sqlite').split(',').map((s) => s.trim() as StoreKind);
const NODES = 16;
const SLOTS = 4;
const now = () => Number(process.hrtime.bigint()) / 1e6;
const log = (line: string) => process.stderr.write(`${line}\n`);

async function inParallel<T>(items: T[], concurrency: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

function client(server: TestServer): BatchServiceClient {
  const c = server.connection;
  return new BatchServiceClient(
    new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
    new URL(c.batchUrl).origin,
  );
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `count` runs of /bin/true inside the node whose holder is `pid`, in 4 shell loops of nsenter. */
function rawSpawns(pid: number, count: number): Promise<number> {
  const per = Math.ceil(count / 4);
  const loop = `i=0; while [ $i -lt ${String(per)} ]; do nsenter -t ${String(pid)} -m -p -u -i -n -C -U -r -w /bin/true || exit 1; i=$((i+1)); done`;
  const start = now();
  return Promise.all(
    Array.from(
      { length: 4 },
      () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn('sh', ['-c', loop], { stdio: 'ignore' });
          child.on('close', (code) => {
            if (code === 0) resolve();
            else reject(new Error(`raw spawn loop exited ${String(code)}`));
          });
        }),
    ),
  ).then(() => (per * 4) / ((now() - start) / 1000));
}

function holderPid(dataDir: string): number {
  const nodes = join(dataDir, 'nodes');
  const first = readdirSync(nodes)[0] ?? '';
  return Number(readFileSync(join(nodes, first, 'holder.pid'), 'utf8').trim());
}

const cpu = cpuClock();

/** CPU ms per item of `count` over `work` (all processes of this bench). */
async function cpuPer<T>(count: number, work: () => Promise<T>): Promise<{ value: T; cpuMs: number }> {
  const before = cpu.ms();
  const value = await work();
  return { value, cpuMs: (cpu.ms() - before) / count };
}

async function runJob(batch: BatchServiceClient, id: string, mode: 'add' | 'collection'): Promise<number> {
  await batch.job.add({ id, poolInfo: { poolId: 'bench' } });
  const tasks = Array.from({ length: COUNT }, (_, i) => ({ id: `t${String(i)}`, commandLine: '/bin/true' }));
  const start = now();
  if (mode === 'add') {
    await inParallel(tasks, 8, (t) => batch.task.add(id, t));
  } else {
    const chunks = Array.from({ length: Math.ceil(COUNT / 100) }, (_, i) =>
      tasks.slice(i * 100, i * 100 + 100),
    );
    await inParallel(chunks, 4, async (c) => {
      const r = await batch.task.addCollection(id, c);
      if (r.value?.some((v) => v.status !== 'success')) throw new Error('a task was refused');
    });
  }
  log(`  ${id}: all ${String(COUNT)} added after ${((now() - start) / 1000).toFixed(1)} s`);
  await until(
    async () => (await batch.job.getTaskCounts(id)).taskCounts.completed === COUNT,
    `${id} to complete`,
    1_800_000,
  );
  const seconds = (now() - start) / 1000;
  const counts = await batch.job.getTaskCounts(id);
  if (counts.taskCounts.succeeded !== COUNT) throw new Error(`${id}: ${JSON.stringify(counts.taskCounts)}`);
  return seconds;
}

interface LazuriteRun {
  raw: number;
  add: number;
  collection: number;
  peakRssMB: number;
  cpuMs: { raw: number; add: number; collection: number };
}

async function lazurite(store: StoreKind): Promise<LazuriteRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-bench-tasks-'));
  const cluster = store === 'postgres' ? startThrowawayCluster({ durable: true }) : undefined;
  const args = cluster ? ['--database-url', await cluster.newDatabase()] : [];
  const server = await startServer(args, dataDir).catch((err: unknown) => {
    cluster?.stop();
    throw err;
  });
  try {
    const batch = client(server);
    await batch.pool.add(tinyPoolSpec('bench', NODES, { vmSize: 'standard_d4_v3', taskSlotsPerNode: SLOTS }));
    await until(
      async () => (await batch.computeNode.list('bench')).filter((n) => n.state === 'idle').length === NODES,
      'the pool to be idle',
      300_000,
    );
    const raw = await cpuPer(2000, () => rawSpawns(holderPid(dataDir), 2000));
    log(`  raw in-sandbox spawn: ${raw.value.toFixed(0)}/s`);
    let peak = 0;
    const sampler = setInterval(() => {
      const status = readFileSync(`/proc/${String(server.process.pid)}/status`, 'utf8');
      peak = Math.max(peak, Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
    }, 200);
    const add = await cpuPer(COUNT, () => runJob(batch, 'one-by-one', 'add'));
    const collection = await cpuPer(COUNT, () => runJob(batch, 'collections', 'collection'));
    clearInterval(sampler);
    return {
      raw: raw.value,
      add: COUNT / add.value,
      collection: COUNT / collection.value,
      peakRssMB: peak,
      cpuMs: { raw: raw.cpuMs, add: add.cpuMs, collection: collection.cpuMs },
    };
  } finally {
    await server.stop();
    cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The same Lazurite run per store, and how PostgreSQL's rates compare with SQLite's. */
async function compareStores(): Promise<void> {
  const runs = new Map<StoreKind, LazuriteRun>();
  for (const store of STORES) {
    log(`Lazurite on ${store}: ${String(COUNT)} tasks on ${String(NODES)} nodes × ${String(SLOTS)} slots`);
    runs.set(store, await lazurite(store));
  }
  cpu.done();
  const out = (row: string) => process.stdout.write(`${row}\n`);
  out(
    `\n| ${String(COUNT)} trivial tasks, 64 slots | one by one, tasks/s | addCollection, tasks/s | CPU/task one by one | CPU/task collection |`,
  );
  out('|---|---|---|---|---|');
  for (const [store, l] of runs)
    out(
      `| ${store} | ${l.add.toFixed(1)} | ${l.collection.toFixed(1)} | ${l.cpuMs.add.toFixed(2)} ms | ${l.cpuMs.collection.toFixed(2)} ms |`,
    );
  const sqlite = runs.get('sqlite');
  const postgres = runs.get('postgres');
  if (sqlite && postgres)
    out(
      `\nSQLite ÷ PostgreSQL: one by one ${(sqlite.add / postgres.add).toFixed(2)}×, addCollection ${(sqlite.collection / postgres.collection).toFixed(2)}× (goal ≤ 2×).`,
    );
}

async function main(): Promise<void> {
  if (STORES.length > 1 || STORES[0] !== 'sqlite') return compareStores();
  log(`Lazurite: ${String(COUNT)} tasks on ${String(NODES)} nodes × ${String(SLOTS)} slots`);
  const l = await lazurite('sqlite').finally(() => {
    cpu.done();
  });
  const slurm =
    process.env.BENCH_SKIP_SLURM === '1'
      ? { skipped: 'BENCH_SKIP_SLURM=1' }
      : await runSlurmBench(COUNT, log);
  const out = (row: string) => process.stdout.write(`${row}\n`);
  out(`\n| ${String(COUNT)} trivial tasks (\`/bin/true\`), 64 slots | tasks/s | ratio |`);
  out('|---|---|---|');
  out(`| raw in-sandbox spawn (nsenter, 4 loops) — peer for the 50 % goal | ${l.raw.toFixed(0)} | |`);
  out(
    `| Lazurite, tasks added one by one (8 callers) | ${l.add.toFixed(1)} | ${((l.add / l.raw) * 100).toFixed(0)} % of raw spawn |`,
  );
  out(
    `| Lazurite, addCollection (100 × 100) | ${l.collection.toFixed(1)} | ${((l.collection / l.raw) * 100).toFixed(0)} % of raw spawn |`,
  );
  if ('skipped' in slurm) out(`| Slurm | skipped: ${slurm.skipped} | |`);
  else {
    out(
      `| Slurm ${slurm.version}, \`sbatch --wrap\` loop | ${slurm.sbatchPerSec.toFixed(1)} | one-by-one ÷ sbatch = ${(l.add / slurm.sbatchPerSec).toFixed(1)}× |`,
    );
    out(
      `| Slurm, job array | ${slurm.arrayPerSec.toFixed(1)} | addCollection ÷ array = ${(l.collection / slurm.arrayPerSec).toFixed(1)}× |`,
    );
  }
  out(`\nServer peak RSS during the task runs: ${l.peakRssMB.toFixed(0)} MB.`);
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  out(
    `CPU per task, all processes of this bench: raw spawn ${ms(l.cpuMs.raw)}, one by one ${ms(l.cpuMs.add)}, addCollection ${ms(l.cpuMs.collection)}.`,
  );
}

await main();
