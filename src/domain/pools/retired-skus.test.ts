import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { regionPaths, RegionStores } from '../../content/regions.ts';
import { ManualClock } from '../../platform/clock.ts';
import { sequentialIds } from '../../platform/ids.ts';
import type { BatchAccountRecord } from '../../storage/records.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import type { DomainContext } from '../context.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from '../environment/well-known.ts';
import { DomainError } from '../errors.ts';
import { BASE_IMAGES, skuEndOfLife } from '../images/catalog.ts';
import { PoolService } from './pools.ts';

/** A pool service over an in-memory store whose base images claim root file systems for the Ubuntu entries. */
async function poolsAt(now: string, strict: boolean) {
  const ctx: DomainContext = {
    store: await openSqliteStore(':memory:'),
    clock: new ManualClock(now),
    ids: sequentialIds(),
  };
  await seedWellKnownEnvironment(ctx);
  for (const key of ['canonical:ubuntuserver:16.04-lts', 'canonical:ubuntuserver:18.04-lts'])
    await ctx.store.transaction((tx) =>
      tx.putBaseImage({
        key,
        manifest: 'sha256:0000',
        region: 'westeurope',
        source: 'import:tarball',
        sizeBytes: 1,
        createdAt: now,
      }),
    );
  const account = (await ctx.store.transaction((tx) =>
    tx.findBatchAccountByName(WELL_KNOWN.batchAccountName),
  )) as BatchAccountRecord;
  const warnings: string[] = [];
  const pools = new PoolService(ctx, new RegionStores(regionPaths('/nonexistent', ['westeurope'], {})), {
    warn: (m) => warnings.push(m),
    imageSupport: { strict },
  });
  const add = (id: string, sku: string, image = 'UbuntuServer:18.04-LTS') => {
    const [offer, imageSku] = image.split(':');
    return pools.add(
      account,
      { scheme: 'SharedKey' },
      {
        id,
        vmSize: 'standard_a1_v2',
        virtualMachineConfiguration: {
          imageReference: { publisher: 'Canonical', offer, sku: imageSku },
          nodeAgentSKUId: sku,
        },
        targetDedicatedNodes: 0,
      },
    );
  };
  return { add, warnings };
}

const refusal = (code: string, reason: RegExp) => (e: unknown) =>
  e instanceof DomainError && e.code === code && reason.test(String(e.values.Reason));

describe('node agent SKUs Batch retired (ADR 0028)', () => {
  test('the seeds-era Ubuntu SKUs are listed with the end of life Batch published', () => {
    const listed = BASE_IMAGES.filter((i) => i.publisher.toLowerCase() === 'canonical').map((i) => [
      `${i.publisher}:${i.offer}:${i.sku}`,
      i.nodeAgentSkuId,
      i.batchSupportEndOfLife,
      i.verificationType,
    ]);
    for (const row of [
      ['Canonical:UbuntuServer:16.04-LTS', 'batch.node.ubuntu 16.04', '2021-05-21T00:00:00Z', 'verified'],
      ['Canonical:UbuntuServer:18.04-LTS', 'batch.node.ubuntu 18.04', '2023-05-30T00:00:00Z', 'verified'],
      [
        'canonical:0001-com-ubuntu-server-focal:20_04-lts',
        'batch.node.ubuntu 20.04',
        '2025-04-23T00:00:00Z',
        'verified',
      ],
    ])
      assert.ok(
        listed.some((l) => JSON.stringify(l) === JSON.stringify(row)),
        `${row[0]} listed`,
      );
    assert.equal(
      skuEndOfLife('batch.node.ubuntu 20.04'),
      '2025-04-23T00:00:00Z',
      'every 20.04 entry retired',
    );
    assert.equal(skuEndOfLife('batch.node.ubuntu 22.04'), undefined);
    assert.equal(skuEndOfLife('batch.node.nope 1'), undefined);
  });

  test('by default a retired SKU makes the pool the seeds expect, with a warning and no resize error', async () => {
    const { add, warnings } = await poolsAt('2026-12-04T00:00:00Z', false);
    const pool = await add('seed-16', 'batch.node.ubuntu 16.04', 'UbuntuServer:16.04-LTS');
    assert.deepEqual([pool.state, pool.resizeErrors], ['active', []]);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? '',
      /'seed-16'.*'batch\.node\.ubuntu 16\.04'.*retired on 2021-05-21.*--strict-image-support/,
    );
  });

  test('--strict-image-support refuses a retired SKU as InvalidPropertyValue on nodeAgentSKUId', async () => {
    const { add, warnings } = await poolsAt('2026-12-04T00:00:00Z', true);
    await assert.rejects(
      add('seed-18', 'batch.node.ubuntu 18.04'),
      refusal(
        'InvalidPropertyValue',
        /'batch\.node\.ubuntu 18\.04' reached its Batch support end of life on 2023-05-30/,
      ),
    );
    assert.deepEqual(warnings, []);
  });

  test('before its end of life the SKU is accepted even when strict, without a warning', async () => {
    const { add, warnings } = await poolsAt('2022-01-01T00:00:00Z', true);
    const pool = await add('early', 'batch.node.ubuntu 18.04');
    assert.equal(pool.state, 'active');
    assert.deepEqual(warnings, []);
  });

  test('R9: an Ubuntu 18.04 base image does not run another SKU, retired or not', async () => {
    const { add } = await poolsAt('2026-12-04T00:00:00Z', false);
    await assert.rejects(
      add('mixed', 'batch.node.debian 12'),
      refusal(
        'InvalidPropertyValue',
        /'canonical:ubuntuserver:18\.04-lts'.*'batch\.node\.ubuntu 18\.04', not 'batch\.node\.debian 12'/,
      ),
    );
    await assert.rejects(
      add('older', 'batch.node.ubuntu 16.04'),
      refusal('InvalidPropertyValue', /not 'batch\.node\.ubuntu 16\.04'/),
    );
  });
});
