import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ResourceManagementClient } from '@azure/arm-resources';
import { REPO_ROOT, credentialFor, startServer, trustCa, type TestServer } from './harness.ts';

const FIELDS = [
  'caCertPath',
  'authorityHost',
  'armEndpoint',
  'tenantId',
  'subscriptionId',
  'resourceGroup',
  'location',
  'clientId',
  'clientSecret',
  'batchAccountName',
  'batchAccountKey',
  'batchUrl',
];

function armClient(c: TestServer['connection']): ResourceManagementClient {
  const cred = credentialFor(c);
  return new ResourceManagementClient(cred, c.subscriptionId, { endpoint: c.armEndpoint });
}

describe('starting, stopping and restarting the server', () => {
  test('`npm start -- --port P --data-dir D` serves /health, writes connection.json and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lazurite-npm-'));
    const child = spawn(
      'npm',
      ['start', '--silent', '--', '--port', '0', '--data-dir', dir, '--log-level', 'warn'],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Lazurite is listening on')) resolve();
      });
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', () => {
        reject(new Error(`npm start exited early:\n${out}`));
      });
    });
    const connection = JSON.parse(readFileSync(join(dir, 'connection.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.deepEqual(Object.keys(connection).sort(), [...FIELDS].sort());
    for (const f of FIELDS) assert.equal(typeof connection[f], 'string', f);
    assert.ok((connection.caCertPath as string).startsWith('/'));
    for (const f of ['ca.pem', 'server.pem', 'server-key.pem']) assert.ok(existsSync(join(dir, 'tls', f)), f);
    trustCa(connection.caCertPath as string);
    const health = await fetch(`${String(connection.armEndpoint)}/health`);
    assert.equal(health.status, 200);
    const exit = new Promise((r) => child.once('close', r));
    // npm forwards SIGTERM to the server it runs (the start script execs node, so no shell sits between).
    child.kill('SIGTERM');
    await exit;
    await assert.rejects(
      fetch(`${String(connection.armEndpoint)}/health`),
      'the server is down after SIGTERM',
    );
    rmSync(dir, { recursive: true, force: true });
  });

  test('SIGTERM and SIGINT shut the server down gracefully (exit code 0)', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const server = await startServer();
      const exit = new Promise<number | null>((r) =>
        server.process.once('exit', (code) => {
          r(code);
        }),
      );
      server.process.kill(signal);
      assert.equal(await exit, 0, signal);
      await server.stop();
    }
  });

  test('state survives a restart, even after kill -9; in-memory mode keeps nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lazurite-restart-'));
    const first = await startServer([], dir);
    await armClient(first.connection).resourceGroups.createOrUpdate('kept-rg', { location: 'westeurope' });
    const killed = new Promise((r) => first.process.once('exit', r));
    first.process.kill('SIGKILL');
    await killed;
    const second = await startServer([], dir);
    assert.equal((await armClient(second.connection).resourceGroups.get('kept-rg')).name, 'kept-rg');
    assert.equal(
      readFileSync(join(dir, 'tls', 'ca.pem'), 'utf8'),
      readFileSync(first.connection.caCertPath, 'utf8'),
    );
    await second.stop();
    rmSync(dir, { recursive: true, force: true });

    const memDir = mkdtempSync(join(tmpdir(), 'lazurite-mem-'));
    const mem = await startServer(['--in-memory'], memDir);
    await armClient(mem.connection).resourceGroups.createOrUpdate('lost-rg', { location: 'westeurope' });
    await mem.stop();
    assert.equal(existsSync(join(memDir, 'state', 'lazurite.db')), false);
    const mem2 = await startServer(['--in-memory'], memDir);
    assert.equal((await armClient(mem2.connection).resourceGroups.checkExistence('lost-rg')).body, false);
    await mem2.stop();
    rmSync(memDir, { recursive: true, force: true });
  });
});
