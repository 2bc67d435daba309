import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { computeClient, runCli, runCliResult, startServer, type TestServer } from './harness.ts';
import { buildToolImage } from './pool-image.ts';

/** Runs `bin/lazurite`, the binary users run; resolves with its exit code and output whatever the code. */
const lazurite = (args: string[], env: NodeJS.ProcessEnv = {}) => runCliResult(args, env, true);

describe('lazurite CLI (issue 6)', () => {
  let server: TestServer;
  let versionId = '';
  let azConfig: string;
  const dir = () => ['--data-dir', server.dataDir];

  before(async () => {
    server = await startServer();
    azConfig = mkdtempSync(join(tmpdir(), 'lazurite-az-apply-'));
  });
  after(async () => {
    rmSync(azConfig, { recursive: true, force: true });
    await server.stop();
  });

  test('plan --nodes 3000 recommends at least 10 replicas and 45 minutes', async () => {
    const plan = JSON.parse(await runCli(['plan', '--nodes', '3000', '--json'])) as {
      minimumReplicas: number;
      recommendedReplicas: number;
      minimumResizeTimeoutMs: number;
      recommendedResizeTimeoutMs: number;
      recommended: { timedOut: boolean; allocatedNodes: number };
    };
    assert.equal(plan.minimumReplicas, 10);
    assert.ok(plan.recommendedReplicas >= 10);
    assert.equal(plan.minimumResizeTimeoutMs, 45 * 60_000);
    assert.ok(plan.recommendedResizeTimeoutMs >= 45 * 60_000);
    assert.deepEqual([plan.recommended.timedOut, plan.recommended.allocatedNodes], [false, 3000]);
    const text = await runCli(['plan', '--nodes', '3000', '--replicas', '1', '--resize-timeout', 'PT15M']);
    assert.match(text, /^given +1 +15m +375\/3000 .* AllocationTimedout$/m);
    assert.match(text, /^time to steady by replicas 1…24: [▁▂▃▄▅▆▇█]{24}/m);
  });

  test('bin/lazurite runs through a link, as npm and `npm install -g` place it, from any folder', () => {
    const links = mkdtempSync(join(tmpdir(), 'lazurite-bin-'));
    try {
      const link = join(links, 'lazurite');
      symlinkSync(fileURLToPath(new URL('../../bin/lazurite', import.meta.url)), link);
      const r = spawnSync(link, ['plan', '--nodes', '10', '--json'], { cwd: links, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { nodes: number }).nodes, 10);
    } finally {
      rmSync(links, { recursive: true, force: true });
    }
  });

  test('env prints the connection, as JSON and as shell variables', async () => {
    const env = JSON.parse(await runCli(['env', '--json', ...dir()])) as { batchUrl: string };
    assert.equal(env.batchUrl, server.connection.batchUrl);
    const exported = await runCli(['env', '--export', ...dir()]);
    const sh = spawnSync(
      'sh',
      ['-c', `${exported}\nprintf '%s|%s' "$AZURE_CLIENT_SECRET" "$AZURE_BATCH_ENDPOINT"`],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(sh.stdout, `${server.connection.clientSecret}|${server.connection.batchUrl}`);
  });

  test('errors are one line plus a hint', async () => {
    const missing = await lazurite(['env', '--data-dir', join(tmpdir(), 'no-such-lazurite-dir')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^lazurite: no server has run with the data dir .*\nhint: start one with/);
    const pool = await lazurite(['watch', 'pool', 'no-such-pool', ...dir()]);
    assert.equal(pool.code, 1);
    assert.match(pool.stderr, /^lazurite: pool 'no-such-pool' does not exist .*PoolNotFound.*\nhint: /);
  });

  test('completion bash is a valid script that knows the commands', async () => {
    const script = await runCli(['completion', 'bash']);
    assert.equal(spawnSync('bash', ['-n'], { input: script }).status, 0);
    const r = spawnSync(
      'bash',
      [
        '-c',
        `${script}\nCOMP_WORDS=(lazurite watch p); COMP_CWORD=2; _lazurite_complete; echo "\${COMPREPLY[*]}"`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.stdout.trim(), 'pool');
  });

  test('watch image-version follows replication of a gallery image to completion', async () => {
    const compute = computeClient(server.connection);
    ({ versionId } = await buildToolImage(compute, server.connection.resourceGroup, [
      { name: 'westeurope', regionalReplicaCount: 2 },
      { name: 'eastus', regionalReplicaCount: 1 },
    ]));
    const r = await lazurite(['watch', 'image-version', versionId, '--json', '--timeout', '5m', ...dir()]);
    assert.equal(r.code, 0, r.stderr);
    const done = JSON.parse(r.stdout) as { aggregatedState: string; regions: { progress: number }[] };
    assert.equal(done.aggregatedState, 'Completed');
    assert.deepEqual(
      done.regions.map((g) => g.progress),
      [100, 100],
    );
    const plan = JSON.parse(
      await runCli(['plan', '--nodes', '600', '--image', versionId, '--json', ...dir()]),
    ) as { given: { replicas: number } };
    assert.equal(plan.given.replicas, 2);
  });

  test("az-setup --apply, then the seeds' az batch pool create, then watch pool exits 0 when steady", async () => {
    assert.notEqual(versionId, '', 'the image test ran first');
    const env = { AZURE_CONFIG_DIR: azConfig, REQUESTS_CA_BUNDLE: undefined };
    const applied = await lazurite(['az-setup', '--apply', '--json', ...dir()], env);
    assert.equal(applied.code, 0, applied.stderr);
    assert.ok((JSON.parse(applied.stdout) as { steps: { ok: boolean }[] }).steps.every((s) => s.ok));
    const azEnv: NodeJS.ProcessEnv = {
      ...process.env,
      AZURE_CONFIG_DIR: azConfig,
      AZURE_CORE_COLLECT_TELEMETRY: 'false',
    };
    delete azEnv.REQUESTS_CA_BUNDLE;
    const create = spawnSync(
      'az',
      [
        'batch',
        'pool',
        'create',
        '--id',
        'mypool',
        '--vm-size',
        'Standard_A1_v2',
        '--target-dedicated-nodes',
        '2',
        '--image',
        versionId,
        '--node-agent-sku-id',
        'batch.node.lazurite tiny',
      ],
      { env: azEnv, encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(create.status, 0, create.stderr);
    const watched = await lazurite(['watch', 'pool', 'mypool', '--json', '--timeout', '5m', ...dir()]);
    assert.equal(watched.code, 0, watched.stderr);
    const pool = JSON.parse(watched.stdout) as {
      allocationState: string;
      nodesByState: Record<string, number>;
      steady: boolean;
    };
    assert.deepEqual([pool.allocationState, pool.steady, pool.nodesByState], ['steady', true, { idle: 2 }]);
  });
});
