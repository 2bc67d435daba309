import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { verify } from 'unixcrypt';
import { keySealer } from '../../platform/sealing.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from './pools.fixture.ts';
import { checkUserAccounts, nodeUserAccounts, runAsOf } from './user-accounts.ts';

const refused = (code: string, target: string) => (e: unknown) => {
  assert.ok(e instanceof DomainError, String(e));
  assert.deepEqual([e.code, e.target], [code, target]);
  return true;
};

const alice = {
  name: 'alice',
  password: 'correct horse',
  linuxUserConfiguration: { uid: 1234, gid: 1234 },
};

test('userAccounts are checked as Batch does: names, passwords, elevation, uid and gid', () => {
  const cases: [unknown[], string, string][] = [
    [[{ password: 'p' }], 'MissingRequiredProperty', 'userAccounts[0].name'],
    [[{ name: 'bob' }], 'MissingRequiredProperty', 'userAccounts[0].password'],
    [[{ name: 'a'.repeat(21), password: 'p' }], 'InvalidPropertyValue', 'userAccounts[0].name'],
    [[{ name: 'bo:b', password: 'p' }], 'InvalidPropertyValue', 'userAccounts[0].name'],
    [[{ name: 'bo\nb', password: 'p' }], 'InvalidPropertyValue', 'userAccounts[0].name'],
    [[{ name: 'root', password: 'p' }], 'InvalidPropertyValue', 'userAccounts[0].name'],
    [[{ name: '_azbatch', password: 'p' }], 'InvalidPropertyValue', 'userAccounts[0].name'],
    [
      [
        { name: 'bob', password: 'p' },
        { name: 'BOB', password: 'q' },
      ],
      'InvalidPropertyValue',
      'userAccounts[1].name',
    ],
    [
      [{ name: 'bob', password: 'p', elevationLevel: 'god' }],
      'InvalidPropertyValue',
      'userAccounts[0].elevationLevel',
    ],
    [
      [{ name: 'bob', password: 'p', linuxUserConfiguration: { uid: 1234 } }],
      'InvalidPropertyValue',
      'userAccounts[0].linuxUserConfiguration',
    ],
    ...[0, 999, 1000, 20000, 20100, 40000, 49999, 65534, 70000].map((uid): [unknown[], string, string] => [
      [{ name: 'bob', password: 'p', linuxUserConfiguration: { uid, gid: 5000 } }],
      'InvalidPropertyValue',
      'userAccounts[0].linuxUserConfiguration.uid',
    ]),
    [
      [
        { name: 'bob', password: 'p', linuxUserConfiguration: { uid: 5000, gid: 5000 } },
        { name: 'eve', password: 'p', linuxUserConfiguration: { uid: 5000, gid: 5001 } },
      ],
      'InvalidPropertyValue',
      'userAccounts[1].linuxUserConfiguration.uid',
    ],
    [
      [{ name: 'bob', password: 'p', windowsUserConfiguration: { loginMode: 'batch' } }],
      'InvalidPropertyValue',
      'userAccounts[0].windowsUserConfiguration',
    ],
  ];
  for (const [accounts, code, target] of cases)
    assert.throws(
      () => {
        checkUserAccounts(accounts);
      },
      refused(code, target),
    );
  checkUserAccounts([alice, { name: 'Bob.Smith_2', password: 'p', elevationLevel: 'Admin' }]);
});

test('a pool keeps its accounts without passwords: only a SHA-512 crypt hash, which GET never shows', async () => {
  const w = await world();
  const added = await w.pools.add(
    w.account,
    { scheme: 'SharedKey' },
    tinyPool('p', 0, {
      userAccounts: [alice, { name: 'bob', password: 'hunter2', elevationLevel: 'admin' }],
    }),
  );
  assert.ok(!JSON.stringify(added.spec).includes('correct horse'));
  assert.ok(!JSON.stringify(added.spec).includes('password'));
  const hash = added.passwordHashes?.alice ?? '';
  assert.match(hash, /^\$6\$/);
  assert.ok(verify('correct horse', hash));
  assert.ok(!verify('wrong', hash));
  const { pool } = await w.pools.get(w.account, 'p');
  assert.deepEqual(
    nodeUserAccounts(pool).map((a) => [a.name, a.uid, a.gid, a.admin]),
    [
      ['alice', 1234, 1234, false],
      ['bob', 30001, 30001, true],
    ],
  );
});

test('password hashes are sealed at rest and open again with the key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-users-'));
  try {
    const path = join(dir, 'state.db');
    const sealer = keySealer(randomBytes(32), 'test');
    const store = await openSqliteStore(path, { sealer });
    const w = await world();
    const record = await w.pools.add(
      w.account,
      { scheme: 'SharedKey' },
      tinyPool('p', 0, { userAccounts: [alice] }),
    );
    await store.transaction((tx) => tx.putPool(record));
    const raw = new DatabaseSync(path, { readOnly: true });
    const docs = raw.prepare('SELECT doc FROM pools').all() as { doc: string }[];
    raw.close();
    const hash = record.passwordHashes?.alice ?? '';
    assert.equal(docs.length, 1);
    assert.ok(!(docs[0]?.doc ?? '').includes(hash), 'the hash is not in the database as it is');
    assert.match(docs[0]?.doc ?? '', /sealed:v1:/);
    const back = await store.transaction((tx) => tx.findPool(record.accountName, 'p'));
    assert.equal(back?.passwordHashes?.alice, hash);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a userName the pool lacks is refused (InvalidPropertyValue naming it); a known one, any case, is taken', async () => {
  const w = await world();
  await assert.rejects(
    w.pools.add(
      w.account,
      { scheme: 'SharedKey' },
      tinyPool('p', 0, { startTask: { commandLine: 'id', userIdentity: { username: 'mallory' } } }),
    ),
    refused('InvalidPropertyValue', 'startTask.userIdentity.userName'),
  );
  await w.pools.add(
    w.account,
    { scheme: 'SharedKey' },
    tinyPool('p', 0, {
      userAccounts: [alice],
      startTask: { commandLine: 'id', userIdentity: { username: 'Alice' } },
    }),
  );
  await assert.rejects(
    w.pools.patch(w.account, 'p', { startTask: { commandLine: 'id', userIdentity: { username: 'bob' } } }),
    refused('InvalidPropertyValue', 'startTask.userIdentity.userName'),
  );
  await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j', poolInfo: { poolId: 'p' } });
  const account = w.account.name;
  await assert.rejects(
    w.tasks.add(account, 'j', { id: 't', commandLine: 'id', userIdentity: { username: 'bob' } }),
    refused('InvalidPropertyValue', 'userIdentity.userName'),
  );
  await assert.rejects(
    w.tasks.add(account, 'j', {
      id: 't',
      commandLine: 'id',
      userIdentity: { username: 'alice', autoUser: { scope: 'task' } },
    }),
    refused('InvalidPropertyValue', 'userIdentity'),
  );
  await w.tasks.add(account, 'j', { id: 't', commandLine: 'id', userIdentity: { username: 'ALICE' } });
  await assert.rejects(
    w.jobs.add(
      w.account,
      { scheme: 'SharedKey' },
      {
        id: 'j2',
        poolInfo: { poolId: 'p' },
        jobManagerTask: { id: 'm', commandLine: 'id', userIdentity: { username: 'bob' } },
      },
    ),
    refused('InvalidPropertyValue', 'jobManagerTask.userIdentity.userName'),
  );
  await assert.rejects(
    w.jobs.add(
      w.account,
      { scheme: 'SharedKey' },
      {
        id: 'j3',
        poolInfo: {
          autoPoolSpecification: {
            poolLifetimeOption: 'job',
            pool: tinyPool('x', 0, { userAccounts: [alice] }),
          },
        },
      },
    ),
    refused('UnsupportedProperty', 'poolInfo.autoPoolSpecification.pool.userAccounts'),
  );
});

test('runs carry their user: an account by its ids, a task-scope auto-user, the pool auto-user, root', async () => {
  const w = await world();
  await w.pools.add(w.account, { scheme: 'SharedKey' }, tinyPool('p', 1, { userAccounts: [alice] }));
  await w.settle();
  const sync = await w.agents.sync({ hostId: 'h1', kind: 'simulated', reports: [] });
  const spec = sync.nodes[0]?.spec;
  assert.deepEqual(
    spec?.userAccounts?.map((a) => [a.name, a.uid, a.gid, a.admin, a.passwordHash.startsWith('$6$')]),
    [['alice', 1234, 1234, false, true]],
  );
  const { pool } = await w.pools.get(w.account, 'p');
  const as = (identity: Record<string, unknown>) => runAsOf({ userIdentity: identity }, pool);
  assert.deepEqual(as({ username: 'alice' }), {
    elevation: 'nonadmin',
    user: { kind: 'account', name: 'alice', uid: 1234, gid: 1234, admin: false },
    envUser: 'alice',
    envIdentity: 'alice',
  });
  assert.deepEqual(as({ autoUser: { scope: 'task' } }), {
    elevation: 'nonadmin',
    user: { kind: 'task' },
    envUser: '_azbatch',
    envIdentity: 'TaskNonAdmin',
  });
  assert.deepEqual(as({ autoUser: { scope: 'task', elevationLevel: 'admin' } }), {
    elevation: 'admin',
    envUser: 'root',
    envIdentity: 'TaskAdmin',
  });
  assert.deepEqual(as({}), { elevation: 'nonadmin', envUser: '_azbatch', envIdentity: 'PoolNonAdmin' });
  // A name the pool lacks (its job moved pools) runs as no one: uid 0 for a non-root user, which no node accepts.
  assert.deepEqual(as({ username: 'ghost' }).user, {
    kind: 'account',
    name: 'ghost',
    uid: 0,
    gid: 0,
    admin: false,
  });
});
