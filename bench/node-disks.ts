/**
 * What a node's own disk (ADR 0025) costs: make + mount (a new node's boot), unmount + mount (a reboot),
 * unmount + delete (destroy) of `BENCH_NODES` (default 100) sparse ext4 images, one after another. Prints wall
 * time, the CPU time of this process and its children (node-disk; not the loop devices' kernel threads)
 * and the host disk a fresh image holds. `BENCH_DISK_MB` (default 10240: Standard_A1_v2's temporary disk) is
 * each disk's size. `BENCH_CONCURRENCY` (default 1) runs that many nodes' steps at a time, as the host agent does
 * (its default is 4); the per-node figures are then wall time ÷ nodes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeDiskHelper, NodeOwnDisks } from '../src/backends/local/node-own-disk.ts';

const NODES = Number(process.env.BENCH_NODES ?? 100);
const DISK_MB = Number(process.env.BENCH_DISK_MB ?? 10240);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 1);

/** CPU seconds of this process and of its waited-for children (mkfs, cp, mount, umount): not other users'. */
function ownCpu(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  // Fields 14-17 of stat (utime, stime, cutime, cstime), in clock ticks; index 0 here is field 3.
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i] ?? 0), 0) / 100;
}

async function timed(what: string, work: (id: string) => Promise<void>): Promise<void> {
  const cpu0 = ownCpu();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < NODES) await work(`n${String(next++).padStart(5, '0')}`);
    }),
  );
  const ms = (performance.now() - t0) / NODES;
  const cpu = ((ownCpu() - cpu0) * 1000) / NODES;
  process.stdout.write(
    `${what}: ${ms.toFixed(2)} ms/node wall, ${cpu.toFixed(2)} ms/node CPU (this process and its children)\n`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'lazurite-bench-disks-'));
const nodesDir = join(dir, 'nodes');
mkdirSync(nodesDir);
const disks = new NodeOwnDisks({ nodesDir, imagesDir: join(dir, 'node-disks'), helper: nodeDiskHelper(dir) });
const size = { name: 'bench', cores: 1, memoryMB: 2048, tempDiskGB: DISK_MB / 1024 };
try {
  await timed(`make + mount (${String(DISK_MB)} MiB)`, (id) => disks.attach(id, size).then(() => undefined));
  const held = statSync(disks.imagePath('n00000')).blocks * 512;
  process.stdout.write(`a fresh image holds ${(held / 1024).toFixed(0)} KiB of the host disk\n`);
  await timed('unmount', (id) => disks.unmount(id));
  await timed('mount again', (id) => disks.attach(id, size).then(() => undefined));
  await timed('unmount + delete', (id) => disks.remove(id));
} finally {
  for (let i = 0; i < NODES; i++) await disks.remove(`n${String(i).padStart(5, '0')}`).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
