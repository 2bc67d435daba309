/**
 * `npm run bench`: image pipeline figures on this machine.
 * 1. Snapshot and image creation time for disks holding 100 MB and 2 GB of data (should not grow with size).
 * 2. Replication throughput between two region stores on the same disk, against `cp` of the same blobs.
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmHost } from '../src/backends/local/vm-host.ts';
import type { Digest } from '../src/content/blob-store.ts';
import { chunkRawFile, reachableBlobs } from '../src/content/manifests.ts';
import { regionPaths, RegionStores } from '../src/content/regions.ts';
import { replicate } from '../src/content/replication.ts';
import type { Caller } from '../src/domain/authorization/access.ts';
import { DiskService } from '../src/domain/compute/disks.ts';
import { VmService } from '../src/domain/compute/vms.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from '../src/domain/environment/well-known.ts';
import { BaseImageService } from '../src/domain/images/base-images.ts';
import { systemClock } from '../src/platform/clock.ts';
import { randomIds } from '../src/platform/ids.ts';
import { openSqliteStore } from '../src/storage/sqlite/open.ts';

const MB = 1024 * 1024;
const owner: Caller = {
  objectId: WELL_KNOWN.principalObjectId,
  tenantId: WELL_KNOWN.tenantId,
  appId: WELL_KNOWN.clientId,
};
const at = (type: string, name: string) => ({
  subscriptionId: WELL_KNOWN.subscriptionId,
  resourceGroup: WELL_KNOWN.resourceGroup,
  segments: [{ type, name }],
});

function randomFile(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(8 * MB);
  for (let done = 0; done < bytes; done += buf.length)
    writeSync(fd, randomFillSync(buf), 0, Math.min(buf.length, bytes - done));
  closeSync(fd);
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = process.hrtime.bigint();
  const result = await work();
  return [result, Number(process.hrtime.bigint() - start) / 1e6];
}

const dir = mkdtempSync(join(tmpdir(), 'lazurite-bench-'));
const regions = new RegionStores(regionPaths(dir, ['westeurope', 'eastus'], {}));
const ctx = { store: await openSqliteStore(':memory:'), clock: systemClock, ids: randomIds };
await seedWellKnownEnvironment(ctx);
const images = new BaseImageService(ctx, regions, join(dir, 'build'), 'westeurope');
const disks = new DiskService(
  ctx,
  regions,
  images,
  new VmService(ctx, regions, images, new VmHost(dir, regions)),
  join(dir, 'uploads'),
);
const west = await regions.get('westeurope');
const rows: string[] = [];

for (const size of [100 * MB, 2048 * MB]) {
  const name = `d${size / MB}`;
  const raw = join(dir, `${name}.raw`);
  randomFile(raw, size);
  const manifest = await chunkRawFile(west, raw);
  rmSync(raw);
  await disks.putDiskOrSnapshot(owner, at('disks', name), {
    location: 'westeurope',
    properties: { diskSizeGB: Math.ceil(size / 1024 / MB), creationData: { createOption: 'Empty' } },
  });
  await ctx.store.transaction(async (tx) => {
    const d = await tx.findComputeResource(
      `/subscriptions/${WELL_KNOWN.subscriptionId}/resourceGroups/${WELL_KNOWN.resourceGroup}/providers/Microsoft.Compute/disks/${name}`,
    );
    if (d) await tx.putComputeResource({ ...d, content: { manifest, region: 'westeurope' } });
  });
  const diskId = `/subscriptions/${WELL_KNOWN.subscriptionId}/resourceGroups/${WELL_KNOWN.resourceGroup}/providers/Microsoft.Compute/disks/${name}`;
  const [, snapMs] = await timed(() =>
    disks.putDiskOrSnapshot(owner, at('snapshots', `s${name}`), {
      location: 'westeurope',
      properties: { creationData: { createOption: 'Copy', sourceResourceId: diskId } },
    }),
  );
  const osId = `/subscriptions/${WELL_KNOWN.subscriptionId}/resourceGroups/${WELL_KNOWN.resourceGroup}/providers/Microsoft.Compute/snapshots/s${name}`;
  const [image, imageMs] = await timed(() =>
    disks.putImage(owner, at('images', `i${name}`), {
      location: 'westeurope',
      properties: {
        storageProfile: { osDisk: { osType: 'Linux', osState: 'Generalized', snapshot: { id: osId } } },
      },
    }),
  );
  rows.push(`| snapshot of a disk holding ${size / MB} MB | ${snapMs.toFixed(1)} ms |`);
  rows.push(`| managed image from that snapshot | ${imageMs.toFixed(1)} ms |`);
  if (size === 2048 * MB) {
    const root = image.resource.content?.manifest as Digest;
    const blobs = await reachableBlobs(west, root);
    const paths = blobs.map((b) => west.path(b));
    execFileSync('cat', paths, { stdio: ['ignore', 'ignore', 'ignore'], maxBuffer: 1 });
    // Same bytes, same disk, warm cache. This machine's disk slows down after a burst of writes, so whichever
    // runs second is penalised: alternate the order (rep, cp, cp, rep) into fresh targets and compare means.
    const repRuns: number[] = [];
    const cpRuns: number[] = [];
    const cpSyncRuns: number[] = [];
    let bytesTotal = 0;
    const runRep = async (i: number) => {
      const target = new RegionStores({ r: join(dir, `rep-${i}`) });
      const [result, ms] = await timed(async () => replicate(west, await target.get('r'), root));
      bytesTotal = result.bytesTotal;
      repRuns.push(ms);
    };
    const runCp = async (i: number) => {
      const cpDir = join(dir, `cp-${i}`);
      execFileSync('mkdir', ['-p', cpDir]);
      const [, ms] = await timed(() => Promise.resolve(execFileSync('cp', [...paths, cpDir])));
      const [, syncMs] = await timed(() => Promise.resolve(execFileSync('sync', ['-f', cpDir])));
      cpRuns.push(ms);
      cpSyncRuns.push(ms + syncMs);
    };
    for (const [i, step] of [runRep, runCp, runCp, runRep].entries()) {
      execFileSync('sync');
      await step(i);
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(xs.length, 1);
    const [repMs, cpMs, cpSyncMs] = [mean(repRuns), mean(cpRuns), mean(cpSyncRuns)];
    const mbs = (ms: number) => (bytesTotal / MB / (ms / 1000)).toFixed(0);
    const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    rows.push(
      `| cp of the image's ${blobs.length} blobs (${(bytesTotal / MB).toFixed(0)} MB), runs ${list(cpRuns)} ms | mean ${cpMs.toFixed(0)} ms (${mbs(cpMs)} MB/s) |`,
    );
    rows.push(
      `| cp then \`sync -f\` (durable, like replication), runs ${list(cpSyncRuns)} ms | mean ${cpSyncMs.toFixed(0)} ms (${mbs(cpSyncMs)} MB/s) |`,
    );
    rows.push(
      `| replication to another region store (durable), runs ${list(repRuns)} ms | mean ${repMs.toFixed(0)} ms (${mbs(repMs)} MB/s) |`,
    );
    rows.push(`| replication throughput / plain cp throughput | **${(cpMs / repMs).toFixed(2)}** |`);
    rows.push(`| replication throughput / cp + sync throughput | **${(cpSyncMs / repMs).toFixed(2)}** |`);
  }
}
process.stdout.write(`| measurement | result |\n|---|---|\n${rows.join('\n')}\n`);
await ctx.store.close();
rmSync(dir, { recursive: true, force: true });
