import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../platform/clock.ts';
import { randomIds } from '../../platform/ids.ts';
import type { Store } from '../../storage/port.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import { Leadership } from './leadership.ts';

function server(store: Store, clock: ManualClock, holder: string, log: string[]) {
  return new Leadership(
    { store, clock, ids: randomIds },
    {
      lease: 'loops',
      holder,
      ttlMs: 6000,
      renewMs: 1000,
      onGained: () => {
        log.push(`${holder} leads`);
        return Promise.resolve();
      },
      onLost: () => {
        log.push(`${holder} follows`);
        return Promise.resolve();
      },
      onError: (err) => {
        log.push(`${holder} error ${String(err)}`);
      },
    },
  );
}

test('one of two servers leads; when it stops renewing the other takes over once the lease ran out', async () => {
  const store = await openSqliteStore(':memory:');
  const clock = new ManualClock();
  const log: string[] = [];
  const a = server(store, clock, 'a', log);
  const b = server(store, clock, 'b', log);
  assert.equal(await a.tick(), true);
  assert.equal(await b.tick(), false);
  clock.advance(1000);
  assert.equal(await a.tick(), true, 'a renews');
  // a is killed: it renews no more. b keeps trying every second and wins once a's claim (at +1 s) ran out.
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    assert.equal(await b.tick(), false, `still a's at +${String(i + 2)} s`);
  }
  clock.advance(1000);
  assert.equal(await b.tick(), true, 'b takes over 6 s after the last renewal');
  assert.deepEqual(log, ['a leads', 'b leads']);
  clock.advance(1000);
  assert.equal(await a.tick(), false, 'a, back, finds the lease taken and follows');
  assert.equal(a.state, 'follower');
  await store.close();
});

test('a restarted server with the same id takes its own lease back at once', async () => {
  const store = await openSqliteStore(':memory:');
  const clock = new ManualClock();
  const log: string[] = [];
  assert.equal(await server(store, clock, 'a', log).tick(), true);
  clock.advance(100);
  assert.equal(await server(store, clock, 'a', log).tick(), true);
  await store.close();
});

test('resigning hands the loops over without waiting for the lease to expire', async () => {
  const store = await openSqliteStore(':memory:');
  const clock = new ManualClock();
  const log: string[] = [];
  const a = server(store, clock, 'a', log);
  const b = server(store, clock, 'b', log);
  await a.tick();
  await a.resign();
  assert.equal(await b.tick(), true);
  assert.deepEqual(log, ['a leads', 'a follows', 'b leads']);
  await store.close();
});

test('a leader that cannot reach the database steps down before its lease could run out', async () => {
  const store = await openSqliteStore(':memory:');
  const clock = new ManualClock();
  const log: string[] = [];
  let broken = false;
  const flaky: Store = {
    transaction: (work) =>
      broken ? Promise.reject(new Error('database unreachable')) : store.transaction(work),
    close: () => store.close(),
  };
  const a = server(flaky, clock, 'a', []);
  assert.equal(await a.tick(), true);
  broken = true;
  clock.advance(1000);
  assert.equal(await a.tick(), true, 'the claim made at 0 holds until 6 s: still leading at 1 s');
  clock.advance(4500);
  assert.equal(await a.tick(), false, 'at 5.5 s less than one renewal is left: it steps down');
  assert.equal(a.state, 'follower');
  assert.deepEqual(log, []);
  await store.close();
});
