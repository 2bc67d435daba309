import { after } from 'node:test';
import { storeConformance } from '../conformance.ts';
import { startThrowawayCluster } from './cluster.fixture.ts';
import { openPostgresStore } from './open.ts';

// The cluster's default collation is ICU English (cluster.fixture.ts), so byte-order listing is really tested.
const cluster = startThrowawayCluster();
after(() => {
  cluster.stop();
});

storeConformance('postgres', async () => openPostgresStore(await cluster.newDatabase()));
