import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeConformance } from '../conformance.ts';
import { openSqliteStore } from './open.ts';

storeConformance('sqlite in memory', () => openSqliteStore(':memory:'));
storeConformance('sqlite file', () =>
  openSqliteStore(join(mkdtempSync(join(tmpdir(), 'lzr-store-')), 'state.db')),
);
