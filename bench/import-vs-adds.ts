/**
 * `node bench/import-vs-adds.ts`: does a big image import slow the Batch API down?
 * A 200 MB root file system tarball is served from Azurite (a blob SAS URL) and imported as a managed image
 * (`images.createOrUpdate` with `osDisk.blobUri`, @azure/arm-compute) while 1,000 tasks are added one by one
 * (`task.add`, 8 callers at once, @azure/batch). Reports adds/s alone and during the import; the goal is a slowdown
 * of at most 20 % (the download, unpack and packing run outside the store transaction).
 */
import { execFileSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { buildTinyRootfs } from '../src/content/rootfs/tiny.ts';
import { startAzuriteBlob } from '../tests/compat/azurite.ts';
import { computeClient, startServer, type TestServer } from '../tests/compat/harness.ts';

const MB = 1024 * 1024;
/** Overridable for a quick smoke run (`BENCH_ADDS=100 BENCH_IMPORT_MB=10`); the figures use the defaults. */
const ADDS = Number(process.env.BENCH_ADDS ?? 1000);
const CALLERS = 8;
const IMPORT_MB = Number(process.env.BENCH_IMPORT_MB ?? 200);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const log = (line: string) => process.stderr.write(`${line}\n`);

function batchClient(server: TestServer): BatchServiceClient {
  const c = server.connection;
  return new BatchServiceClient(
    new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
    new URL(c.batchUrl).origin,
  );
}

/** A root file system tarball of about `mb` MB: the tiny image plus incompressible data. */
async function bigTarball(dir: string, mb: number): Promise<string> {
  const root = join(dir, 'root');
  await buildTinyRootfs(root);
  const fd = openSync(join(root, 'opt-data.bin'), 'w');
  const buf = Buffer.alloc(8 * MB);
  for (let done = 0; done < mb * MB; done += buf.length) writeSync(fd, randomFillSync(buf));
  closeSync(fd);
  const tarball = join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', root, '-cf', tarball, '.']);
  rmSync(root, { recursive: true, force: true });
  return tarball;
}

/** `ADDS` tasks added one by one into a new job, `CALLERS` at once; resolves with adds per second. */
async function adds(batch: BatchServiceClient, jobId: string): Promise<{ perSec: number; endedAt: number }> {
  await batch.job.add({ id: jobId, poolInfo: { poolId: 'no-such-pool' } });
  let next = 0;
  const start = now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next < ADDS) {
        const i = next++;
        await batch.task.add(jobId, { id: `t${String(i)}`, commandLine: '/bin/true' });
      }
    }),
  );
  const endedAt = now();
  return { perSec: ADDS / ((endedAt - start) / 1000), endedAt };
}

const dir = mkdtempSync(join(tmpdir(), 'lazurite-bench-import-'));
const azurite = await startAzuriteBlob();
const server = await startServer([], join(dir, 'data'));
try {
  const tarball = await bigTarball(dir, IMPORT_MB);
  const size = statSync(tarball).size;
  const container = azurite.serviceClient.getContainerClient('images');
  await container.create();
  await container.getBlockBlobClient('rootfs.tar').uploadFile(tarball, { blockSize: 8 * MB, concurrency: 4 });
  const blobUri = azurite.containerSasUrl('images', 'r').replace('?', '/rootfs.tar?');
  log(`blob: ${(size / MB).toFixed(0)} MB in Azurite`);

  const batch = batchClient(server);
  const compute = computeClient(server.connection);
  await adds(batch, 'warmup');
  const before = await adds(batch, 'alone-before');
  log(`alone (before): ${before.perSec.toFixed(0)} adds/s`);

  const importStart = now();
  let importEnd = 0;
  const imported = compute.images
    .createOrUpdate(
      server.connection.resourceGroup,
      'big-import',
      {
        location: 'westeurope',
        storageProfile: { osDisk: { osType: 'Linux', osState: 'Generalized', blobUri } },
      },
      { updateIntervalInMs: 250 },
    )
    .then((image) => {
      importEnd = now();
      return image;
    });
  const during = await adds(batch, 'during');
  const image = await imported;
  const afterRun = await adds(batch, 'alone-after');
  const importSec = (importEnd - importStart) / 1000;
  const overlap = Math.min(1, (during.endedAt - importStart) / (importEnd - importStart));
  log(
    `during: ${during.perSec.toFixed(0)} adds/s; import ${image.provisioningState ?? '?'} in ${importSec.toFixed(1)} s; after: ${afterRun.perSec.toFixed(0)} adds/s`,
  );
  const alone = (before.perSec + afterRun.perSec) / 2;
  const slowdown = (1 - during.perSec / alone) * 100;
  process.stdout.write(
    [
      `| ${String(ADDS)} task adds (task.add, ${String(CALLERS)} callers) | adds/s |`,
      '|---|---|',
      `| alone, before the import | ${before.perSec.toFixed(0)} |`,
      `| during a ${(size / MB).toFixed(0)} MB blobUri image import | ${during.perSec.toFixed(0)} |`,
      `| alone, after the import | ${afterRun.perSec.toFixed(0)} |`,
      `| during ÷ mean alone | ${(100 - slowdown).toFixed(0)} % (${slowdown.toFixed(0)} % slower; goal ≤ 20 %) |`,
      '',
      `Import: ${image.provisioningState ?? '?'} in ${importSec.toFixed(1)} s; the adds ran during the first ${(overlap * 100).toFixed(0)} % of it` +
        (during.endedAt > importEnd ? ' (and went on after it ended)' : '') +
        '.',
      '',
    ].join('\n'),
  );
} finally {
  await server.stop();
  await azurite.stop();
  rmSync(dir, { recursive: true, force: true });
}
