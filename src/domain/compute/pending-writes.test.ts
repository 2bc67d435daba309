import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { regionPaths, RegionStores } from '../../content/regions.ts';
import { ManualClock } from '../../platform/clock.ts';
import { sequentialIds } from '../../platform/ids.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import { VmHost } from '../../backends/local/vm-host.ts';
import type { Caller } from '../authorization/access.ts';
import type { DomainContext } from '../context.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from '../environment/well-known.ts';
import { DomainError, invalidInput } from '../errors.ts';
import { BaseImageService } from '../images/base-images.ts';
import type { ComputeAddress } from './common.ts';
import type { ContentPlan, ContentProducer, Produced } from './content-writer.ts';
import { DiskService } from './disks.ts';
import { GalleryService } from './gallery.ts';
import { ComputeQueries } from './queries.ts';
import { VmService } from './vms.ts';

const owner: Caller = {
  objectId: WELL_KNOWN.principalObjectId,
  tenantId: WELL_KNOWN.tenantId,
  appId: WELL_KNOWN.clientId,
};
const at = (type: string, name: string): ComputeAddress => ({
  subscriptionId: WELL_KNOWN.subscriptionId,
  resourceGroup: WELL_KNOWN.resourceGroup,
  segments: [{ type, name }],
});
const emptyDisk = (size = 1) => ({
  location: 'westeurope',
  properties: { creationData: { createOption: 'Empty' }, diskSizeGB: size },
});

/** A producer whose every write waits until the test releases (or fails) it. */
class HeldProducer implements ContentProducer {
  readonly calls: ContentPlan[] = [];
  private readonly gates: { release: (p: Produced) => void; fail: (e: unknown) => void }[] = [];
  private waiting: (() => void) | undefined;
  produce(plan: ContentPlan): Promise<Produced> {
    this.calls.push(plan);
    this.waiting?.();
    return new Promise((release, fail) => {
      this.gates.push({ release, fail });
    });
  }
  /** Resolves once `n` writes have started. */
  started(n: number): Promise<void> {
    if (this.calls.length >= n) return Promise.resolve();
    return new Promise((done) => {
      this.waiting = () => {
        if (this.calls.length >= n) done();
      };
    });
  }
  release(i: number, manifest = 'sha256:'.padEnd(71, 'a')): void {
    this.gates[i]?.release({ content: { manifest, region: 'westeurope' }, lineage: { produced: true } });
  }
  fail(i: number, err: unknown): void {
    this.gates[i]?.fail(err);
  }
}

async function setup(
  dbFile = ':memory:',
  dir = mkdtempSync(join(tmpdir(), 'lzr-pending-')),
  idPrefix = '00000000-0000-4000-8000',
) {
  const regions = new RegionStores(regionPaths(dir, ['westeurope', 'eastus'], {}));
  const ctx: DomainContext = {
    store: await openSqliteStore(dbFile),
    clock: new ManualClock(),
    ids: sequentialIds(idPrefix),
  };
  await seedWellKnownEnvironment(ctx);
  const images = new BaseImageService(ctx, regions, join(dir, 'build'), 'westeurope');
  const vms = new VmService(ctx, regions, images, new VmHost(dir, regions));
  const disksWith = (options: ConstructorParameters<typeof DiskService>[5]) =>
    new DiskService(ctx, regions, images, vms, join(dir, 'uploads'), options);
  return {
    ctx,
    dir,
    regions,
    disksWith,
    gallery: new GalleryService(ctx, regions),
    queries: new ComputeQueries(ctx),
  };
}

describe('disk and image writes: check-and-reserve, I/O outside the store, commit', () => {
  test('a slow write does not hold the store: other writes commit while it runs', async () => {
    const { disksWith, gallery, queries } = await setup();
    const producer = new HeldProducer();
    const disks = disksWith({ producer, waitMs: 0 });
    const put = await disks.putDiskOrSnapshot(owner, at('disks', 'slow'), emptyDisk());
    assert.equal(put.resource.properties.provisioningState, 'Creating');
    assert.equal(put.created, true);
    assert.ok(put.operationId);
    await producer.started(1);
    assert.deepEqual(producer.calls[0], { kind: 'empty', sizeBytes: 1024 ** 3 });
    // The I/O is still waiting on us, and the store takes other writes meanwhile.
    const other = await gallery.putGallery(owner, at('galleries', 'g'), { location: 'westeurope' });
    assert.equal(other.resource.properties.provisioningState, 'Succeeded');
    assert.equal((await gallery.operation(owner, put.operationId))?.state, 'InProgress');
    await assert.rejects(
      disks.putDiskOrSnapshot(owner, at('disks', 'slow'), emptyDisk()),
      (e: DomainError) => e.code === 'OperationNotAllowed',
      'a second write waits for the first',
    );
    producer.release(0);
    await disks.idle();
    const { resource } = await queries.get(owner, at('disks', 'slow'));
    assert.equal(resource.properties.provisioningState, 'Succeeded');
    assert.equal(resource.content?.region, 'westeurope');
    assert.equal(resource.lineage.produced, true);
    assert.equal(resource.lineage.pending, undefined);
    assert.equal((await gallery.operation(owner, put.operationId))?.state, 'Succeeded');
  });

  test('a failed write leaves the resource Failed and the operation reports its error', async () => {
    const { disksWith, gallery, queries } = await setup();
    const producer = new HeldProducer();
    const disks = disksWith({ producer, waitMs: 0 });
    const put = await disks.putDiskOrSnapshot(owner, at('disks', 'bad'), emptyDisk());
    await producer.started(1);
    producer.fail(0, invalidInput('InvalidParameter', 'the blob answered 404', 'blobUri'));
    await disks.idle();
    assert.equal(
      (await queries.get(owner, at('disks', 'bad'))).resource.properties.provisioningState,
      'Failed',
    );
    const op = await gallery.operation(owner, put.operationId ?? '');
    assert.ok(op?.state === 'Failed');
    assert.deepEqual(op.error, { code: 'InvalidParameter', message: 'the blob answered 404' });
    // Writing it again runs again (Updating), and succeeds this time.
    const again = await disks.putDiskOrSnapshot(owner, at('disks', 'bad'), emptyDisk());
    assert.equal(again.resource.properties.provisioningState, 'Updating');
    await producer.started(2);
    producer.release(1);
    await disks.idle();
    const { resource } = await queries.get(owner, at('disks', 'bad'));
    assert.equal(resource.properties.provisioningState, 'Succeeded');
    assert.equal(resource.lineage.failure, undefined);
  });

  test('a write that ends within the wait answers Succeeded (or its error) at once', async () => {
    const { disksWith } = await setup();
    const disks = disksWith({ waitMs: 60_000 });
    const put = await disks.putDiskOrSnapshot(owner, at('disks', 'quick'), emptyDisk(2));
    assert.equal(put.resource.properties.provisioningState, 'Succeeded');
    assert.ok(put.resource.content?.manifest.startsWith('sha256:'));
    const failing = disksWith({
      waitMs: 60_000,
      producer: { produce: () => Promise.reject(invalidInput('InvalidParameter', 'nope', 'x')) },
    });
    await assert.rejects(
      failing.putDiskOrSnapshot(owner, at('disks', 'refused'), emptyDisk()),
      (e: DomainError) => e.code === 'InvalidParameter' && e.message === 'nope',
    );
  });

  test('a resource deleted while its write runs stays deleted', async () => {
    const { disksWith, queries } = await setup();
    const producer = new HeldProducer();
    const disks = disksWith({ producer, waitMs: 0 });
    await disks.putDiskOrSnapshot(owner, at('disks', 'gone'), emptyDisk());
    await producer.started(1);
    assert.equal(await queries.delete(owner, at('disks', 'gone')), true);
    producer.release(0);
    await disks.idle();
    await assert.rejects(
      queries.get(owner, at('disks', 'gone')),
      (e: DomainError) => e.code === 'ResourceNotFound',
    );
  });

  test('a write that outlives its timeout fails; stopping leaves a reservation for the next start', async () => {
    const { disksWith, gallery, queries } = await setup();
    const hung = new HeldProducer();
    const timed = disksWith({ producer: hung, waitMs: 0, timeoutMs: 1 });
    const put = await timed.putDiskOrSnapshot(owner, at('disks', 'hung'), emptyDisk());
    await timed.idle(); // the producer never answers: the timeout ends the write
    const op = await gallery.operation(owner, put.operationId ?? '');
    assert.ok(op?.state === 'Failed');
    assert.deepEqual(op.error, {
      code: 'InternalExecutionError',
      message: 'The write did not finish within 0.001 s.',
    });
    const stopping = disksWith({ producer: new HeldProducer(), waitMs: 0 });
    await stopping.putDiskOrSnapshot(owner, at('disks', 'left'), emptyDisk());
    await stopping.stop();
    const { resource } = await queries.get(owner, at('disks', 'left'));
    assert.equal(resource.properties.provisioningState, 'Creating', 'left for the next start to resume');
  });

  test('after a crash mid-write, a restart runs the reservation again and commits it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lzr-pending-crash-'));
    const db = join(dir, 'state.db');
    const before = await setup(db, dir);
    const held = new HeldProducer();
    const crashed = before.disksWith({ producer: held, waitMs: 0 });
    const put = await crashed.putDiskOrSnapshot(owner, at('disks', 'interrupted'), emptyDisk(3));
    await held.started(1);
    // "kill -9": the first process never finishes its I/O; a second one opens the same state and content.
    const after = await setup(db, dir, '00000000-0000-4000-9000'); // a new process: ids of its own
    const disks = after.disksWith({ waitMs: 0 });
    assert.equal(await disks.recover(), 1);
    await disks.idle();
    const { resource } = await after.queries.get(owner, at('disks', 'interrupted'));
    assert.equal(resource.properties.provisioningState, 'Succeeded');
    assert.ok(await (await after.regions.get('westeurope')).has(resource.content?.manifest as never));
    assert.equal((await after.gallery.operation(owner, put.operationId ?? ''))?.state, 'Succeeded');
    assert.equal(await disks.recover(), 0, 'nothing left to resume');
    // A write running in this process is not started twice; one nothing runs is.
    const held2 = new HeldProducer();
    const busy = after.disksWith({ producer: held2, waitMs: 0 });
    await busy.putDiskOrSnapshot(owner, at('disks', 'running'), emptyDisk());
    assert.equal(await busy.resume(), 0);
    assert.equal(held2.calls.length, 1);
    assert.equal(await disks.resume(), 1, 'another process (here: service) picks it up');
    await disks.idle();
    const picked = await after.queries.get(owner, at('disks', 'running'));
    assert.equal(picked.resource.properties.provisioningState, 'Succeeded');
    await after.ctx.store.close();
  });
});
