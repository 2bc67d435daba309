import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startServer } from './harness.ts';
import { sharedKeyBatch, tinyPool, waitFor } from './pool-image.ts';

/**
 * kill -9 the server with 1,000 tasks in flight, restart it on the same data dir: every task ends exactly once
 * in `completed` — none lost, none run twice to completion (each run appends its id to a log on its node).
 */

const COUNT = 1000;

async function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream ?? []) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

describe(
  'crash: kill -9 with 1,000 tasks in flight',
  { skip: process.getuid?.() === 0 ? false : 'needs root' },
  () => {
    test('after a restart every task completes exactly once', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-task-crash-'));
      let server = await startServer([], dataDir);
      try {
        let batch = sharedKeyBatch(server);
        await tinyPool(batch, 'crash', 4, { vmSize: 'standard_d4_v3', taskSlotsPerNode: 16 });
        await batch.job.add({ id: 'many', poolInfo: { poolId: 'crash' } });
        const tasks = Array.from({ length: COUNT }, (_, i) => ({
          id: `t${String(i).padStart(4, '0')}`,
          commandLine: `/bin/sh -c 'sleep 0.$((RANDOM % 9 + 1)); echo $AZ_BATCH_TASK_ID >> $AZ_BATCH_NODE_SHARED_DIR/done.log'`,
          userIdentity: { autoUser: { scope: 'pool' as const, elevationLevel: 'admin' as const } },
        }));
        for (let i = 0; i < COUNT; i += 100) await batch.task.addCollection('many', tasks.slice(i, i + 100));
        await waitFor(
          () => batch.job.getTaskCounts('many'),
          (c) => c.taskCounts.completed >= 100 && c.taskCounts.running > 0,
          'some tasks done and some running',
        );
        server.process.kill('SIGKILL');
        await new Promise((r) => server.process.once('exit', r));

        server = await startServer([], dataDir);
        batch = sharedKeyBatch(server);
        const counts = await waitFor(
          () => batch.job.getTaskCounts('many'),
          (c) => c.taskCounts.completed === COUNT,
          'all tasks completed after the restart',
          240_000,
        );
        assert.deepEqual(
          { ...counts.taskCounts },
          { active: 0, running: 0, completed: COUNT, succeeded: COUNT, failed: 0 },
        );
        const seen = new Map<string, number>();
        const where = new Map<string, string[]>();
        for (const node of await batch.computeNode.list('crash')) {
          const log = await batch.file
            .getFromComputeNode('crash', node.id ?? '', 'shared/done.log')
            .catch(() => undefined);
          for (const id of (await text(log?.readableStreamBody)).split('\n').filter((l) => l !== '')) {
            seen.set(id, (seen.get(id) ?? 0) + 1);
            where.set(id, [...(where.get(id) ?? []), node.id ?? '']);
          }
        }
        const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
        const detail = await Promise.all(
          twice.map(async (id) => {
            const t = await batch.task.get('many', id);
            return { id, nodes: where.get(id), info: t.executionInfo, node: t.nodeInfo?.nodeId };
          }),
        );
        assert.deepEqual(twice, [], `no task ran to completion twice: ${JSON.stringify(detail)}`);
        assert.equal(seen.size, COUNT, 'every task ran to completion once');
      } finally {
        await server.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  },
);
