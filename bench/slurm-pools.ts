/**
 * Slurm node backend benchmarks (issue 14), in one run, on `lazurite cluster` (real slurmctld/slurmd, each host in
 * its own namespaces on this machine) with the real server in this process and @azure/batch:
 * 1. Scaling: a pool of N nodes (tiny image, standard_a1_v2: one core each) to all idle on 3 hosts vs on 1 host
 *    (same total cores). Efficiency = (time on 1 host ÷ time on 3 hosts) ÷ 3. The hosts share this machine's
 *    cores, so this measures the backend's overhead per host, not extra hardware.
 * 2. Cold vs warm: on the 3 hosts, the first pool pulls the image into each host's empty cache; a second pool of
 *    the same image finds it there.
 * 3. Image pull throughput: one 256 MB layer over HTTPS from the server's region store into a host-style cache
 *    (ImagePuller: digest-verified), against `cp` of the same bytes on the same disk.
 * Standalone: `node bench/slurm-pools.ts [nodes]`. Each node is one Slurm job running one Node.js agent (~160 MB
 * resident each), so 300 nodes need ~48 GB: without an argument N is 300 or, if memory is short, the multiple of 3
 * that a quarter of the free memory holds (the output says which).
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { freemem, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { promisify } from 'node:util';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startLazurite } from '../src/app/main.ts';
import { agentTokenFor } from '../src/app/pools-runtime.ts';
import { httpsBlobFetch, ImagePuller } from '../src/backends/image-pull.ts';
import { loadConfig } from '../src/config/config.ts';
import type { Digest } from '../src/content/blob-store.ts';
import { putManifest } from '../src/content/manifests.ts';
import { RegionStores } from '../src/content/regions.ts';
import { systemClock } from '../src/platform/clock.ts';

const run = promisify(execFile);
const MB = 1024 * 1024;
const CLI = new URL('../src/cli/main.ts', import.meta.url).pathname;
const now = () => Number(process.hrtime.bigint()) / 1e6;
const out = (line: string) => process.stdout.write(`${line}\n`);
const log = (line: string) => process.stderr.write(`slurm-pools: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Cluster {
  batch: BatchServiceClient;
  dataDir: string;
  origin: string;
  caPem: string;
  stop(): Promise<void>;
}

/** `lazurite cluster up` with `hosts` hosts sharing `cores` cores, and a server on it in this process. */
async function cluster(name: string, hosts: number, cores: number, net: number): Promise<Cluster> {
  const base = mkdtempSync(join(tmpdir(), `lazurite-bench-slurm-${name}-`));
  const stateDir = join(base, 'cluster');
  const perHost = Math.ceil(cores / hosts);
  const { stdout } = await run(process.execPath, [
    CLI,
    'cluster',
    'up',
    '--hosts',
    String(hosts),
    '--cpus-per-host',
    String(perHost),
    '--memory-per-host',
    String(perHost * 2048),
    '--state-dir',
    stateDir,
    '--network',
    `10.253.${String(net)}.0/24`,
    '--controller-port',
    String(6850 + net),
    '--json',
  ]);
  const args = (JSON.parse(stdout) as { serverArgs: string[] }).serverArgs;
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2)
    flags[(args[i] ?? '').slice(2).replace(/-(\w)/g, (_m, c: string) => c.toUpperCase())] = args[i + 1] ?? '';
  const dataDir = join(base, 'server');
  const down = async () => {
    await run(process.execPath, [CLI, 'cluster', 'down', '--state-dir', stateDir]);
    rmSync(base, { recursive: true, force: true });
  };
  const server = await startLazurite(
    loadConfig({ ...flags, port: 0, dataDir, logLevel: 'warn', nodeNetwork: `10.216.${String(net)}.0/24` }),
    { clock: systemClock },
  ).catch(async (err: unknown) => {
    await down();
    throw err;
  });
  const caPem = readFileSync(server.connection.caCertPath, 'utf8');
  setDefaultCACertificates([...getCACertificates('default'), caPem]);
  const c = server.connection;
  return {
    batch: new BatchServiceClient(
      new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
      new URL(c.batchUrl).origin,
    ),
    dataDir,
    origin: server.origin,
    caPem,
    stop: async () => {
      await server.close();
      await down();
    },
  };
}

/** Seconds from adding a pool of `nodes` tiny nodes to all of them idle. */
async function poolToIdle(batch: BatchServiceClient, id: string, nodes: number): Promise<number> {
  const t0 = now();
  await batch.pool.add({
    id,
    vmSize: 'standard_a1_v2',
    virtualMachineConfiguration: {
      imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
      nodeAgentSKUId: 'batch.node.lazurite tiny',
    },
    targetDedicatedNodes: nodes,
  });
  for (;;) {
    const list = await batch.computeNode.list(id, { computeNodeListOptions: { select: 'id,state' } });
    const all = [...list];
    const bad = all.filter((n) => n.state === 'unusable' || n.state === 'starttaskfailed');
    if (bad.length > 0) throw new Error(`${String(bad.length)} nodes of ${id} ${String(bad[0]?.state)}`);
    if (all.length === nodes && all.every((n) => n.state === 'idle')) return (now() - t0) / 1000;
    await sleep(500);
  }
}

async function deletePool(batch: BatchServiceClient, id: string): Promise<void> {
  await batch.pool.deleteMethod(id);
  while ((await batch.pool.list()).some((p) => p.id === id)) await sleep(500);
}

interface PullResult {
  /** MB/s of the pull and of `cp`. */
  pull: number;
  cp: number;
  bytes: number;
  /** CPU seconds of the pulling process per wall second (near 1: the pull is bound by its CPU). */
  pullCpu: number;
  /** MB/s of `sha256sum` over the same bytes. */
  sha: number;
}

/** 256 MB layer in the server's store: ImagePuller over HTTPS vs `cp`, MB/s each. */
async function pullVsCp(c: Cluster): Promise<PullResult> {
  const bytes = 256 * MB;
  const scratch = mkdtempSync(join(c.dataDir, 'pull-bench-'));
  const file = join(scratch, 'layer');
  const fd = openSync(file, 'w');
  const buf = Buffer.alloc(8 * MB);
  for (let done = 0; done < bytes; done += buf.length) writeSync(fd, randomFillSync(buf));
  closeSync(fd);
  const server = await new RegionStores({ westeurope: join(c.dataDir, 'regions', 'westeurope') }).get(
    'westeurope',
  );
  const { digest: layer } = await server.putFile(file);
  const root = await putManifest(server, { kind: 'filesystem', sizeGB: 1, layers: [layer] });
  execFileSync('sync');
  const t0 = now();
  execFileSync('cp', [server.path(layer), join(scratch, 'copy')]);
  execFileSync('sync');
  const cp = bytes / MB / ((now() - t0) / 1000);
  // The digest check alone (a floor under any verified pull): sha256sum of the same bytes.
  const t2 = now();
  execFileSync('sha256sum', [server.path(layer)]);
  const sha = bytes / MB / ((now() - t2) / 1000);
  // The puller runs in a process of its own, as a host's agent does (not sharing this process's thread with the
  // server's TLS).
  const { stdout } = await run(process.execPath, [
    fileURLToPath(import.meta.url),
    '--pull',
    c.origin,
    c.dataDir,
    root,
    join(scratch, 'host-cache'),
  ]);
  const [wall, cpu] = stdout.trim().split(' ').map(Number);
  const pull = bytes / MB / (wall ?? 1);
  const pullCpu = (cpu ?? 0) / (wall ?? 1);
  rmSync(scratch, { recursive: true, force: true });
  return { pull, cp, bytes, pullCpu, sha };
}

export async function runSlurmPoolsBench(nodes: number): Promise<void> {
  const load0 = loadavg()[0] ?? 0;
  const free0 = freemem() / 1024 ** 3;
  log(`${String(nodes)} nodes; load ${load0.toFixed(2)}, ${free0.toFixed(1)} GB free`);
  const three = await cluster('three', 3, nodes, 41);
  let cold3: number, warm3: number, pull: PullResult;
  try {
    cold3 = await poolToIdle(three.batch, 'cold', nodes);
    log(`3 hosts, cold caches: ${cold3.toFixed(1)} s`);
    await deletePool(three.batch, 'cold');
    warm3 = await poolToIdle(three.batch, 'warm', nodes);
    log(`3 hosts, warm caches: ${warm3.toFixed(1)} s`);
    await deletePool(three.batch, 'warm');
    pull = await pullVsCp(three);
    log(`pull ${pull.pull.toFixed(0)} MB/s, cp ${pull.cp.toFixed(0)} MB/s`);
  } finally {
    await three.stop();
  }
  const one = await cluster('one', 1, nodes, 42);
  let cold1: number;
  try {
    cold1 = await poolToIdle(one.batch, 'cold', nodes);
    log(`1 host, cold cache: ${cold1.toFixed(1)} s`);
    await deletePool(one.batch, 'cold');
  } finally {
    await one.stop();
  }
  const load1 = loadavg()[0] ?? 0;
  out(`\n### Slurm node backend: ${String(nodes)} nodes (standard_a1_v2, tiny image), one Slurm job each\n`);
  out(`Machine load (1-min average) ${load0.toFixed(2)} at the start, ${load1.toFixed(2)} at the end.\n`);
  out('| Measurement | Result |');
  out('|---|---|');
  out(`| ${String(nodes)} nodes on 3 hosts to all idle (cold caches) | ${cold3.toFixed(1)} s |`);
  out(`| ${String(nodes)} nodes on 1 host to all idle (cold cache) | ${cold1.toFixed(1)} s |`);
  out(`| Scaling efficiency, (1-host time ÷ 3-host time) ÷ 3 | ${(cold1 / cold3 / 3).toFixed(2)} |`);
  out(
    `| Second pool on the 3 hosts (warm caches) | ${warm3.toFixed(1)} s (${(cold3 / warm3).toFixed(2)}× faster) |`,
  );
  out(
    `| Image pull over HTTPS, ${String(pull.bytes / MB)} MB layer, digest-verified | ${pull.pull.toFixed(0)} MB/s (puller CPU ${pull.pullCpu.toFixed(2)} s per s) |`,
  );
  out(`| \`cp\` of the same bytes | ${pull.cp.toFixed(0)} MB/s |`);
  out(`| \`sha256sum\` of the same bytes (the digest check alone) | ${pull.sha.toFixed(0)} MB/s |`);
  out(`| Pull ÷ cp (goal ≥ 0.8) | ${(pull.pull / pull.cp).toFixed(2)} |`);
}

/** Child mode: pulls `root` from the server into a fresh cache and prints the seconds it took (with a sync). */
async function pullOnce(origin: string, dataDir: string, root: Digest, cacheDir: string): Promise<void> {
  const fetch = httpsBlobFetch(
    origin,
    agentTokenFor(dataDir),
    readFileSync(join(dataDir, 'tls', 'ca.pem'), 'utf8'),
  );
  const t0 = now();
  await new ImagePuller(fetch, new RegionStores({ westeurope: cacheDir })).pull({
    region: 'westeurope',
    osManifest: root,
    dataDisks: [],
  });
  execFileSync('sync');
  const cpu = process.cpuUsage();
  out(`${String((now() - t0) / 1000)} ${String((cpu.user + cpu.system) / 1e6)}`);
}

if (process.argv[2] === '--pull') {
  const [origin, dataDir, root, cacheDir] = process.argv.slice(3);
  await pullOnce(origin ?? '', dataDir ?? '', root as Digest, cacheDir ?? '');
  process.exit(0);
} else if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const fits = 3 * Math.floor(freemem() / 4 / (160 * MB) / 3);
  await runSlurmPoolsBench(Number(process.argv[2] ?? Math.max(3, Math.min(300, fits))));
  process.exit(0);
}
