/**
 * The local executor alone (no server): N `/bin/true` runs as the non-admin auto-user on 4 nodes, 16 in flight
 * per node, each a named run with its own working directory — what one task run costs the executor — beside
 * the raw in-sandbox spawn (nsenter, 4 loops) in the same run. Needs root.
 * Also the CPU time (user + system, all processes started from here: a cpuacct cgroup) per run of each, which
 * does not depend on what else the host runs at the time.
 * Env: BENCH_EXECS (default 2000).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_ROOT_DIR } from '../src/backends/port.ts';
import { LocalNodeExecutor } from '../src/backends/local/node-executor.ts';
import { tinyNodeImage } from '../src/backends/local/tiny-image.fixture.ts';
import { cpuClock } from './cpu-clock.ts';

const COUNT = Number(process.env.BENCH_EXECS ?? 2000);
const NODES = 4;
const PER_NODE = 16;
const now = () => Number(process.hrtime.bigint()) / 1e6;

function rawSpawns(pid: number, count: number): Promise<number> {
  const per = Math.ceil(count / 4);
  const loop = `i=0; while [ $i -lt ${String(per)} ]; do nsenter -t ${String(pid)} -m -p -u -i -r -w /bin/true || exit 1; i=$((i+1)); done`;
  const start = now();
  const one = () =>
    new Promise<void>((resolve, reject) => {
      spawn('sh', ['-c', loop], { stdio: 'ignore' }).on('close', (code) => {
        if (code === 0) resolve();
        else reject(new Error(`raw spawn loop exited ${String(code)}`));
      });
    });
  return Promise.all([one(), one(), one(), one()]).then(() => (per * 4) / ((now() - start) / 1000));
}

async function main(): Promise<void> {
  const clock = cpuClock();
  const dataDir = mkdtempSync(join(tmpdir(), 'lzr-bench-exec-'));
  const { regions, image } = await tinyNodeImage(dataDir);
  const x = new LocalNodeExecutor({ dataDir, regions });
  const ids = Array.from({ length: NODES }, (_, i) => `n${String(i)}`);
  try {
    for (const nodeId of ids)
      await x.boot({
        accountName: 'acc',
        poolId: 'pool',
        nodeId,
        hostname: nodeId,
        image,
        size: { name: 'standard_d4_v3', cores: 4, memoryMB: 1024, tempDiskGB: 16 },
        isDedicated: true,
      });
    const holder = Number(readFileSync(join(dataDir, 'nodes', 'n0', 'holder.pid'), 'utf8'));
    const cpu0 = clock.ms();
    const raw = await rawSpawns(holder, 2000);
    const rawCpu = (clock.ms() - cpu0) / 2000;
    let next = 0;
    const start = now();
    const cpu1 = clock.ms();
    const own1 = process.cpuUsage();
    await Promise.all(
      ids.flatMap((nodeId) =>
        Array.from({ length: PER_NODE }, async () => {
          while (next < COUNT) {
            const t = `t${String(next++)}`;
            const r = await x.exec(nodeId, {
              commandLine: '/bin/true',
              environment: { PATH: '/usr/bin:/bin' },
              elevation: 'nonadmin',
              workingDir: `${NODE_ROOT_DIR}/workitems/job/${t}/wd`,
              stdoutFile: `workitems/job/${t}/stdout.txt`,
              stderrFile: `workitems/job/${t}/stderr.txt`,
              runId: t,
            });
            if (r.exitCode !== 0) throw new Error(`${t} exited ${String(r.exitCode)}`);
            await x.forgetRun(nodeId, t);
          }
        }),
      ),
    );
    const rate = COUNT / ((now() - start) / 1000);
    const runCpu = (clock.ms() - cpu1) / COUNT;
    const own = process.cpuUsage(own1);
    const ownCpu = (own.user + own.system) / 1000 / COUNT;
    process.stdout.write(
      `raw ${raw.toFixed(0)}/s, ${rawCpu.toFixed(2)} ms CPU each; executor (node runner) ${rate.toFixed(0)}/s = ` +
        `${((rate / raw) * 100).toFixed(0)} % of raw, ${runCpu.toFixed(2)} ms CPU each ` +
        `(${ownCpu.toFixed(2)} ms in this Node process)\n`,
    );
  } finally {
    for (const id of ids) await x.destroy(id);
    await x.close();
    rmSync(dataDir, { recursive: true, force: true });
    clock.done();
  }
}

await main();
