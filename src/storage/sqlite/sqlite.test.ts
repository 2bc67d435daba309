import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { keySealer } from '../../platform/sealing.ts';
import { sampleNode, samplePool } from '../conformance-batch.ts';
import { storeConformance } from '../conformance.ts';
import { openSqliteStore } from './open.ts';

storeConformance('sqlite in memory', () => openSqliteStore(':memory:'));
storeConformance('sqlite file', () =>
  openSqliteStore(join(mkdtempSync(join(tmpdir(), 'lzr-store-')), 'state.db')),
);

test('the database folder is 0700 and its files 0600, also when an older release left them readable', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'lzr-store-')), 'state');
  const path = join(dir, 'lazurite.db');
  const mode = (p: string) => statSync(p).mode & 0o777;
  const store = await openSqliteStore(path);
  await store.transaction((tx) => tx.putTenant({ id: 't1', displayName: 't', defaultDomain: 't.local' }));
  await store.close();
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(path), 0o600);
  chmodSync(dir, 0o755);
  chmodSync(path, 0o644);
  const again = await openSqliteStore(path);
  await again.transaction((tx) => tx.putTenant({ id: 't2', displayName: 't', defaultDomain: 't.local' }));
  assert.equal(mode(dir), 0o700);
  for (const file of readdirSync(dir)) assert.equal(mode(join(dir, file)), 0o600, file);
  await again.close();
});

test('account keys are sealed at rest, read back plain, and rows from before sealing are sealed on open', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'lzr-store-')), 'lazurite.db');
  const sealer = keySealer(randomBytes(32), 'batch-account-key');
  const account = {
    subscriptionId: 's1',
    resourceGroup: 'rg',
    name: 'acct',
    location: 'westeurope',
    tags: {},
    poolAllocationMode: 'BatchService' as const,
    publicNetworkAccess: 'Enabled',
    allowedAuthenticationModes: ['SharedKey'],
    extra: {},
    primaryKey: 'primary-plain==',
    secondaryKey: 'secondary-plain==',
    createdAt: 'now',
    updatedAt: 'now',
  };
  const raw = () => {
    const db = new DatabaseSync(path);
    const row = db.prepare('select primary_key, secondary_key from batch_accounts').get() as Record<
      string,
      string
    >;
    db.close();
    return row;
  };
  const unsealed = await openSqliteStore(path);
  await unsealed.transaction(async (tx) => {
    await tx.putTenant({ id: 't1', displayName: 't', defaultDomain: 't.local' });
    await tx.putSubscription({ id: 's1', tenantId: 't1', displayName: 's', state: 'Enabled' });
    await tx.putResourceGroup({
      subscriptionId: 's1',
      name: 'rg',
      location: 'westeurope',
      tags: {},
      managedBy: null,
      createdAt: 'now',
    });
    await tx.putBatchAccount(account);
  });
  await unsealed.close();
  assert.equal(raw().primary_key, 'primary-plain==', 'written before sealing');
  const store = await openSqliteStore(path, { sealer });
  assert.match(raw().primary_key ?? '', /^sealed:v1:/);
  assert.match(raw().secondary_key ?? '', /^sealed:v1:/);
  const read = await store.transaction((tx) => tx.findBatchAccountByName('acct'));
  assert.deepEqual([read?.primaryKey, read?.secondaryKey], ['primary-plain==', 'secondary-plain==']);
  await store.transaction((tx) => tx.putBatchAccount({ ...account, primaryKey: 'rotated==' }));
  assert.ok(!JSON.stringify(raw()).includes('rotated'));
  assert.equal((await store.transaction((tx) => tx.findBatchAccountByName('acct')))?.primaryKey, 'rotated==');
  await store.close();
});

test('node users’ password hashes are sealed at rest and read back as written', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'lzr-store-')), 'lazurite.db');
  const store = await openSqliteStore(path, { sealer: keySealer(randomBytes(32), 'batch-account-key') });
  const hash = '$6$saltsalt$' + 'x'.repeat(86);
  const node = {
    ...sampleNode('p', 'n1', null),
    users: [
      {
        name: 'alice',
        uid: 40000,
        isAdmin: false,
        expiryTime: '2030-01-01T00:00:00.000Z',
        passwordHash: hash,
      },
    ],
  };
  await store.transaction((tx) => tx.putNodes([node]));
  const db = new DatabaseSync(path);
  const doc = (db.prepare('select doc from nodes').get() as { doc: string }).doc;
  db.close();
  assert.ok(!doc.includes(hash) && doc.includes('sealed:v1:'), doc);
  const back = await store.transaction((tx) => tx.findNode('acct', 'p', 'n1'));
  assert.equal(back?.users?.[0]?.passwordHash, hash);
  const listed = await store.transaction((tx) => tx.listNodes('acct', 'p'));
  assert.equal(listed[0]?.users?.[0]?.passwordHash, hash);
  await store.close();
});

test('container registry passwords are sealed at rest and read back as written (ADR 0039)', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'lzr-store-')), 'lazurite.db');
  const store = await openSqliteStore(path, { sealer: keySealer(randomBytes(32), 'batch-account-key') });
  const pool = { ...samplePool('p', 'steady'), registryPasswords: { '0': 'registry-secret' } };
  await store.transaction((tx) => tx.putPool(pool));
  const db = new DatabaseSync(path);
  const doc = (db.prepare('select doc from pools').get() as { doc: string }).doc;
  db.close();
  assert.ok(!doc.includes('registry-secret') && doc.includes('sealed:v1:'), doc);
  const back = await store.transaction((tx) => tx.findPool('Acct', 'p'));
  assert.deepEqual(back?.registryPasswords, { '0': 'registry-secret' });
  await store.close();
});
