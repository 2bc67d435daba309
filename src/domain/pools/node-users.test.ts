import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeRecord } from '../../storage/records.ts';
import { DomainError } from '../errors.ts';
import { NodeUserService } from './node-users.ts';
import { tinyPool, world } from './pools.fixture.ts';

const code = (e: unknown) => (e instanceof DomainError ? e.code : String(e));

/** A world with one pool `p` of one node (not yet settled: the node is still being created). */
async function usersWorld() {
  const w = await world();
  const synced: NodeRecord[] = [];
  const users = new NodeUserService(w.ctx, (host) =>
    host === 'h1'
      ? (node) => {
          synced.push(node);
          return Promise.resolve();
        }
      : undefined,
  );
  await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 1, { startTask: undefined }));
  await w.sizer.tick();
  const [node] = await w.ctx.store.transaction((tx) => tx.listNodes(w.account.name, 'p'));
  return { w, users, synced, nodeId: node?.id ?? '' };
}

test('a node that is being created takes no users: 409 NodeBeingCreated', async () => {
  const { w, users, nodeId } = await usersWorld();
  await assert.rejects(users.add(w.account, 'p', nodeId, { name: 'alice', password: 'pw' }), (e) => {
    assert.equal(code(e), 'NodeBeingCreated');
    return true;
  });
});

test('users get uids from 40000, expiry one day ahead by default, a crypt hash and no password; each change reaches the node', async () => {
  const { w, users, synced, nodeId } = await usersWorld();
  await w.settle();
  await users.add(w.account, 'p', nodeId, { name: 'alice', password: 'pw-1' });
  await users.add(w.account, 'p', nodeId, { name: 'bob', isAdmin: true });
  const node = await users.findNode(w.account.name, 'p', nodeId);
  const [alice, bob] = node?.users ?? [];
  assert.ok(alice && bob);
  assert.equal(alice.uid, 40000);
  assert.equal(bob.uid, 40001);
  assert.equal(bob.isAdmin, true);
  assert.equal(alice.expiryTime, new Date(w.clock.now().getTime() + 86_400_000).toISOString());
  assert.match(alice.passwordHash ?? '', /^\$6\$/);
  assert.ok(!JSON.stringify(node).includes('pw-1'));
  assert.equal(synced.length, 2);
  assert.deepEqual(
    synced.at(-1)?.users?.map((u) => u.name),
    ['alice', 'bob'],
  );
  const login = (password: string) =>
    users.login(w.account.name, 'p', nodeId, 'alice', { kind: 'password', password });
  assert.ok(await login('pw-1'));
  assert.equal(await login('pw-2'), undefined);
  w.clock.advance(86_400_000);
  assert.equal(await login('pw-1'), undefined, 'expired');
  // PUT replaces: the password goes when omitted, the expiry returns to its default.
  await users.update(w.account, 'p', nodeId, 'ALICE', {});
  const updated = (await users.findNode(w.account.name, 'p', nodeId))?.users?.[0];
  assert.equal(updated?.passwordHash, undefined);
  assert.equal(updated?.uid, 40000);
  await users.delete(w.account, 'p', nodeId, 'alice');
  await assert.rejects(users.delete(w.account, 'p', nodeId, 'alice'), (e) => code(e) === 'NodeUserNotFound');
  await users.add(w.account, 'p', nodeId, { name: 'carol' });
  assert.equal(
    (await users.findNode(w.account.name, 'p', nodeId))?.users?.find((u) => u.name === 'carol')?.uid,
    40000,
  );
});
