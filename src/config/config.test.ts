import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCidr } from '../domain/pools/node-network.ts';
import { ConfigError, DEFAULT_VM_NETWORK, loadConfig } from './config.ts';

test('flags override environment, which overrides defaults', () => {
  const env = { LAZURITE_PORT: '9000', LAZURITE_HOST: '0.0.0.0', LAZURITE_IN_MEMORY: 'true' };
  const c = loadConfig({ port: '9100' }, env);
  assert.equal(c.port, 9100);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.inMemory, true);
  assert.equal(loadConfig({}, {}).port, 8443);
  assert.throws(() => loadConfig({ port: 'x' }, {}), ConfigError);
  assert.throws(() => loadConfig({ logLevel: 'loud' }, {}), ConfigError);
});

test('account quotas: account.quota=n pairs, `*` for every account, refused when malformed', () => {
  const c = loadConfig({ accountQuotas: 'Lazurite.dedicatedCores=1000, *.pools=7,lazurite.POOLS=3' }, {});
  assert.deepEqual(c.accountQuotas, { lazurite: { dedicatedCores: 1000, pools: 3 }, '*': { pools: 7 } });
  assert.deepEqual(loadConfig({}, { LAZURITE_ACCOUNT_QUOTAS: 'a.lowPriorityCores=0' }).accountQuotas, {
    a: { lowPriorityCores: 0 },
  });
  assert.deepEqual(loadConfig({}, {}).accountQuotas, {});
  for (const bad of ['lazurite.cores=5', 'lazurite.pools=-1', 'pools=5', 'lazurite.pools=x'])
    assert.throws(() => loadConfig({ accountQuotas: bad }, {}), ConfigError, bad);
});

test('the node network: default 10.213.0.0/16, flag over LAZURITE_NODE_NETWORK, a public range refused', () => {
  assert.deepEqual(loadConfig({}, {}).nodeNetwork, { base: (10 * 256 + 213) * 65536, prefix: 16 });
  const env = { LAZURITE_NODE_NETWORK: '192.168.40.0/24' };
  assert.equal(loadConfig({}, env).nodeNetwork.prefix, 24);
  assert.equal(loadConfig({ nodeNetwork: '172.20.0.0/14' }, env).nodeNetwork.prefix, 14);
  assert.throws(
    () => loadConfig({ nodeNetwork: '100.64.0.0/10' }, {}),
    /invalid --node-network: .*not private/,
  );
});

test("node disks: unset (each node's temporary disk), flag over LAZURITE_NODE_DISK_MB, at least 32 MiB", () => {
  assert.equal(loadConfig({}, {}).nodeDiskMB, undefined);
  assert.equal(loadConfig({}, { LAZURITE_NODE_DISK_MB: '128' }).nodeDiskMB, 128);
  assert.equal(loadConfig({ nodeDiskMB: '256' }, { LAZURITE_NODE_DISK_MB: '128' }).nodeDiskMB, 256);
  for (const bad of ['16', '-1', '1.5', 'big'])
    assert.throws(() => loadConfig({ nodeDiskMB: bad }, {}), /invalid --node-disk-mb/, bad);
});

test('a VM runCommand may run 30 minutes unless LAZURITE_RUN_COMMAND_TIMEOUT_SECONDS says otherwise', () => {
  assert.equal(loadConfig({}, {}).runCommandTimeoutMs, 1_800_000);
  assert.equal(loadConfig({}, { LAZURITE_RUN_COMMAND_TIMEOUT_SECONDS: '6' }).runCommandTimeoutMs, 6000);
  assert.throws(() => loadConfig({}, { LAZURITE_RUN_COMMAND_TIMEOUT_SECONDS: '0' }), ConfigError);
});

test('the database: SQLite by default, PostgreSQL by --database-url over LAZURITE_DATABASE_URL, others refused', () => {
  assert.equal(loadConfig({}, {}).databaseUrl, undefined);
  assert.equal(loadConfig({}, { LAZURITE_DATABASE_URL: '' }).databaseUrl, undefined);
  const env = { LAZURITE_DATABASE_URL: 'postgres://env@db/lazurite' };
  assert.equal(loadConfig({}, env).databaseUrl, 'postgres://env@db/lazurite');
  assert.equal(
    loadConfig({ databaseUrl: 'postgresql://flag@/x?host=/run/pg' }, env).databaseUrl,
    'postgresql://flag@/x?host=/run/pg',
  );
  for (const bad of ['mysql://u:secret@h/db', 'not a url', 'sqlite:///tmp/x.db'])
    assert.throws(
      () => loadConfig({ databaseUrl: bad }, {}),
      (err: unknown) => err instanceof ConfigError && !err.message.includes('secret'),
      bad,
    );
  assert.throws(() => loadConfig({ databaseUrl: 'postgres://u@h/db', inMemory: true }, {}), ConfigError);
});

test('the slurm backend needs --slurm-conf and an https --advertise-url (flag over environment)', () => {
  const c = loadConfig(
    { nodeBackend: 'slurm', slurmConf: 'cluster/slurm.conf', advertiseUrl: 'https://10.251.0.1' },
    { LAZURITE_ADVERTISE_URL: 'https://10.9.9.9:1' },
  );
  assert.equal(c.nodeBackend, 'slurm');
  assert.match(c.slurmConf ?? '', /^\/.*cluster\/slurm\.conf$/);
  assert.equal(c.advertiseUrl, 'https://10.251.0.1');
  assert.equal(loadConfig({}, { LAZURITE_ADVERTISE_URL: 'https://h:9443' }).advertiseUrl, 'https://h:9443');
  assert.throws(() => loadConfig({ nodeBackend: 'slurm', advertiseUrl: 'https://a' }, {}), /--slurm-conf/);
  assert.throws(() => loadConfig({ nodeBackend: 'slurm', slurmConf: 's.conf' }, {}), /--advertise-url/);
  for (const bad of ['http://a', 'https://a/path', 'not a url'])
    assert.throws(() => loadConfig({ advertiseUrl: bad }, {}), ConfigError, bad);
});

test('extra sbatch options: a JSON array of options, none of those Lazurite sets itself', () => {
  const c = loadConfig(
    { slurmSbatchArgs: '["--partition=batch","--qos=normal"]' },
    { LAZURITE_SLURM_LOW_PRIORITY_ARGS: '["--qos=preemptible"]' },
  );
  assert.deepEqual(c.slurmSbatchArgs, ['--partition=batch', '--qos=normal']);
  assert.deepEqual(c.slurmLowPriorityArgs, ['--qos=preemptible']);
  assert.deepEqual(loadConfig({}, {}).slurmSbatchArgs, []);
  for (const bad of [
    '--partition=batch',
    '["partition"]',
    '[1]',
    '["--job-name=x"]',
    '["--requeue"]',
    '["-o","x"]',
  ])
    assert.throws(() => loadConfig({ slurmSbatchArgs: bad }, {}), ConfigError, bad);
});

test('several servers: --public-url is an https origin, --sealing-key-file a path', () => {
  assert.equal(loadConfig({}, {}).publicUrl, undefined);
  assert.equal(
    loadConfig({ publicUrl: 'https://batch.example:8443' }, {}).publicUrl,
    'https://batch.example:8443',
  );
  assert.equal(
    loadConfig({}, { LAZURITE_PUBLIC_URL: 'https://lb.example/' }).publicUrl,
    'https://lb.example',
  );
  for (const bad of ['http://lb.example', 'https://lb.example/path', 'not a url', 'https://u:p@lb.example'])
    assert.throws(() => loadConfig({ publicUrl: bad }, {}), ConfigError, bad);
  assert.equal(loadConfig({}, {}).sealingKeyFile, undefined);
  assert.equal(
    loadConfig({}, { LAZURITE_SEALING_KEY_FILE: '/etc/lazurite/key' }).sealingKeyFile,
    '/etc/lazurite/key',
  );
});

test('the VM network: a private /16 or larger, apart from the node network', async () => {
  const { DEFAULT_VM_NETWORK: backendDefault } = await import('../backends/local/vm-sandbox.ts');
  assert.equal(formatCidr(loadConfig({}, {}).vmNetwork), DEFAULT_VM_NETWORK);
  assert.equal(DEFAULT_VM_NETWORK, backendDefault, 'config and the local backend agree on the default');
  assert.equal(formatCidr(loadConfig({ vmNetwork: '172.20.0.0/14' }, {}).vmNetwork), '172.20.0.0/14');
  for (const bad of ['10.215.0.0/20', '8.8.0.0/16', '10.213.0.0/16', '10.0.0.0/8', 'nope'])
    assert.throws(() => loadConfig({ vmNetwork: bad }, {}), ConfigError, bad);
});

test('remote login ports: 50000-55000 unless LAZURITE_REMOTE_LOGIN_PORTS names a range; a bad range refused', () => {
  assert.deepEqual(loadConfig({}, {}).remoteLoginPorts, { first: 50000, last: 55000 });
  assert.deepEqual(loadConfig({}, { LAZURITE_REMOTE_LOGIN_PORTS: '2200-2299' }).remoteLoginPorts, {
    first: 2200,
    last: 2299,
  });
  for (const bad of ['2299-2200', '0-10', '22', '1-70000'])
    assert.throws(() => loadConfig({}, { LAZURITE_REMOTE_LOGIN_PORTS: bad }), ConfigError, bad);
});

test("lazurite agent's token and CA from the environment (empty = unset); host commands' PATH", () => {
  const none = loadConfig({}, {});
  assert.equal(none.agentToken, undefined);
  assert.equal(none.agentCa, undefined);
  assert.equal(none.commandPath, '/usr/sbin:/usr/bin:/sbin:/bin');
  const c = loadConfig(
    {},
    { LAZURITE_AGENT_TOKEN: 'tok', LAZURITE_AGENT_CA: '-----BEGIN CERTIFICATE-----', PATH: '/x' },
  );
  assert.equal(c.agentToken, 'tok');
  assert.equal(c.agentCa, '-----BEGIN CERTIFICATE-----');
  assert.equal(c.commandPath, '/x');
  const empty = loadConfig({}, { LAZURITE_AGENT_TOKEN: '', LAZURITE_AGENT_CA: '', PATH: '' });
  assert.deepEqual(
    [empty.agentToken, empty.agentCa, empty.commandPath],
    [undefined, undefined, '/usr/sbin:/usr/bin:/sbin:/bin'],
  );
});
