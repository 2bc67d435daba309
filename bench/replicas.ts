/**
 * `node bench/replicas.ts`: several servers on one PostgreSQL database (issue 15 item 3, ADR 0033). On a
 * throw-away cluster, one server is measured alone, then a second joins and the same clients are spread over both
 * (same run, same database): requests/s of `GET /pools/{id}` and of single task adds (`POST /jobs/{id}/tasks`),
 * with p50/p99. Overridable: BENCH_REPLICA_CLIENTS (32), BENCH_REPLICA_SECONDS (20).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConnectionInfo } from '../src/app/main.ts';
import { startThrowawayCluster } from '../src/storage/postgres/cluster.fixture.ts';
import { batchToken } from './batch-token.ts';

const CLIENTS = Number(process.env.BENCH_REPLICA_CLIENTS ?? 32);
const SECONDS = Number(process.env.BENCH_REPLICA_SECONDS ?? 20);
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const API = 'api-version=2024-07-01.20.0';
const now = () => Number(process.hrtime.bigint()) / 1e6;

interface Running {
  connection: ConnectionInfo;
  stop: () => Promise<void>;
}

async function startServer(dir: string, args: string[]): Promise<Running> {
  const argv = [CLI, 'start', '--port', '0', '--data-dir', dir, '--log-level', 'warn', ...args];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Lazurite is listening on')) resolve();
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      reject(new Error(`server exited (${String(code)}): ${out}`));
    });
  });
  const connection = JSON.parse(readFileSync(join(dir, 'connection.json'), 'utf8')) as ConnectionInfo;
  return {
    connection,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function call(agent: Agent, url: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const method = body === undefined ? 'GET' : 'POST';
    const req = request(url, { agent, method, headers }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

type Op = 'get pool' | 'add task';

/** `CLIENTS` clients for `SECONDS`, client i on server i mod n; requests/s, p50, p99, non-2xx count. */
async function measure(servers: Running[], op: Op, auths: string[], label: string): Promise<string> {
  const agents = servers.map(() => new Agent({ keepAlive: true, maxSockets: CLIENTS }));
  const end = now() + SECONDS * 1000;
  const latencies: number[] = [];
  const failed = new Map<number, number>();
  let seq = 0;
  const client = async (i: number) => {
    const server = servers[i % servers.length];
    const agent = agents[i % servers.length];
    const auth = auths[i % servers.length];
    if (server === undefined || agent === undefined || auth === undefined) return;
    const base = server.connection.batchUrl;
    const headers: Record<string, string> = { authorization: auth, 'content-type': 'application/json' };
    while (now() < end) {
      const t = now();
      const status =
        op === 'get pool'
          ? await call(agent, `${base}/pools/bench-pool?${API}`, headers).catch(() => -1)
          : await call(
              agent,
              `${base}/jobs/bench-job/tasks?${API}`,
              headers,
              JSON.stringify({ id: `${label}-${String(seq++)}`, commandLine: 'true' }),
            ).catch(() => -1);
      latencies.push(now() - t);
      if (status < 200 || status > 299) failed.set(status, (failed.get(status) ?? 0) + 1);
    }
  };
  const started = now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
  const rate = latencies.length / ((now() - started) / 1000);
  for (const a of agents) a.destroy();
  latencies.sort((x, y) => x - y);
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return `| ${op} | ${String(servers.length)} | ${rate.toFixed(0)} | ${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 99))} | ${[...failed].map(([c, n]) => `${String(n)} × ${String(c)}`).join(', ') || '0'} |`;
}

async function main(): Promise<void> {
  const cluster = startThrowawayCluster();
  const url = await cluster.newDatabase();
  const work = mkdtempSync(join(tmpdir(), 'lazurite-bench-replicas-'));
  const { writeFileSync } = await import('node:fs');
  const { randomBytes } = await import('node:crypto');
  const keyFile = join(work, 'sealing.key');
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  const args = ['--node-backend', 'simulated', '--database-url', url, '--sealing-key-file', keyFile];
  const servers: Running[] = [];
  try {
    servers.push(await startServer(join(work, 'a'), args));
    const first = servers[0];
    if (first === undefined) return;
    const { setDefaultCACertificates, getCACertificates } = await import('node:tls');
    setDefaultCACertificates([
      ...getCACertificates('default'),
      readFileSync(first.connection.caCertPath, 'utf8'),
    ]);
    const auth = `Bearer ${await batchToken(first.connection)}`;
    const agent = new Agent({ keepAlive: true });
    const headers = { authorization: auth, 'content-type': 'application/json' };
    const pool = { id: 'bench-pool', vmSize: 'standard_a1_v2', targetDedicatedNodes: 0 };
    const image = { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' };
    const vmc = { imageReference: image, nodeAgentSKUId: 'batch.node.lazurite tiny' };
    const base = first.connection.batchUrl;
    await call(
      agent,
      `${base}/pools?${API}`,
      headers,
      JSON.stringify({ ...pool, virtualMachineConfiguration: vmc }),
    );
    await call(
      agent,
      `${base}/jobs?${API}`,
      headers,
      JSON.stringify({ id: 'bench-job', poolInfo: { poolId: 'bench-pool' } }),
    );
    agent.destroy();
    const one = [auth];
    const rows = [
      await measure(servers, 'get pool', one, 'one'),
      await measure(servers, 'add task', one, 'one'),
    ];
    const second = await startServer(join(work, 'b'), args);
    servers.push(second);
    const two = [auth, `Bearer ${await batchToken(second.connection)}`];
    rows.push(await measure(servers, 'get pool', two, 'two'), await measure(servers, 'add task', two, 'two'));
    process.stdout.write(
      [
        `${String(CLIENTS)} clients × ${String(SECONDS)} s per row, PostgreSQL (throw-away cluster), simulated nodes`,
        '| operation | servers | requests/s | p50 | p99 | non-2xx |',
        '|---|---|---|---|---|---|',
        ...rows,
        '',
      ].join('\n'),
    );
  } finally {
    for (const s of servers) await s.stop();
    cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
