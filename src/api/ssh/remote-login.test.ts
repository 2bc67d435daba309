import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import ssh2 from 'ssh2';
import { ManualClock } from '../../platform/clock.ts';
import { createLogger } from '../../platform/logger.ts';
import { FailureThrottle } from '../../platform/throttle.ts';
import type { NodeRecord, NodeUserRecord, PoolRecord } from '../../storage/records.ts';
import { RemoteLoginGateway } from './remote-login.ts';

const dir = mkdtempSync(join(tmpdir(), 'lzr-ssh-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const node = { accountName: 'a', poolId: 'p', id: 'n1', state: 'idle', hostId: 'h' } as NodeRecord;
const user = { name: 'alice', uid: 40000 } as NodeUserRecord;
const pool = (spec: Record<string, unknown> = {}) => ({ id: 'p', spec }) as PoolRecord;

/** A gateway over stub users (alice / right-password) whose node is not running here. */
function gateway(clock: ManualClock, spec: Record<string, unknown> = {}) {
  return new RemoteLoginGateway({
    users: {
      login: (_a, _p, _n, name, proof) =>
        Promise.resolve(
          name === 'alice' && proof.kind === 'password' && proof.password === 'right-password'
            ? { pool: pool(spec), node, user }
            : undefined,
        ),
      findNode: () => Promise.resolve(node),
      findPool: () => Promise.resolve(pool(spec)),
    },
    host: {
      runsHere: () => true,
      place: () => Promise.resolve(undefined),
      writeUsers: () => Promise.resolve(),
    },
    listenHost: '127.0.0.1',
    publicAddress: '127.0.0.1',
    defaultPorts: { first: 30000 + Math.floor(Math.random() * 20000), last: 65000 },
    hostKeyPath: join(dir, 'host-key'),
    logger: createLogger('silent'),
    throttle: new FailureThrottle({ burst: 3, perSecond: 1, maxKeys: 100, now: () => clock.now().getTime() }),
  });
}

/** One connection as alice with `password`, running `command`: 'refused', or what the session said and its exit. */
function attempt(port: number, password: string, command = 'id') {
  return new Promise<string>((resolve) => {
    const client = new ssh2.Client();
    let said = '';
    client.on('error', (err: Error & { level?: string }) => {
      resolve(err.level === 'client-authentication' ? 'refused' : `error: ${err.message}`);
    });
    client.on('ready', () => {
      client.exec(command, (err, channel) => {
        if (err) {
          resolve(`exec error: ${err.message}`);
          return;
        }
        channel.resume();
        channel.stderr.on('data', (d: Buffer) => (said += d.toString()));
        channel.on('exit', (code: number) => {
          said += `exit ${String(code)}`;
        });
        channel.on('close', () => {
          client.end();
          resolve(said);
        });
      });
    });
    client.connect({ host: '127.0.0.1', port, username: 'alice', password, readyTimeout: 10_000 });
  });
}

test('the host key is made once, 0600; failed logins are throttled per address and user; a node not running here gets no shell', async () => {
  const clock = new ManualClock();
  const g = gateway(clock);
  assert.equal(statSync(join(dir, 'host-key')).mode & 0o777, 0o600);
  try {
    const { port } = await g.endpoint(pool(), node);
    const first = await attempt(port, 'right-password');
    assert.match(first, /exit 1/);
    assert.match(first, /the node is not running/);
    for (let i = 0; i < 3; i++) assert.equal(await attempt(port, 'wrong'), 'refused');
    assert.equal(await attempt(port, 'right-password'), 'refused', 'throttled: not even checked');
    clock.advance(1000);
    assert.match(await attempt(port, 'right-password'), /exit 1/);
  } finally {
    await g.close();
  }
});

test('an NSG rule that denies the source closes the connection before the SSH banner', async () => {
  const spec = {
    networkConfiguration: {
      endpointConfiguration: {
        inboundNATPools: [
          {
            name: 'ssh',
            protocol: 'tcp',
            backendPort: 22,
            frontendPortRangeStart: 40000 + Math.floor(Math.random() * 9000),
            frontendPortRangeEnd: 49999,
            networkSecurityGroupRules: [{ priority: 150, access: 'deny', sourceAddressPrefix: '127.0.0.1' }],
          },
        ],
      },
    },
  };
  const g = gateway(new ManualClock(), spec);
  after(() => g.close());
  const { port } = await g.endpoint(pool(spec), node);
  const { Socket } = await import('node:net');
  const received = await new Promise<string>((resolve) => {
    const socket = new Socket();
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('close', () => {
      resolve(data);
    });
    socket.on('error', () => undefined);
    socket.connect(port, '127.0.0.1');
  });
  assert.equal(received, '', 'not even the banner');
});
