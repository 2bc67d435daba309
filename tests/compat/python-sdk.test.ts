import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, startServer, type TestServer } from './harness.ts';

/** Debian's Python (python3-azure lives in its dist-packages, not in a pyenv or venv Python). */
const PYTHON = '/usr/bin/python3';

/** Microsoft's Python SDK (azure-batch from Debian's python3-azure) against the server, unchanged. */
describe('Python SDK (azure-batch)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(['--node-backend', 'simulated']);
  });
  after(async () => {
    await server.stop();
  });

  test('autoscale pool, job, task and its stdout, job schedule, applications, and BatchErrorException codes', () => {
    assert.ok(existsSync(PYTHON), 'Debian python3 (.ci/run installs python3-azure)');
    const c = server.connection;
    const r = spawnSync(
      PYTHON,
      [
        join(REPO_ROOT, 'tests/compat/python/batch_flow.py'),
        new URL(c.batchUrl).origin,
        c.batchAccountName,
        c.batchAccountKey,
      ],
      {
        encoding: 'utf8',
        timeout: 180_000,
        env: { ...process.env, REQUESTS_CA_BUNDLE: c.caCertPath, PYTHONDONTWRITEBYTECODE: '1' },
      },
    );
    assert.equal(r.status, 0, `python failed:\n${r.stderr}`);
    const seen = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    assert.deepEqual(seen, {
      autoScaleResults: '$TargetDedicatedNodes=1;$NodeDeallocationOption=requeue',
      evaluated: '$TargetDedicatedNodes=3;$NodeDeallocationOption=requeue',
      exitCode: 0,
      stdout: seen.stdout,
      scheduledJob: 'py-schedule:job-1',
      duplicate: ['TaskExists', 'The specified task already exists.'],
      resizeAutoScale: 'OperationInvalidForCurrentState',
      applications: [],
      applicationGet: 'ApplicationNotFound',
      poolWithMissingApp: 'InvalidApplicationPackageReferences',
    });
    // The simulated backend says it did not run the command (the local backend runs it: pools/jobs tests).
    assert.match(String(seen.stdout), /^\[simulated node\] not executed: \/bin\/sh -c "echo from python"/);
  });
});
