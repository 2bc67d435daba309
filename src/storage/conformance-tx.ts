import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleJob, sampleTask } from './conformance-jobs.ts';
import type { Store } from './port.ts';

/** Transactions on every adapter: all or nothing, and read-then-write steps as if run one after another. */
export function transactionConformance(open: () => Promise<Store>): void {
  test('a transaction that throws leaves nothing of what it wrote', async () => {
    const store = await open();
    const job = sampleJob('half', 1);
    await assert.rejects(
      store.transaction(async (tx) => {
        await tx.putJob(job);
        await tx.putTasks([sampleTask(job, 't1', 0)]);
        throw new Error('fails after writing');
      }),
      /fails after writing/,
    );
    await store.transaction(async (tx) => {
      assert.equal(await tx.findJob('acct', 'half'), undefined);
      assert.deepEqual(await tx.findTasks('acct', 'half', ['t1']), []);
    });
    await store.close();
  });

  test('concurrent read-then-write transactions each see the others: every job gets its own number', async () => {
    const store = await open();
    const adds = Array.from({ length: 12 }, (_, i) =>
      store.transaction(async (tx) => {
        const seq = await tx.nextJobSeq();
        await tx.putJob(sampleJob(`job-${String(i)}`, seq));
        return seq;
      }),
    );
    const seqs = (await Promise.all(adds)).sort((a, b) => a - b);
    assert.deepEqual(
      seqs,
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    const stored = await store.transaction((tx) => tx.listJobs('acct'));
    assert.deepEqual(
      stored.map((j) => j.seq).sort((a, b) => a - b),
      seqs,
    );
    await store.close();
  });

  test('ids are listed in byte order whatever the database locale (as SQLite orders them)', async () => {
    const store = await open();
    const ids = ['b', 'A', '_x', '-y', 'a-1', 'a_1', 'a1', 'Z'];
    await store.transaction(async (tx) => {
      for (const [i, id] of ids.entries()) await tx.putJob(sampleJob(id, i + 1));
    });
    const listed = (await store.transaction((tx) => tx.listJobs('acct'))).map((j) => j.id);
    const byKeyBytes = [...ids].sort((x, y) => (x.toLowerCase() < y.toLowerCase() ? -1 : 1));
    assert.deepEqual(listed, byKeyBytes);
    await store.close();
  });
}
