import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NodeFilesUnavailable } from '../../backends/port.ts';
import type { NodeFileAccess } from '../../backends/remote-files.ts';
import { DomainError } from '../errors.ts';
import { tinyPool, world } from '../pools/pools.fixture.ts';
import { checkTaskFilesKept, TaskFileCleaner } from './task-files-cleanup.ts';

const SHARED_KEY = { scheme: 'SharedKey' } as const;
const HOUR = 3600_000;

/** A world with one idle node, a job `j` and the given tasks run to completion. */
async function ran(tasks: Record<string, unknown>[]) {
  const w = await world();
  await w.pools.add(w.account, SHARED_KEY, tinyPool('p', 1, { taskSlotsPerNode: 4 }));
  await w.settle();
  await w.jobs.add(w.account, { scheme: 'SharedKey' }, { id: 'j', poolInfo: { poolId: 'p' } });
  for (const t of tasks) await w.tasks.add(w.account.name, 'j', t);
  await w.settle();
  const node = (await w.pools.get(w.account, 'p')).nodes[0]?.id ?? '';
  const folders = async () =>
    (await w.executor.listFiles(node, 'workitems/j/job-1', false).catch(() => [])).map((f) => f.name).sort();
  return {
    w,
    node,
    folders,
    cleaner: new TaskFileCleaner(w.ctx, (h) => (h === 'h1' ? w.executor : undefined)),
  };
}

const code = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? `${err.code} ${err.values.PropertyName ?? ''}`.trim() : String(err);
  }
  return 'ok';
};

describe('task folders on nodes', () => {
  test('deleting a task or its job removes its folder on the node', async () => {
    const { w, folders, cleaner } = await ran([
      { id: 'a', commandLine: 'echo a' },
      { id: 'b', commandLine: 'echo b' },
      { id: 'c', commandLine: 'echo c' },
    ]);
    assert.deepEqual(await folders(), ['workitems/j/job-1/a', 'workitems/j/job-1/b', 'workitems/j/job-1/c']);
    await w.tasks.delete(w.account.name, 'j', 'a', {});
    assert.deepEqual((await folders()).length, 3, 'removal waits for the cleaner');
    await cleaner.tick();
    assert.deepEqual(await folders(), ['workitems/j/job-1/b', 'workitems/j/job-1/c']);
    await w.jobs.delete(w.account.name, 'j', {});
    await cleaner.tick();
    assert.deepEqual(await folders(), []);
    assert.deepEqual(await w.ctx.store.transaction((tx) => tx.listNodeFileCleanups(10)), [], 'queue drained');
  });

  test('a completed task keeps its folder for its retention time (default 7 days), then it goes', async () => {
    const { w, folders, cleaner } = await ran([
      { id: 'short', commandLine: 'echo s', constraints: { retentionTime: 'PT1H' } },
      { id: 'default', commandLine: 'echo d' },
    ]);
    await cleaner.tick();
    assert.equal((await folders()).length, 2);
    w.clock.advance(HOUR - 1000);
    await cleaner.tick();
    assert.equal((await folders()).length, 2, 'not yet');
    w.clock.advance(2000);
    await cleaner.tick();
    assert.deepEqual(await folders(), ['workitems/j/job-1/default']);
    const short = await w.tasks.get(w.account.name, 'j', 'short');
    assert.equal(
      code(() => {
        checkTaskFilesKept(short);
      }),
      'TaskFilesCleanedup',
    );
    const kept = await w.tasks.get(w.account.name, 'j', 'default');
    assert.equal(
      code(() => {
        checkTaskFilesKept(kept);
      }),
      'ok',
    );
    w.clock.advance(7 * 24 * HOUR);
    await cleaner.tick();
    assert.deepEqual(await folders(), []);
    assert.deepEqual(
      await w.ctx.store.transaction((tx) => tx.tasksWithExpiredFiles(w.clock.now().getTime(), 10)),
      [],
      'nothing is due twice',
    );
  });

  test('a host that cannot answer keeps the work for a later tick', async () => {
    const { w, folders } = await ran([{ id: 'a', commandLine: 'echo a' }]);
    let up = false;
    const gone: NodeFileAccess = {
      listFiles: (...a) => w.executor.listFiles(...a),
      readFile: (...a) => w.executor.readFile(...a),
      statFile: (...a) => w.executor.statFile(...a),
      deleteFile: () => Promise.reject(new NodeFilesUnavailable('agent gone')),
    };
    const cleaner = new TaskFileCleaner(w.ctx, () => (up ? w.executor : gone));
    await w.tasks.delete(w.account.name, 'j', 'a', {});
    await cleaner.tick();
    assert.equal((await folders()).length, 1);
    up = true;
    await cleaner.tick();
    assert.deepEqual(await folders(), []);
  });

  test('a negative retentionTime is refused naming the property', async () => {
    const { w } = await ran([]);
    const refusal = async (body: Record<string, unknown>) => {
      try {
        await w.tasks.add(w.account.name, 'j', body);
      } catch (err) {
        assert.ok(err instanceof DomainError);
        return `${err.code} ${err.values.PropertyName ?? ''}`;
      }
      return 'accepted';
    };
    assert.equal(
      await refusal({ id: 'neg', commandLine: 'x', constraints: { retentionTime: 'P-1D' } }),
      'InvalidPropertyValue constraints.retentionTime',
    );
    assert.equal(
      await refusal({ id: 'neg2', commandLine: 'x', constraints: { retentionTime: '-PT5M' } }),
      'InvalidPropertyValue constraints.retentionTime',
    );
    assert.equal(
      await refusal({ id: 'ok', commandLine: 'x', constraints: { retentionTime: 'PT0S' } }),
      'accepted',
    );
  });
});
