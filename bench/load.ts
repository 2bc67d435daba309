/**
 * `node bench/load.ts`: the server under load (issue 20, item 8). 100 clients each send `GET …/pools` (Batch data
 * plane, Entra ID bearer token, keep-alive) as fast as they are answered for 60 s, while a prober asks `/health`
 * every 100 ms. Reports requests/s, p50/p99 latency, the answers by status (429/503 are load shedding), and the
 * `/health` p50/p99. `BENCH_SERVER_ROOT=<checkout>` starts the server of another checkout (a `git worktree` of an
 * older commit with node_modules linked) so before and after run on the same machine in the same hour.
 * Overridable: BENCH_LOAD_CLIENTS (100), BENCH_LOAD_SECONDS (60).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConnectionInfo } from '../src/app/main.ts';

const CLIENTS = Number(process.env.BENCH_LOAD_CLIENTS ?? 100);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 60);
const ROOT = process.env.BENCH_SERVER_ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function startServer(dir: string): Promise<{ connection: ConnectionInfo; stop: () => Promise<void> }> {
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
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
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

async function token(c: ConnectionInfo): Promise<string> {
  const res = await fetch(`${c.authorityHost}/${c.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: c.clientId,
      client_secret: c.clientSecret,
      scope: 'https://batch.core.windows.net//.default',
    }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-load-'));
  const server = await startServer(dir);
  const c = server.connection;
  const ca = readFileSync(c.caCertPath, 'utf8');
  const { setDefaultCACertificates, getCACertificates } = await import('node:tls');
  setDefaultCACertificates([...getCACertificates('default'), ca]);
  const auth = { authorization: `Bearer ${await token(c)}` };
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS + 1 });
  const pools = `${c.batchUrl}/pools?api-version=2024-07-01.20.0`;
  const end = now() + SECONDS * 1000;
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const client = async () => {
    while (now() < end) {
      const t = now();
      const status = await get(agent, ca, pools, auth).catch(() => -1);
      latencies.push(now() - t);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  const health: number[] = [];
  const prober = async () => {
    const probeAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (now() < end) {
      const t = now();
      await get(probeAgent, ca, `${c.armEndpoint}/health`, {}).catch(() => -1);
      health.push(now() - t);
      await new Promise((r) => setTimeout(r, 100));
    }
    probeAgent.destroy();
  };
  const started = now();
  await Promise.all([...Array.from({ length: CLIENTS }, client), prober()]);
  const elapsed = (now() - started) / 1000;
  agent.destroy();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  health.sort((a, b) => a - b);
  const ms = (v: number) => `${v.toFixed(0)} ms`;
  process.stdout.write(
    [
      `| server | clients × s | requests/s | p50 | p99 | answers | /health p50 | /health p99 |`,
      `|---|---|---|---|---|---|---|---|`,
      `| ${ROOT} | ${String(CLIENTS)} × ${String(SECONDS)} | ${(latencies.length / elapsed).toFixed(0)} | ${ms(percentile(latencies, 50))} | ${ms(percentile(latencies, 99))} | ${[...statuses].map(([s, n]) => `${String(s)}: ${String(n)}`).join(', ')} | ${ms(percentile(health, 50))} | ${ms(percentile(health, 99))} |`,
      '',
    ].join('\n'),
  );
}

await main();
