/**
 * Pool benchmarks (issue 4):
 * 1. Raw cost of 1,000 bare sandboxes (unshare + overlay mount + chroot + `true`, concurrency 4), the peer.
 * 2. A 1,000-node pool from a gallery image (tiny base) with a trivial start task, to steady with all nodes idle,
 *    through the real services, sizer and in-process host agent with the local executor. Ratio to 1.
 * 3. Simulated backend, 3,000 nodes: gallery image with 1 vs 10 replicas and a managed image — time to steady and
 *    mean node idle latency (R16), with modelled durations scaled down 100× (hydrate 20 ms per node).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCache } from '../src/backends/local/image-cache.ts';
import { LocalNodeExecutor } from '../src/backends/local/node-executor.ts';
import type { NodeExecutor } from '../src/backends/port.ts';
import { SimulatedNodeExecutor } from '../src/backends/simulated/node-executor.ts';
import { buildTinyRootfs } from '../src/content/rootfs/tiny.ts';
import { regionPaths, RegionStores } from '../src/content/regions.ts';
import type { Caller } from '../src/domain/authorization/access.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from '../src/domain/environment/well-known.ts';
import { PoolService } from '../src/domain/pools/pools.ts';
import { loadConfig } from '../src/config/config.ts';
import { DEFAULT_QUOTAS } from '../src/domain/accounts/quotas.ts';
import { systemClock } from '../src/platform/clock.ts';
import { createLogger } from '../src/platform/logger.ts';
import { poolsRuntime } from '../src/app/pools-runtime.ts';
import { randomIds } from '../src/platform/ids.ts';
import type { BatchAccountRecord, PoolImageBinding } from '../src/storage/records.ts';
import { openSqliteStore } from '../src/storage/sqlite/open.ts';
import { predict } from '../src/domain/pools/planner.ts';
import { galleryVersionFromTiny } from './pool-image.ts';

const owner: Caller = {
  objectId: WELL_KNOWN.principalObjectId,
  tenantId: WELL_KNOWN.tenantId,
  appId: WELL_KNOWN.clientId,
};
const rows = {
  push(row: string): void {
    process.stdout.write(`${row}\n`);
  },
};
const now = () => Number(process.hrtime.bigint()) / 1e6;

function sh(script: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(
      'unshare',
      ['--mount', '--pid', '--fork', '--propagation', 'private', 'sh', '-c', script],
      { stdio: 'ignore' },
    );
    child.on('close', (code) => {
      resolve(code ?? 1);
    });
  });
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** 1,000 bare sandboxes over the tiny root file system: the cheapest thing a node could be. */
async function rawSandboxes(dir: string, count: number): Promise<number> {
  const lower = join(dir, 'raw-lower');
  mkdirSync(lower, { recursive: true });
  await buildTinyRootfs(lower);
  const ids = Array.from({ length: count }, (_, i) => i);
  const start = now();
  await pool(ids, 4, async (i) => {
    const d = join(dir, 'raw', String(i));
    const code = await sh(
      `mkdir -p ${d}/u ${d}/w ${d}/m && mount -t overlay overlay -o lowerdir=${lower},upperdir=${d}/u,workdir=${d}/w ${d}/m && mount -t proc proc ${d}/m/proc && chroot ${d}/m /bin/true`,
    );
    if (code !== 0) throw new Error(`raw sandbox ${String(i)} failed`);
  });
  return (now() - start) / 1000;
}

/** Polls until the pool is steady with `count` idle nodes. */
async function waitAllIdle(pools: PoolService, account: BatchAccountRecord, count: number) {
  for (;;) {
    const view = await pools.get(account, 'bench');
    const idle = view.nodes.filter((n) => n.state === 'idle').length;
    if (process.env.BENCH_DEBUG) process.stderr.write(`${view.pool.allocationState} idle ${String(idle)}\n`);
    if (view.pool.allocationState === 'steady' && view.nodes.length === count && idle === count) return view;
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface PoolRun {
  seconds: number;
  meanIdleLatencyS: number;
  peakRssMB: number;
}

async function runPool(options: {
  dir: string;
  executor: NodeExecutor;
  nodes: number;
  concurrency: number;
  capacityPerReplica: number;
  image: (
    ctx: Parameters<typeof galleryVersionFromTiny>[0],
    regions: RegionStores,
  ) => Promise<string | PoolImageBinding>;
}): Promise<PoolRun> {
  const regions = new RegionStores(regionPaths(options.dir, ['westeurope'], {}));
  const ctx = {
    store: await openSqliteStore(join(options.dir, 'state.db')),
    clock: systemClock,
    ids: randomIds,
    // Pools of thousands of nodes: no core quota in the way.
    quotas: () => ({ ...DEFAULT_QUOTAS, dedicatedCores: 1e9, lowPriorityCores: 1e9 }),
  };
  await seedWellKnownEnvironment(ctx);
  const account = (await ctx.store.transaction((tx) =>
    tx.findBatchAccountByName('lazurite'),
  )) as BatchAccountRecord;
  const image = await options.image(ctx, regions);
  // The server's own pool machinery (services, sizer loop, in-process host agent) with the bench's executor.
  const config = loadConfig({
    dataDir: options.dir,
    replicaCapacity: options.capacityPerReplica,
    logLevel: 'silent',
  });
  const runtime = poolsRuntime(
    config,
    ctx,
    { regions, imageCache: new ImageCache(options.dir, regions) },
    createLogger('silent'),
    () => 'https://bench',
    { executor: options.executor, agentConcurrency: options.concurrency },
  );
  const { pools } = runtime;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  runtime.start();
  const start = now();
  const vmc =
    typeof image === 'string'
      ? { imageReference: { virtualMachineImageId: image }, nodeAgentSKUId: 'batch.node.lazurite tiny' }
      : {
          imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
          nodeAgentSKUId: 'batch.node.lazurite tiny',
        };
  const added = await pools.add(
    account,
    { scheme: 'AAD', caller: owner },
    {
      id: 'bench',
      vmSize: 'standard_a1_v2',
      virtualMachineConfiguration: vmc,
      targetDedicatedNodes: options.nodes,
      resizeTimeout: 'PT60M',
      startTask: { commandLine: '/bin/true', userIdentity: { autoUser: { elevationLevel: 'admin' } } },
    },
  );
  if (typeof image !== 'string') await ctx.store.transaction((tx) => tx.putPool({ ...added, image }));
  const view = await waitAllIdle(pools, account, options.nodes);
  const seconds = (now() - start) / 1000;
  const latencies = view.nodes.map(
    (n) => (Date.parse(n.stateTransitionTime) - Date.parse(n.allocationTime)) / 1000,
  );
  clearInterval(sampler);
  await pools.delete(account, 'bench');
  while ((await pools.list(account)).length > 0) await new Promise((r) => setTimeout(r, 100));
  await runtime.stop();
  await ctx.store.close();
  return {
    seconds,
    meanIdleLatencyS: latencies.reduce((s, x) => s + x, 0) / latencies.length,
    peakRssMB: peak / 1024 / 1024,
  };
}

process.stdout.write('| pool measurement | result |\n|---|---|\n');
const LOCAL_NODES = Number(process.env.BENCH_LOCAL_NODES ?? 1000);
const SIM_NODES = Number(process.env.BENCH_SIM_NODES ?? 3000);
/** Modelled durations of the simulated runs: hydrate once per host, copy per node under a replica slot. */
const SIM_DELAYS = { hydrateMs: 20, copyMs: 100, bootMs: 10, execMs: 2 };

const ONLY = process.env.BENCH_ONLY ?? 'all';
const dir = mkdtempSync(join(tmpdir(), 'lazurite-bench-pools-'));
try {
  if (ONLY !== 'simulated') await localRuns(dir);
  if (ONLY !== 'local') await simulatedRuns(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

async function localRuns(dir: string): Promise<void> {
  const raw = await rawSandboxes(dir, LOCAL_NODES);
  rows.push(
    `| ${String(LOCAL_NODES)} bare sandboxes (unshare + overlay mount + /proc + chroot + true, concurrency 4) | ${raw.toFixed(2)} s (${(LOCAL_NODES / raw).toFixed(0)}/s) |`,
  );
  const localDir = join(dir, 'local');
  const regionsForLocal = new RegionStores(regionPaths(localDir, ['westeurope'], {}));
  const local = await runPool({
    dir: localDir,
    executor: new LocalNodeExecutor({ dataDir: localDir, regions: regionsForLocal }),
    nodes: LOCAL_NODES,
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 4),
    capacityPerReplica: 1000,
    image: (ctx, regions) => galleryVersionFromTiny(ctx, regions, localDir, 1),
  });
  rows.push(
    `| ${String(LOCAL_NODES)}-node pool from a gallery image, start task \`/bin/true\`, to all idle (local sandboxes) | ${local.seconds.toFixed(2)} s (${(LOCAL_NODES / local.seconds).toFixed(0)} nodes/s), peak RSS of server + agent ${local.peakRssMB.toFixed(0)} MB |`,
  );
  rows.push(`| pool / bare sandboxes | **${(local.seconds / raw).toFixed(2)}×** (goal ≤ 4×; goal ≤ 10 s) |`);
}

async function simulatedRuns(dir: string): Promise<void> {
  for (const [label, replicas, managed] of [
    ['gallery image, 1 replica', 1, false],
    ['gallery image, 10 replicas', 10, false],
    ['managed image', 1, true],
  ] as const) {
    const d = join(dir, `sim-${String(replicas)}-${String(managed)}`);
    const run = await runPool({
      dir: d,
      executor: new SimulatedNodeExecutor({ delays: SIM_DELAYS }),
      nodes: SIM_NODES,
      concurrency: 1024,
      capacityPerReplica: 25,
      image: async (ctx, regions) => {
        const id = await galleryVersionFromTiny(ctx, regions, d, replicas);
        if (!managed) return id;
        const p = await ctx.store.transaction((tx) => tx.findComputeResource(id));
        return {
          kind: 'managed',
          source: 'managed',
          region: 'westeurope',
          osManifest: String(p?.content?.manifest),
          dataDisks: [],
          replicaCount: 1,
          available: true,
        };
      },
    });
    // What `lazurite plan` predicts for the same settings (its model is the simulated backend's).
    const predicted = predict(
      { nodes: SIM_NODES, replicas, resizeTimeoutMs: 60 * 60_000 },
      {
        capacityPerReplica: 25,
        hydrateMs: SIM_DELAYS.hydrateMs,
        copyMs: SIM_DELAYS.copyMs,
        bootMs: SIM_DELAYS.bootMs,
        startTaskMs: SIM_DELAYS.execMs,
      },
    );
    rows.push(
      `| simulated ${String(SIM_NODES)} nodes, ${label} (25 copies per replica, copy ${String(SIM_DELAYS.copyMs)} ms per node) | steady in ${run.seconds.toFixed(2)} s (planner: ${(predicted.steadyMs / 1000).toFixed(2)} s), mean node idle latency ${run.meanIdleLatencyS.toFixed(2)} s (planner: ${(predicted.meanIdleLatencyMs / 1000).toFixed(2)} s) |`,
    );
  }
}
