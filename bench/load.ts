/**
 * `node bench/load.ts`: the server under load (issues 19 and 20). 100 connections (autocannon, keep-alive, Entra
 * ID bearer token) each cycle through three Batch data-plane calls for 60 s: `GET /pools`, a task add
 * (`POST /jobs/load/tasks`, a fresh id each) and a task list with `$filter=state eq 'active'` (100 per page), as
 * fast as they are answered, while a prober asks `/health` every 100 ms and the server's RSS is sampled every
 * second from /proc. Reports requests/s, p50/p99 latency, the answers by status (429/503 are load shedding;
 * errors are everything else that is not 2xx, goal 0), the `/health` p50/p99 and the server's peak RSS. The job
 * runs on a pool of 0 simulated nodes, so its tasks stay active and the list keeps getting longer to filter.
 * `BENCH_SERVER_ROOT=<checkout>` starts the server of another checkout (a `git worktree` of an older commit with
 * node_modules linked) so before and after run on the same machine in the same hour.
 * Overridable: BENCH_LOAD_CLIENTS (100), BENCH_LOAD_SECONDS (60).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { ConnectionInfo } from '../src/app/main.ts';
import { batchToken } from './batch-token.ts';

const CLIENTS = Number(process.env.BENCH_LOAD_CLIENTS ?? 100);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 60);
const ROOT = process.env.BENCH_SERVER_ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const API = 'api-version=2024-07-01.20.0';
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function startServer(
  dir: string,
): Promise<{ connection: ConnectionInfo; child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'src/cli/main.ts'),
      'start',
      '--port',
      '0',
      '--data-dir',
      dir,
      '--log-level',
      'warn',
      '--node-backend',
      'simulated',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Lazurite is listening on')) resolve();
    });
    child.on('exit', (code) => {
      reject(new Error(`server exited (${String(code)}): ${out}`));
    });
  });
  const connection = JSON.parse(readFileSync(join(dir, 'connection.json'), 'utf8')) as ConnectionInfo;
  return {
    connection,
    child,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The resident set of a process in MB, from /proc (0 once it is gone). */
function rssMb(pid: number | undefined): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1];
    return Number(kb ?? 0) / 1024;
  } catch {
    return 0;
  }
}

function get(agent: Agent, ca: string, url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, ca, headers }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN);

async function send(c: ConnectionInfo, auth: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${c.batchUrl}${path}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json; odata=minimalmetadata' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.status >= 300) throw new Error(`${method} ${path} → ${String(res.status)} ${await res.text()}`);
}

/** `/health` every 100 ms until `end`, on a connection of its own; the latencies, ms. */
async function probeHealth(c: ConnectionInfo, ca: string, end: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const health: number[] = [];
  while (now() < end) {
    const t = now();
    await get(agent, ca, `${c.armEndpoint}/health`, {}).catch(() => -1);
    health.push(now() - t);
    await new Promise((r) => setTimeout(r, 100));
  }
  agent.destroy();
  return health.sort((a, b) => a - b);
}

/** The three calls every connection cycles through; task ids are unique across connections. */
function requests(auth: string): autocannon.Request[] {
  let next = 0;
  const headers = { authorization: auth, 'content-type': 'application/json; odata=minimalmetadata' };
  return [
    { method: 'GET', path: `/batch/lazurite/pools?${API}`, headers },
    {
      method: 'POST',
      path: `/batch/lazurite/jobs/load/tasks?${API}`,
      headers,
      setupRequest: (req) => ({
        ...req,
        body: JSON.stringify({ id: `t${String(next++)}`, commandLine: 'true' }),
      }),
    },
    {
      method: 'GET',
      path: `/batch/lazurite/jobs/load/tasks?${API}&maxresults=100&$filter=${encodeURIComponent("state eq 'active'")}`,
      headers,
    },
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-load-'));
  const server = await startServer(dir);
  const c = server.connection;
  const ca = readFileSync(c.caCertPath, 'utf8');
  const { setDefaultCACertificates, getCACertificates } = await import('node:tls');
  setDefaultCACertificates([...getCACertificates('default'), ca]);
  const auth = `Bearer ${await batchToken(c)}`;
  const pool = { vmSize: 'standard_a1_v2', targetDedicatedNodes: 0 };
  const image = { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' };
  await send(c, auth, 'POST', `/pools?${API}`, {
    id: 'load',
    ...pool,
    virtualMachineConfiguration: { imageReference: image, nodeAgentSKUId: 'batch.node.lazurite tiny' },
  });
  await send(c, auth, 'POST', `/jobs?${API}`, { id: 'load', poolInfo: { poolId: 'load' } });
  let peakRss = rssMb(server.child.pid);
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssMb(server.child.pid));
  }, 1000);
  const end = now() + SECONDS * 1000;
  const [result, health] = await Promise.all([
    autocannon({
      url: c.armEndpoint,
      connections: CLIENTS,
      duration: SECONDS,
      requests: requests(auth),
    }),
    probeHealth(c, ca, end),
  ]);
  clearInterval(sampler);
  const rssEnd = rssMb(server.child.pid);
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  const answers = Object.entries(result.statusCodeStats ?? {})
    .map(([s, v]) => `${s}: ${String(v.count ?? 0)}`)
    .join(', ');
  const errors = result.errors + result.timeouts + result.non2xx;
  process.stdout.write(
    [
      `| server | clients × s | requests/s | p50 | p99 | answers | errors | /health p50 | /health p99 | RSS peak / end |`,
      `|---|---|---|---|---|---|---|---|---|---|`,
      `| ${ROOT} | ${String(CLIENTS)} × ${String(SECONDS)} | ${result.requests.average.toFixed(0)} | ${ms(result.latency.p50)} | ${ms(result.latency.p99)} | ${answers} | ${String(errors)} | ${ms(percentile(health, 50))} | ${ms(percentile(health, 99))} | ${peakRss.toFixed(0)} / ${rssEnd.toFixed(0)} MB |`,
      '',
    ].join('\n'),
  );
}

await main();
