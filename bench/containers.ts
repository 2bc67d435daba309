/**
 * Container workloads (ADR 0039), the local executor and a throw-away registry (no server). Needs root and Debian's
 * docker-registry.
 * 1. An image of BENCH_IMAGE_MB (default 200) of incompressible files is pushed, then pulled into the host's store
 *    and unpacked once (per host, what Lazurite does), against unpacking it once per node (BENCH_NODES unpacks,
 *    each to its own folder, measured one after another).
 * 2. BENCH_NODES (default 16) tiny nodes; on each (its runner started by a first run, not counted) a plain task and
 *    then its first container task (the image prefetched and unpacked): wall time of each exec, mean and p50.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostContainerImages } from '../src/backends/container-images.ts';
import { ImageCache } from '../src/backends/local/image-cache.ts';
import { LocalNodeExecutor } from '../src/backends/local/node-executor.ts';
import { tinyNodeImage } from '../src/backends/local/tiny-image.fixture.ts';
import { NODE_ROOT_DIR, type NodeImage, type ProcessSpec } from '../src/backends/port.ts';
import { unpackFilesystem } from '../src/content/manifests.ts';
import { layerFromDirectory, ociImage, pushImage } from '../src/content/oci-writer.ts';
import { startTestRegistry } from '../src/content/registry.fixture.ts';
import { parseImageReference, RegistrySession } from '../src/content/registry.ts';

const NODES = Number(process.env.BENCH_NODES ?? 16);
const IMAGE_MB = Number(process.env.BENCH_IMAGE_MB ?? 200);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const stats = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean: mean.toFixed(1), p50: (sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1) };
};

/** busybox as /bin/sh, plus IMAGE_MB one-megabyte files of random bytes (gzip cannot shrink them). */
function imageTree(dir: string): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'data'), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  symlinkSync('busybox', join(dir, 'bin', 'sh'));
  symlinkSync('busybox', join(dir, 'bin', 'true'));
  for (let i = 0; i < IMAGE_MB; i++)
    writeFileSync(join(dir, 'data', `f${String(i)}`), randomBytes(1024 * 1024));
}

/** On each node, its first plain task and then its first container task: wall ms of each exec. */
async function firstTasks(executor: LocalNodeExecutor, image: NodeImage, filesystem: string) {
  const ids = Array.from({ length: NODES }, (_, i) => `n${String(i)}`);
  for (const nodeId of ids)
    await executor.boot({
      accountName: 'acc',
      poolId: 'pool',
      nodeId,
      hostname: nodeId,
      image,
      size: { name: 'standard_d2s_v3', cores: 2, memoryMB: 768, tempDiskGB: 16 },
      isDedicated: true,
    });
  const proc = (id: string, container: boolean): ProcessSpec => ({
    commandLine: 'true',
    environment: { PATH: '/usr/bin:/bin' },
    elevation: 'nonadmin',
    workingDir: `${NODE_ROOT_DIR}/workitems/j/${id}/wd`,
    stdoutFile: `workitems/j/${id}/stdout.txt`,
    stderrFile: `workitems/j/${id}/stderr.txt`,
    ...(container ? { container: { region: image.region, filesystem: filesystem } } : {}),
  });
  const plain: number[] = [];
  const inContainer: number[] = [];
  for (const nodeId of ids) {
    await executor.exec(nodeId, proc('warm', false)); // starts the node's runner, which both then use
    for (const [list, container] of [
      [plain, false],
      [inContainer, true],
    ] as const) {
      const t = now();
      const r = await executor.exec(nodeId, proc(container ? 'c' : 'p', container));
      list.push(now() - t);
      if (r.exitCode !== 0) throw new Error(`${nodeId}: exit ${String(r.exitCode)}`);
    }
  }
  return { plain, inContainer };
}

async function main(): Promise<void> {
  const registry = await startTestRegistry('basic');
  const dataDir = mkdtempSync(join(tmpdir(), 'lzr-bench-containers-'));
  const x = { executor: undefined as LocalNodeExecutor | undefined };
  try {
    imageTree(join(dataDir, 'tree'));
    const name = `${registry.host}/bench/big:1`;
    const ref = parseImageReference(name);
    const session = new RegistrySession(registry.http, ref.registry, registry);
    await pushImage(session, ref, ociImage([await layerFromDirectory(join(dataDir, 'tree'))]));
    rmSync(join(dataDir, 'tree'), { recursive: true, force: true });
    const { regions, image } = await tinyNodeImage(dataDir);
    const cache = new ImageCache(dataDir, regions);
    const images = new HostContainerImages(
      join(dataDir, 'cache', 'containers'),
      (r) => regions.get(r),
      registry.http,
    );
    const creds = [
      { registryServer: registry.host, userName: registry.userName, password: registry.password },
    ];
    let t = now();
    const pulled = await images.ensure(name, creds, image.region);
    const pullMs = now() - t;
    t = now();
    await cache.rootfs(image.region, pulled.filesystem);
    const unpackOnceMs = now() - t;
    const store = await regions.get(image.region);
    const perNode: number[] = [];
    for (let i = 0; i < NODES; i++) {
      const dir = join(dataDir, 'per-node', String(i));
      t = now();
      await unpackFilesystem(store, pulled.filesystem, dir);
      perNode.push(now() - t);
      rmSync(dir, { recursive: true, force: true });
    }
    t = now();
    const again = await images.ensure(name, creds, image.region);
    const repeatMs = now() - t;
    if (again.filesystem !== pulled.filesystem) throw new Error('the repeat pull gave another image');

    const executor = new LocalNodeExecutor({ dataDir, regions, cache });
    x.executor = executor;
    const { plain, inContainer } = await firstTasks(executor, image, pulled.filesystem);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    process.stdout.write(
      [
        `| ${String(IMAGE_MB)} MB image, ${String(NODES)} nodes | ms |`,
        '|---|---|',
        `| pull from the registry into the host store (once per host) | ${pullMs.toFixed(0)} |`,
        `| repeat prefetch (manifest checked, blobs present) | ${repeatMs.toFixed(1)} |`,
        `| unpack once per host | ${unpackOnceMs.toFixed(0)} |`,
        `| unpack once per node (${String(NODES)} unpacks, sum) | ${sum(perNode).toFixed(0)} |`,
        `| first plain task per node: mean / p50 | ${stats(plain).mean} / ${stats(plain).p50} |`,
        `| first container task per node: mean / p50 | ${stats(inContainer).mean} / ${stats(inContainer).p50} |`,
        '',
      ].join('\n'),
    );
  } finally {
    if (x.executor) {
      for (const id of Array.from({ length: NODES }, (_, i) => `n${String(i)}`))
        await x.executor.destroy(id).catch(() => undefined);
      await x.executor.close();
    }
    await registry.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
