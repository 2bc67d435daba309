import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import pg from 'pg';
import { keySealer } from '../../platform/sealing.ts';
import { storeConformance } from '../conformance.ts';
import { startThrowawayCluster } from './cluster.fixture.ts';
import { openPostgresStore } from './open.ts';

// The cluster's default collation is ICU English (cluster.fixture.ts), so byte-order listing is really tested.
const cluster = startThrowawayCluster();
after(() => {
  cluster.stop();
});

storeConformance('postgres', async () => openPostgresStore(await cluster.newDatabase()));

test('PostgreSQL: account keys are sealed at rest and rows from before sealing are sealed on open', async () => {
  const url = await cluster.newDatabase();
  const raw = async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const r = await client.query<{ primary_key: string }>('SELECT primary_key FROM batch_accounts');
      return r.rows[0]?.primary_key ?? '';
    } finally {
      await client.end();
    }
  };
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
  const unsealed = await openPostgresStore(url);
  await unsealed.transaction(async (tx) => {
    await tx.putTenant({ id: 't1', displayName: 't', defaultDomain: 't.local' });
    await tx.putSubscription({ id: 's1', tenantId: 't1', displayName: 's', state: 'Enabled' });
    await tx.putBatchAccount(account);
  });
  await unsealed.close();
  assert.equal(await raw(), 'primary-plain==');
  const store = await openPostgresStore(url, { sealer: keySealer(randomBytes(32), 'batch-account-key') });
  assert.match(await raw(), /^sealed:v1:/);
  const read = await store.transaction((tx) => tx.findBatchAccountByName('ACCT'));
  assert.equal(read?.primaryKey, 'primary-plain==');
  await store.close();
});
