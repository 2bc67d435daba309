import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec } from './pool-image.ts';

/** `lazurite pools list` shows pools and the large-pool guidance they break (issue 4: "shown by the CLI"). */
describe('lazurite pools list', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
  });
  after(async () => {
    await server.stop();
  });

  test('a 700-node pool with a 5-minute resize timeout is listed with the timeout warning', async () => {
    const batch = sharedKeyBatch(server);
    await batch.pool.add(tinyPoolSpec('big', 700, { resizeTimeout: 'PT5M' }));
    await batch.pool.add(tinyPoolSpec('small', 2));
    const json = JSON.parse(await runCli(['pools', 'list', '--json', '--data-dir', server.dataDir])) as {
      id: string;
      targetNodes: number;
      resizeTimeout: string;
      warnings: string[];
    }[];
    const big = json.find((p) => p.id === 'big');
    assert.equal(big?.targetNodes, 700);
    assert.equal(big.resizeTimeout, 'PT5M');
    assert.equal(big.warnings.length, 1);
    assert.match(big.warnings[0] ?? '', /the guidance is 15 minutes per 1,000 nodes/);
    assert.deepEqual(json.find((p) => p.id === 'small')?.warnings, []);
    const text = await runCli(['pools', 'list', '--data-dir', server.dataDir]);
    assert.match(text, /^big {2}active\/\w+ {2}nodes \d+\/700.* {2}OS lazurite:tiny:busybox$/m);
    assert.match(text, /^ {2}warning: Pool 'big' targets 700 nodes with a resize timeout of 5 min/m);
  });
});
