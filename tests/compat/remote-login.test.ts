import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BatchServiceClient } from '@azure/batch';
import { TokenCredentials } from '@azure/ms-rest-js';
import { computeClient, credentialFor, runCli, startServer, type TestServer } from './harness.ts';
import { buildToolImage, failsWith, simulatedBatchServer, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Node users and remote login (issue 17 items 2–3, ADR 0027), on real local nodes: `az batch node user create`,
 * `az batch node remote-login-settings show`, then Debian's ssh (with sshpass) runs commands in the node as the
 * node user and reads the data baked into the pool's image. Wrong passwords, expired users, a pool rule denying
 * 127.0.0.0/8 and a removed node get no shell; a node user cannot read the host's files.
 */

const PASSWORD = 'Night-owl-42!';
const SSH_OPTIONS = [
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  'ConnectTimeout=20',
  '-o',
  'NumberOfPasswordPrompts=1',
  '-o',
  'LogLevel=ERROR',
];

interface Endpoint {
  remoteLoginIpAddress: string;
  remoteLoginPort: number;
}

/** Debian's ssh as `user` with `password` (sshpass), running `command`; status and output. */
function ssh(at: Endpoint, user: string, password: string, command: string) {
  const r = spawnSync(
    'sshpass',
    [
      '-p',
      password,
      'ssh',
      ...SSH_OPTIONS,
      '-o',
      'PreferredAuthentications=password,keyboard-interactive',
      '-o',
      'PubkeyAuthentication=no',
      '-p',
      String(at.remoteLoginPort),
      `${user}@${at.remoteLoginIpAddress}`,
      command,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const isRoot = process.getuid?.() === 0;

describe('remote login into local nodes', { skip: isRoot ? false : 'needs root' }, () => {
  let server: TestServer;
  let batch: BatchServiceClient;
  let configDir: string;
  let nodeId: string;
  let endpoint: Endpoint;

  const az = (args: string[]) => {
    const r = spawnSync('az', args, {
      env: {
        ...process.env,
        AZURE_CONFIG_DIR: configDir,
        REQUESTS_CA_BUNDLE: server.connection.caCertPath,
        AZURE_CORE_COLLECT_TELEMETRY: 'false',
        AZURE_CORE_ONLY_SHOW_ERRORS: 'true',
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  const idleNode = async (poolId: string) => {
    const nodes = await waitFor(
      () => batch.computeNode.list(poolId),
      (ns) => ns.length === 1 && ns[0]?.state === 'idle',
      `an idle node in ${poolId}`,
      300_000,
    );
    return nodes[0]?.id ?? '';
  };

  before(async () => {
    server = await startServer();
    const c = server.connection;
    const token = await credentialFor(c).getToken('https://batch.core.windows.net//.default');
    batch = new BatchServiceClient(new TokenCredentials(token.token), new URL(c.batchUrl).origin);
    configDir = mkdtempSync(join(tmpdir(), 'lazurite-az-'));
    const lines = (await runCli(['az-setup', '--data-dir', server.dataDir])).trim().split('\n');
    // Pools from gallery images take Entra ID only (SharedKey is refused when Compute resources are linked).
    for (const prefix of ['az cloud register', 'az cloud set', 'az login', 'az batch account login']) {
      const l = lines.find((x) => x.startsWith(prefix)) ?? '';
      const r = az(l.split('#')[0]?.trim().split(/\s+/).slice(1) ?? []);
      assert.equal(r.status, 0, r.stderr);
    }
    const { versionId } = await buildToolImage(computeClient(c), c.resourceGroup, [{ name: 'westeurope' }]);
    await batch.pool.add({
      id: 'login',
      vmSize: 'STANDARD_A1_V2',
      virtualMachineConfiguration: {
        imageReference: { virtualMachineImageId: versionId },
        nodeAgentSKUId: 'batch.node.lazurite tiny',
      },
      targetDedicatedNodes: 1,
    });
    nodeId = await idleNode('login');
  });
  after(async () => {
    if (process.env.DEBUG_SERVER_OUTPUT) console.error(server.output().slice(-6000));
    rmSync(configDir, { recursive: true, force: true });
    await server.stop();
  });

  test('az creates a node user and shows the login settings; ssh runs in the node as that user', async () => {
    const expiry = new Date(Date.now() + 2 * 86_400_000).toISOString();
    const node = ['--pool-id', 'login', '--node-id', nodeId];
    const created = az([
      'batch',
      'node',
      'user',
      'create',
      ...node,
      '--name',
      'alice',
      '--password',
      PASSWORD,
      '--expiry-time',
      expiry,
    ]);
    assert.equal(created.status, 0, created.stderr);
    const shown = az(['batch', 'node', 'remote-login-settings', 'show', ...node, '-o', 'json']);
    assert.equal(shown.status, 0, shown.stderr);
    endpoint = JSON.parse(shown.stdout) as Endpoint;
    assert.equal(endpoint.remoteLoginIpAddress, '127.0.0.1');
    assert.ok(endpoint.remoteLoginPort >= 50000 && endpoint.remoteLoginPort <= 55000);

    const r = ssh(endpoint, 'alice', PASSWORD, 'id -un; cat /opt/data/ref.txt; id -u; hostname');
    assert.equal(r.status, 0, r.stderr);
    const [user, data, uid, host] = r.stdout.trim().split('\n');
    assert.equal(user, 'alice');
    assert.equal(data, 'os-disk-data-7');
    assert.ok(Number(uid) >= 40000 && Number(uid) <= 49999, `uid ${String(uid)}`);
    assert.notEqual(host, spawnSync('hostname', { encoding: 'utf8' }).stdout.trim());
    const files = await batch.file.listFromComputeNode('login', nodeId, { recursive: true });
    assert.ok(
      !files.some((f) => f.name?.includes('node-users')),
      'writing the users leaves no file in the node',
    );
  });

  test('a public key logs in, with a terminal when asked; another key is refused', async () => {
    const keys = mkdtempSync(join(tmpdir(), 'lazurite-keys-'));
    try {
      for (const k of ['mine', 'other'])
        assert.equal(
          spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keys, k)]).status,
          0,
        );
      const publicKey = readFileSync(join(keys, 'mine.pub'), 'utf8').trim();
      await batch.computeNode.addUser('login', nodeId, { name: 'kim', sshPublicKey: publicKey });
      const login = (key: string, extra: string[]) =>
        spawnSync(
          'ssh',
          [
            ...SSH_OPTIONS,
            '-o',
            'BatchMode=yes',
            '-o',
            'IdentitiesOnly=yes',
            '-i',
            join(keys, key),
            ...extra,
            '-p',
            String(endpoint.remoteLoginPort),
            `kim@${endpoint.remoteLoginIpAddress}`,
            'tty; id -un',
          ],
          { encoding: 'utf8', timeout: 60_000 },
        );
      const plain = login('mine', ['-T']);
      assert.equal(plain.status, 0, plain.stderr);
      assert.deepEqual(plain.stdout.trim().split('\n'), ['not a tty', 'kim']);
      const terminal = login('mine', ['-tt']);
      assert.equal(terminal.status, 0, terminal.stderr);
      assert.match(terminal.stdout, /^\/dev\/pts\/\d+\r?\nkim\r?\n/);
      const other = login('other', ['-T']);
      assert.notEqual(other.status, 0);
      assert.equal(other.stdout, '');
    } finally {
      rmSync(keys, { recursive: true, force: true });
    }
  });

  test('a wrong password is refused', () => {
    const r = ssh(endpoint, 'alice', 'not-the-password', 'id -un');
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
  });

  test('an expired user is refused; updating the expiry lets them in', async () => {
    await batch.computeNode.addUser('login', nodeId, {
      name: 'bob',
      password: PASSWORD,
      expiryTime: new Date(Date.now() - 3600_000),
    });
    const refused = ssh(endpoint, 'bob', PASSWORD, 'id -un');
    assert.notEqual(refused.status, 0);
    assert.equal(refused.stdout, '');
    await batch.computeNode.updateUser('login', nodeId, 'bob', {
      password: PASSWORD,
      expiryTime: new Date(Date.now() + 3600_000),
    });
    const r = ssh(endpoint, 'bob', PASSWORD, 'id -un');
    assert.equal(r.stdout.trim(), 'bob', r.stderr);
  });

  test('a node user cannot read the host: the host file is not there, nor through /proc/1/root', () => {
    const marker = join(server.dataDir, 'host-marker.txt');
    writeFileSync(marker, 'host-secret-5150\n', { mode: 0o644 });
    const r = ssh(
      endpoint,
      'alice',
      PASSWORD,
      `cat ${marker}; cat /proc/1/root${marker}; cat /proc/self/root${marker}; ls /proc/1/root/ 2>&1; cat /etc/shadow; echo done`,
    );
    assert.ok(r.stdout.includes('done'), r.stderr);
    assert.ok(!r.stdout.includes('host-secret-5150'), r.stdout);
    assert.ok(!r.stdout.includes('$6$'), 'the node user cannot read the node’s /etc/shadow');
  });

  test('no channel but the shell: forwarding to the host’s ports is refused', () => {
    const https = new URL(server.connection.batchUrl).port;
    const r = spawnSync(
      'sshpass',
      [
        '-p',
        PASSWORD,
        'ssh',
        ...SSH_OPTIONS,
        '-p',
        String(endpoint.remoteLoginPort),
        '-W',
        `127.0.0.1:${https}`,
        `alice@${endpoint.remoteLoginIpAddress}`,
      ],
      { encoding: 'utf8', timeout: 60_000, input: 'GET /health HTTP/1.0\r\n\r\n' },
    );
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /forwarding failed|open failed|prohibited/i);
  });

  test('an NSG rule denying 127.0.0.0/8 closes the connection before the SSH banner', async () => {
    const start = 20000 + Math.floor(Math.random() * 20000);
    await batch.pool.add(
      tinyPoolSpec('denied', 1, {
        networkConfiguration: {
          endpointConfiguration: {
            inboundNATPools: [
              {
                name: 'ssh',
                protocol: 'tcp',
                backendPort: 22,
                frontendPortRangeStart: start,
                frontendPortRangeEnd: start + 99,
                networkSecurityGroupRules: [
                  { priority: 150, access: 'deny', sourceAddressPrefix: '127.0.0.0/8' },
                  { priority: 200, access: 'allow', sourceAddressPrefix: '*' },
                ],
              },
            ],
          },
        },
      }),
    );
    const denied = await idleNode('denied');
    await batch.computeNode.addUser('denied', denied, { name: 'carol', password: PASSWORD });
    const at = await batch.computeNode.getRemoteLoginSettings('denied', denied);
    assert.ok(at.remoteLoginPort >= start && at.remoteLoginPort <= start + 99);
    const r = ssh(
      { remoteLoginIpAddress: at.remoteLoginIPAddress, remoteLoginPort: at.remoteLoginPort },
      'carol',
      PASSWORD,
      'id -un',
    );
    assert.equal(r.status, 255);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /kex_exchange_identification|Connection (closed|reset)/);
  });

  test('users API errors are Batch’s', async () => {
    await assert.rejects(
      batch.computeNode.addUser('login', nodeId, { name: 'alice', password: 'x' }),
      failsWith(409, 'NodeUserExists'),
    );
    await assert.rejects(
      batch.computeNode.updateUser('login', nodeId, 'nobody-here', { password: 'x' }),
      failsWith(404, 'NodeUserNotFound'),
    );
    await assert.rejects(
      batch.computeNode.deleteUser('login', nodeId, 'nobody-here'),
      failsWith(404, 'NodeUserNotFound'),
    );
    await assert.rejects(
      batch.computeNode.addUser('login', 'no-such-node', { name: 'dave', password: 'x' }),
      failsWith(404, 'NodeNotFound'),
    );
    await assert.rejects(
      batch.computeNode.addUser('login', nodeId, { name: 'dave', sshPublicKey: 'not a key' }),
      failsWith(400, 'InvalidPropertyValue'),
    );
    await assert.rejects(
      batch.computeNode.addUser('login', nodeId, { name: 'root', password: 'x' }),
      failsWith(400, 'InvalidPropertyValue'),
    );
    await batch.computeNode.deleteUser('login', nodeId, 'bob');
    const r = ssh(endpoint, 'bob', PASSWORD, 'id -un');
    assert.notEqual(r.status, 0);
  });

  test('login to a removed node fails', async () => {
    await batch.pool.removeNodes('login', { nodeList: [nodeId] });
    await waitFor(
      () => batch.computeNode.list('login'),
      (ns) => ns.length === 0,
      'the node removed',
      120_000,
    );
    const r = ssh(endpoint, 'alice', PASSWORD, 'id -un');
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, '');
  });
});

describe('node users on the simulated backend', () => {
  const env = simulatedBatchServer(async (batch) => {
    await batch.pool.add(tinyPoolSpec('sim', 1));
  });

  test('the users API works; remote login is refused with why', async () => {
    const nodes = await waitFor(
      () => env.batch.computeNode.list('sim'),
      (ns) => ns.length === 1 && ns[0]?.state === 'idle',
      'an idle simulated node',
    );
    const id = nodes[0]?.id ?? '';
    await env.batch.computeNode.addUser('sim', id, { name: 'erin', password: PASSWORD });
    await assert.rejects(
      env.batch.computeNode.addUser('sim', id, { name: 'ERIN', password: PASSWORD }),
      failsWith(409, 'NodeUserExists'),
    );
    await env.batch.computeNode.updateUser('sim', id, 'erin', { password: 'other' });
    await assert.rejects(
      env.batch.computeNode.getRemoteLoginSettings('sim', id),
      (e: { statusCode?: number; body?: { code?: string; message?: { value?: string } } }) => {
        return e.statusCode === 409 && e.body?.code === 'OperationNotValidOnNode';
      },
    );
    await env.batch.computeNode.deleteUser('sim', id, 'erin');
    await assert.rejects(
      env.batch.computeNode.deleteUser('sim', id, 'erin'),
      failsWith(404, 'NodeUserNotFound'),
    );
  });
});
