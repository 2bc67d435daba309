import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Store } from './port.ts';
import type { NodeRecord, PoolRecord } from './records.ts';

const T0 = '2026-01-01T00:00:00Z';

export const samplePool = (id: string, allocationState: PoolRecord['allocationState']): PoolRecord => ({
  accountName: 'Acct',
  id,
  spec: { vmSize: 'standard_a1_v2' },
  image: {
    kind: 'marketplace',
    source: 'lazurite:tiny:busybox',
    region: 'westeurope',
    osManifest: 'sha256:00',
    dataDisks: [],
    replicaCount: 1,
    available: true,
  },
  state: 'active',
  allocationState,
  targetDedicatedNodes: 1,
  targetLowPriorityNodes: 0,
  resizeTimeoutMs: 900_000,
  resizeStartedAt: T0,
  resizeErrors: [],
  etag: '0x1',
  creationTime: T0,
  lastModified: T0,
  stateTransitionTime: T0,
  allocationStateTransitionTime: T0,
});

export const sampleNode = (pool: string, id: string, hostId: string | null): NodeRecord => ({
  accountName: 'Acct',
  poolId: pool,
  id,
  isDedicated: true,
  state: 'creating',
  previousState: null,
  stateTransitionTime: T0,
  allocationTime: T0,
  hostId,
  granted: false,
  goal: 'run',
  generation: 0,
  startTaskInfo: null,
  errors: [],
  lastBootTime: null,
});

/** Pools and nodes: the part of the store conformance suite for the Batch data plane. */
export function batchStoreConformance(open: () => Promise<Store>): void {
  test('pools: case-insensitive ids, in-motion list, delete removes their nodes', async () => {
    const store = await open();
    await store.transaction(async (tx) => {
      await tx.putPool(samplePool('Pool-A', 'resizing'));
      await tx.putPool(samplePool('pool-b', 'steady'));
      await tx.putNodes([sampleNode('Pool-A', 'n1', null), sampleNode('Pool-A', 'n2', 'h1')]);
    });
    assert.equal((await store.transaction((tx) => tx.findPool('acct', 'POOL-A')))?.id, 'Pool-A');
    const moving = await store.transaction((tx) => tx.listPoolsInMotion());
    assert.deepEqual(
      moving.map((p) => p.id),
      ['Pool-A'],
    );
    await store.transaction((tx) => tx.putPool(samplePool('Pool-A', 'steady')));
    assert.deepEqual(await store.transaction((tx) => tx.listPoolsInMotion()), []);
    assert.deepEqual(await store.transaction((tx) => tx.listAutoScalePools()), []);
    const autoScale = {
      formula: '$TargetDedicatedNodes=1',
      evaluationIntervalMs: 300_000,
      nextEvaluationAt: T0,
    };
    await store.transaction((tx) => tx.putPool({ ...samplePool('pool-b', 'steady'), autoScale }));
    assert.deepEqual(
      (await store.transaction((tx) => tx.listAutoScalePools())).map((p) => [p.id, p.autoScale?.formula]),
      [['pool-b', '$TargetDedicatedNodes=1']],
    );
    assert.deepEqual(
      (await store.transaction((tx) => tx.listPools('ACCT'))).map((p) => p.id),
      ['Pool-A', 'pool-b'],
    );
    assert.equal(await store.transaction((tx) => tx.deletePool('acct', 'pool-a')), true);
    assert.deepEqual(await store.transaction((tx) => tx.listNodes('acct', 'pool-a')), []);
    assert.equal(await store.transaction((tx) => tx.deletePool('acct', 'pool-a')), false);
    await store.close();
  });

  test('nodes: bulk upsert, by host (with unassigned), delete by ids', async () => {
    const store = await open();
    const many = Array.from({ length: 450 }, (_, i) => sampleNode('p', `n${String(i)}`, i % 2 ? 'h1' : null));
    await store.transaction((tx) => tx.putNodes(many));
    assert.equal((await store.transaction((tx) => tx.listNodes('acct', 'P'))).length, 450);
    assert.equal((await store.transaction((tx) => tx.listNodesForHost('h1', false))).length, 225);
    assert.equal((await store.transaction((tx) => tx.listNodesForHost('h1', true))).length, 450);
    await store.transaction((tx) => tx.putNodes([{ ...sampleNode('p', 'n0', 'h2'), state: 'idle' }]));
    const n0 = await store.transaction((tx) => tx.findNode('ACCT', 'p', 'N0'));
    assert.equal(n0?.state, 'idle');
    assert.equal((await store.transaction((tx) => tx.listNodesForHost('h2', false))).length, 1);
    await store.transaction((tx) =>
      tx.deleteNodes(
        'acct',
        'p',
        many.slice(0, 300).map((n) => n.id),
      ),
    );
    assert.equal((await store.transaction((tx) => tx.listNodes('acct', 'p'))).length, 150);
    assert.equal(await store.transaction((tx) => tx.countAllNodes()), 150, 'countAllNodes counts every node');
    await store.close();
  });
}
