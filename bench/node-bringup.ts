/**
 * Executor-level node bring-up: boot N local nodes (tiny image) and run `/bin/true` as each one's start task,
 * at agent-like concurrency, without the server. Prints wall time and the host's CPU time (user/system from
 * /proc/stat) so the executor's own cost can be told apart from the pool machinery's.
 * `BENCH_NODES` (default 300), `BENCH_CONCURRENCY` (default 4), `BENCH_NETWORK` (default 1: each node gets an
 * address of 10.216.0.0/16 and its veth pair, ADR 0021; 0: its network namespace has only lo).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalNodeExecutor } from '../src/backends/local/node-executor.ts';
import { NODE_ROOT_DIR } from '../src/backends/port.ts';
import { tinyNodeImage } from '../src/backends/local/tiny-image.fixture.ts';
import { AddressPicker, parseNodeNetwork } from '../src/domain/pools/node-network.ts';

const NODES = Number(process.env.BENCH_NODES ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const NETWORK = process.env.BENCH_NETWORK !== '0';
const addresses = new AddressPicker(parseNodeNetwork('10.216.0.0/16'), [], [], [], () => undefined);

/** user and system CPU seconds of the whole host so far. */
function hostCpu(): { user: number; system: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1).map(Number);
  const hz = 100;
  return { user: ((f[0] ?? 0) + (f[1] ?? 0)) / hz, system: ((f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0)) / hz };
}

async function each(n: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

const dir = mkdtempSync(join(tmpdir(), 'lazurite-bench-bringup-'));
const { regions, image } = await tinyNodeImage(dir);
const executor = new LocalNodeExecutor({ dataDir: dir, regions });
try {
  await executor.hydrate(image);
  const size = { name: 'standard_a1_v2', cores: 1, memoryMB: 2048, tempDiskGB: 10 };
  const cpu0 = hostCpu();
  const t0 = performance.now();
  const self0 = process.cpuUsage();
  await each(NODES, async (i) => {
    const nodeId = `tvmps_${String(i).padStart(6, '0')}`;
    const network = NETWORK ? addresses.next() : undefined;
    await executor.boot({
      accountName: 'a',
      poolId: 'p',
      nodeId,
      hostname: nodeId,
      image,
      size,
      isDedicated: true,
      ...(network === undefined ? {} : { network }),
    });
    const r = await executor.exec(nodeId, {
      commandLine: '/bin/true',
      environment: { AZ_BATCH_NODE_STARTUP_DIR: `${NODE_ROOT_DIR}/startup` },
      elevation: 'admin',
      workingDir: `${NODE_ROOT_DIR}/startup/wd`,
      stdoutFile: 'startup/stdout.txt',
      stderrFile: 'startup/stderr.txt',
    });
    if (r.exitCode !== 0) throw new Error(`start task on ${nodeId} exited ${String(r.exitCode)}`);
  });
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = hostCpu();
  const self = process.cpuUsage(self0);
  process.stdout.write(
    `${String(NODES)} nodes booted + start task, concurrency ${String(CONCURRENCY)}, network ${NETWORK ? 'veth' : 'lo only'}: ${wall.toFixed(2)} s ` +
      `(${((wall * 1000) / NODES).toFixed(2)} ms/node); host CPU user ${(cpu1.user - cpu0.user).toFixed(2)} s, ` +
      `system ${(cpu1.system - cpu0.system).toFixed(2)} s; this process ${(self.user / 1e6).toFixed(2)} + ${(self.system / 1e6).toFixed(2)} s\n`,
  );
} finally {
  const t = performance.now();
  await executor.close();
  await Promise.all((await executor.list()).map((id) => executor.destroy(id)));
  process.stdout.write(`teardown ${((performance.now() - t) / 1000).toFixed(2)} s\n`);
  rmSync(dir, { recursive: true, force: true });
}
