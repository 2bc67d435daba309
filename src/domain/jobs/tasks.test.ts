import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../platform/clock.ts';
import { sequentialIds } from '../../platform/ids.ts';
import { sampleJob } from '../../storage/conformance-jobs.ts';
import type { Store } from '../../storage/port.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import { DomainError } from '../errors.ts';
import { TaskService } from './tasks.ts';

/** A store whose transactions are counted. */
async function countingStore(): Promise<{ store: Store; transactions: () => number }> {
  const inner = await openSqliteStore(':memory:');
  let count = 0;
  const store = Object.create(inner) as Store;
  store.transaction = (work) => {
    count++;
    return inner.transaction(work);
  };
  return { store, transactions: () => count };
}

test('single adds arriving together are written in one transaction, each answered as if alone', async () => {
  const { store, transactions } = await countingStore();
  await store.transaction((tx) => tx.putJob(sampleJob('Job-A', 1)));
  let nudges = 0;
  const tasks = new TaskService({ store, clock: new ManualClock(), ids: sequentialIds() }, () => nudges++);
  const before = transactions();
  const results = await Promise.allSettled([
    tasks.add('Acct', 'job-a', { id: 't1', commandLine: '/bin/true' }),
    tasks.add('Acct', 'job-a', { id: 't2', commandLine: '/bin/true' }),
    tasks.add('Acct', 'job-a', { id: 'T1', commandLine: '/bin/false' }),
    tasks.add('Acct', 'job-a', { id: 't3', commandLine: 'x', dependsOn: { taskIds: ['t1'] } }),
    tasks.add('Acct', 'missing', { id: 't4', commandLine: '/bin/true' }),
    tasks.add('Acct', 'job-a', { id: 't5', commandLine: '/bin/true' }),
  ]);
  const code = (r: PromiseSettledResult<unknown>) =>
    r.status === 'rejected' && r.reason instanceof DomainError ? r.reason.code : r.status;
  assert.deepEqual(results.map(code), [
    'fulfilled',
    'fulfilled',
    'TaskExists',
    'TaskDependenciesNotSpecifiedOnJob',
    'JobNotFound',
    'fulfilled',
  ]);
  const ids = results.map((r) => (r.status === 'fulfilled' ? (r.value as { id: string }).id : ''));
  assert.deepEqual(ids, ['t1', 't2', '', '', '', 't5']);
  // The first add is written on its own; the five that came while it was written, together.
  assert.equal(transactions() - before, 2);
  assert.ok(nudges >= 1);
  const stored = await store.transaction((tx) => tx.listTasks('Acct', 'Job-A'));
  assert.deepEqual(
    stored.map((t) => [t.id, t.spec.commandLine, t.seq]),
    [
      ['t1', '/bin/true', 0],
      ['t2', '/bin/true', 1],
      ['t5', '/bin/true', 2],
    ],
  );
  await store.close();
});
