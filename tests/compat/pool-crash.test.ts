import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BatchServiceClient, BatchSharedKeyCredentials } from '@azure/batch';
import { startServer, type TestServer } from './harness.ts';
import { tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Node ids of the live holder processes (one per running node sandbox) of one data dir: the marker in their command
 * lines (all a holder keeps there, ADR 0020), the data dir in their mount table (the node root's overlay options).
 */
function holders(dataDir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const m = /lazurite-node=(tvmps_[0-9a-f]+_[dp])/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      if (m && !readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(dataDir)) continue;
      if (m?.[1]) out.push(m[1]);
    } catch {
      // the process ended meanwhile
    }
  }
  return [...new Set(out)].sort();
}

function client(server: TestServer): BatchServiceClient {
  const c = server.connection;
  return new BatchServiceClient(
    new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
    new URL(c.batchUrl).origin,
  );
}

describe(
  'crash: kill -9 while a 50-node pool is resizing',
  { skip: process.getuid?.() === 0 ? false : 'needs root' },
  () => {
    test('after a restart the pool reaches 50 idle nodes with one sandbox each and nothing orphaned', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-pool-crash-'));
      let server = await startServer([], dataDir);
      try {
        let batch = client(server);
        await batch.pool.add(
          tinyPoolSpec('crashpool', 50, {
            // The host agent brings up 4 nodes at a time, start task included: a start task of a second keeps most
            // nodes `creating` (the pool resizing) for about 10 s after the first few are idle, however fast boots are.
            startTask: {
              commandLine: "/bin/sh -c 'sleep 1; echo started'",
              userIdentity: { autoUser: { elevationLevel: 'admin' } },
            },
          }),
        );
        await waitFor(
          async () => (await batch.computeNode.list('crashpool')).filter((n) => n.state === 'idle').length,
          (idle) => idle >= 5,
          'a few idle nodes',
        );
        const before = await batch.pool.get('crashpool');
        assert.equal(before.allocationState, 'resizing');
        server.process.kill('SIGKILL');
        await new Promise((r) => server.process.once('exit', r));

        server = await startServer([], dataDir);
        batch = client(server);
        const nodes = await waitFor(
          async () => {
            const p = await batch.pool.get('crashpool');
            const ns = await batch.computeNode.list('crashpool');
            return { p, ns };
          },
          (v) =>
            v.p.allocationState === 'steady' && v.ns.length === 50 && v.ns.every((n) => n.state === 'idle'),
          '50 idle nodes after the restart',
          180_000,
        );
        const ids = nodes.ns.map((n) => n.id ?? '').sort();
        await waitFor(
          () => Promise.resolve(holders(dataDir)),
          (h) => JSON.stringify(h) === JSON.stringify(ids),
          'one holder per node, no orphans',
          30_000,
        );
        assert.deepEqual(readdirSync(join(dataDir, 'nodes')).sort(), ids, 'one node disk per node');

        await batch.pool.deleteMethod('crashpool');
        await waitFor(
          () => batch.pool.exists('crashpool'),
          (e) => !e.body,
          'the pool to be gone',
          60_000,
        );
        assert.deepEqual(holders(dataDir), []);
        const mounts = readdirSync('/proc')
          .filter((p) => /^\d+$/.test(p))
          .flatMap((p) => {
            try {
              return readFileSync(`/proc/${p}/mountinfo`, 'utf8').split('\n');
            } catch {
              return [];
            }
          })
          .filter((l) => l.includes(join(dataDir, 'nodes')));
        assert.deepEqual(mounts, [], 'no mount of a node disk is left anywhere');
      } finally {
        await server.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  },
);
