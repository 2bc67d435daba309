import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
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
