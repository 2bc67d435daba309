import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Store } from './port.ts';

/** Leases and shared secrets (ADR 0033) on every adapter. */
export function clusterStoreConformance(open: () => Promise<Store>): void {
  test('a lease is held by one holder until it expires, renewed by its holder, then taken over', async () => {
    const store = await open();
    const claim = (holder: string, now: number) =>
      store.transaction((tx) => tx.cluster.claimLease('loops', holder, now, now + 5000));
    assert.equal(await claim('a', 1000), true);
    assert.equal(await claim('b', 2000), false, 'b cannot take a held lease');
    assert.equal(await claim('a', 3000), true, 'a renews until 8000');
    assert.equal(await claim('b', 7999), false);
    assert.equal(await store.transaction((tx) => tx.cluster.leaseHolder('loops', 7999)), 'a');
    assert.equal(await store.transaction((tx) => tx.cluster.leaseHolder('loops', 8000)), undefined);
    assert.equal(await claim('b', 8000), true, 'an expired lease is taken over');
    assert.equal(await claim('a', 8001), false);
    await store.transaction((tx) => tx.cluster.releaseLease('loops', 'a'));
    assert.equal(await claim('a', 8002), false, 'only the holder can give it up');
    await store.transaction((tx) => tx.cluster.releaseLease('loops', 'b'));
    assert.equal(await claim('a', 8003), true, 'a released lease is free at once');
    await store.close();
  });

  test('concurrent claims of a free lease: exactly one wins', async () => {
    const store = await open();
    const holders = Array.from({ length: 8 }, (_, i) => `h${String(i)}`);
    const won = await Promise.all(
      holders.map((h) => store.transaction((tx) => tx.cluster.claimLease('race', h, 100, 5100))),
    );
    assert.equal(won.filter(Boolean).length, 1);
    const winner = holders[won.indexOf(true)];
    assert.equal(await store.transaction((tx) => tx.cluster.leaseHolder('race', 200)), winner);
    await store.close();
  });

  test('a shared secret is stored once: a second put gets the first value back', async () => {
    const store = await open();
    assert.equal(await store.transaction((tx) => tx.cluster.findSharedSecret('ca')), undefined);
    assert.equal(await store.transaction((tx) => tx.cluster.putSharedSecretOnce('ca', 'first')), 'first');
    assert.equal(await store.transaction((tx) => tx.cluster.putSharedSecretOnce('ca', 'second')), 'first');
    assert.equal(await store.transaction((tx) => tx.cluster.findSharedSecret('ca')), 'first');
    await store.close();
  });
}
