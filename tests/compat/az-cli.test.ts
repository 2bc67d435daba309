import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, startServer, type TestServer } from './harness.ts';

/** The az CLI (Debian azure-cli), driven exactly as the README's az commands (`lazurite az-setup`) say. */
describe('az CLI against the well-known environment', () => {
  let server: TestServer;
  let commands: string[];
  let configDir: string;

  const az = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
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
  const azJson = (args: string[]): unknown => {
    const r = az([...args, '-o', 'json']);
    assert.equal(r.status, 0, `az ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  /** The az words of one printed setup line (its first token is `az`; values contain no spaces). */
  const line = (prefix: string): string[] => {
    const l = commands.find((c) => c.startsWith(prefix));
    assert.ok(l, `az-setup prints a '${prefix}' line`);
    return l.split('#')[0]?.trim().split(/\s+/).slice(1) ?? [];
  };

  before(async () => {
    server = await startServer();
    configDir = mkdtempSync(join(tmpdir(), 'lazurite-az-'));
    commands = (await runCli(['az-setup', '--data-dir', server.dataDir])).trim().split('\n');
    assert.equal(az(line('az cloud register')).status, 0);
    assert.equal(az(line('az cloud set')).status, 0);
  });
  after(async () => {
    rmSync(configDir, { recursive: true, force: true });
    await server.stop();
  });

  test('logs in with the service principal through the AD FS-style authority', () => {
    const subs = azJson(line('az login')) as { id: string; tenantId: string; state: string }[];
    assert.deepEqual(
      subs.map((s) => [s.id, s.tenantId, s.state]),
      [[server.connection.subscriptionId, server.connection.tenantId, 'Enabled']],
    );
  });

  test('lists resource groups and Batch accounts', () => {
    const groups = azJson(['group', 'list']) as { name: string; location: string }[];
    assert.ok(
      groups.some(
        (g) => g.name === server.connection.resourceGroup && g.location === server.connection.location,
      ),
    );
    const accounts = azJson(['batch', 'account', 'list']) as { name: string; accountEndpoint: string }[];
    const host = new URL(server.connection.batchUrl).host;
    assert.deepEqual(
      accounts.map((a) => [a.name, a.accountEndpoint]),
      [[server.connection.batchAccountName, `${host}/batch/${server.connection.batchAccountName}`]],
    );
    const keys = azJson([
      'batch',
      'account',
      'keys',
      'list',
      '-g',
      server.connection.resourceGroup,
      '-n',
      server.connection.batchAccountName,
    ]) as { primary: string };
    assert.equal(keys.primary, server.connection.batchAccountKey);
  });

  test('lists supported images on the Batch data plane with the shared key and with Entra ID', () => {
    const shared = azJson(line('az batch pool supported-images list --account-name')) as {
      nodeAgentSkuId: string;
      osType: string;
    }[];
    assert.ok(shared.some((i) => i.nodeAgentSkuId === 'batch.node.debian 12' && i.osType === 'linux'));
    assert.equal(az(line('az batch account login')).status, 0);
    const aad = azJson(['batch', 'pool', 'supported-images', 'list']) as { nodeAgentSkuId: string }[];
    assert.equal(aad.length, shared.length);
  });

  test('autoscale and job schedules with az batch (Entra ID)', () => {
    const pool = ['--pool-id', 'az-auto'];
    const created = az([
      'batch',
      'pool',
      'create',
      '--id',
      'az-auto',
      '--vm-size',
      'standard_a1_v2',
      '--image',
      'lazurite:tiny:busybox',
      '--node-agent-sku-id',
      'batch.node.lazurite tiny',
      '--target-dedicated-nodes',
      '0',
    ]);
    assert.equal(created.status, 0, created.stderr);
    let state = '';
    for (let i = 0; i < 30 && state !== 'steady'; i++)
      state = String(azJson(['batch', 'pool', 'show', ...pool, '--query', 'allocationState']));
    assert.equal(state, 'steady');
    const formula = ['--auto-scale-formula', '$TargetDedicatedNodes = 0;'];
    assert.equal(
      az([
        'batch',
        'pool',
        'autoscale',
        'enable',
        ...pool,
        ...formula,
        '--auto-scale-evaluation-interval',
        'PT10M',
      ]).status,
      0,
    );
    const run = azJson([
      'batch',
      'pool',
      'autoscale',
      'evaluate',
      ...pool,
      '--auto-scale-formula',
      'x = $CurrentDedicatedNodes + 2; $TargetDedicatedNodes = x',
    ]) as { results: string };
    assert.equal(run.results, 'x=2;$TargetDedicatedNodes=2;$NodeDeallocationOption=requeue');
    const shown = azJson(['batch', 'pool', 'show', ...pool]) as {
      enableAutoScale: boolean;
      autoScaleEvaluationInterval: string;
    };
    assert.deepEqual([shown.enableAutoScale, shown.autoScaleEvaluationInterval], [true, '0:10:00']);
    assert.equal(az(['batch', 'pool', 'autoscale', 'disable', ...pool]).status, 0);

    const file = join(configDir, 'schedule.json');
    writeFileSync(
      file,
      JSON.stringify({
        id: 'az-schedule',
        schedule: { recurrenceInterval: 'PT1H' },
        jobSpecification: { poolInfo: { poolId: 'az-auto' } },
      }),
    );
    assert.equal(az(['batch', 'job-schedule', 'create', '--json-file', file]).status, 0);
    let recent = '';
    for (let i = 0; i < 30 && recent === ''; i++)
      recent = String(
        azJson([
          'batch',
          'job-schedule',
          'show',
          '--job-schedule-id',
          'az-schedule',
          '--query',
          "executionInfo.recentJob.id || ''",
        ]),
      );
    assert.equal(recent, 'az-schedule:job-1');
    const listed = azJson(['batch', 'job', 'list', '--job-schedule-id', 'az-schedule', '--query', '[].id']);
    assert.deepEqual(listed, ['az-schedule:job-1']);
    assert.equal(
      az(['batch', 'job-schedule', 'delete', '--job-schedule-id', 'az-schedule', '--yes']).status,
      0,
    );
    assert.equal(az(['batch', 'pool', 'delete', ...pool, '--yes']).status, 0);
  });

  test('builds a gallery image version replicated to two regions (az disk/snapshot/sig, LRO polling)', () => {
    const rg = ['-g', server.connection.resourceGroup];
    azJson(['disk', 'create', ...rg, '-n', 'az-data', '--size-gb', '4']);
    const snap = azJson(['snapshot', 'create', ...rg, '-n', 'az-snap', '--source', 'az-data']) as {
      provisioningState: string;
    };
    assert.equal(snap.provisioningState, 'Succeeded');
    azJson(['sig', 'create', ...rg, '-r', 'azgallery']);
    azJson([
      'sig',
      'image-definition',
      'create',
      ...rg,
      '-r',
      'azgallery',
      '-i',
      'def',
      '--publisher',
      'contoso',
      '--offer',
      'batch',
      '--sku',
      'data',
      '--os-type',
      'linux',
    ]);
    const version = azJson([
      'sig',
      'image-version',
      'create',
      ...rg,
      '-r',
      'azgallery',
      '-i',
      'def',
      '-e',
      '1.0.0',
      '--os-snapshot',
      'az-snap',
      '--target-regions',
      'westeurope=2',
      'eastus=1',
    ]) as { provisioningState: string };
    assert.equal(version.provisioningState, 'Succeeded');
    const status = azJson([
      'sig',
      'image-version',
      'show',
      ...rg,
      '-r',
      'azgallery',
      '-i',
      'def',
      '-e',
      '1.0.0',
      '--expand',
      'ReplicationStatus',
      '--query',
      'replicationStatus',
    ]) as { aggregatedState: string; summary: { region: string; progress: number }[] };
    assert.equal(status.aggregatedState, 'Completed');
    assert.deepEqual(status.summary.map((s) => [s.region, s.progress]).sort(), [
      ['East US', 100],
      ['West Europe', 100],
    ]);
  });

  test('the seed flow with az: vm create, run-command, snapshots, image, generalize, sig version', (t) => {
    const rg = ['-g', server.connection.resourceGroup];
    // Debian's az needs the hybrid profile for vm/image commands (see README); az batch needs latest.
    assert.equal(az(line('az cloud update')).status, 0);
    t.after(() => {
      az(['cloud', 'update', '-n', 'Lazurite', '--profile', 'latest']);
    });
    const vm = azJson([
      'vm',
      'create',
      ...rg,
      '-n',
      'azvm',
      '--image',
      'lazurite:tiny:busybox:latest',
      '--size',
      'Standard_D2s_v3',
      '--admin-username',
      'azureuser',
      '--generate-ssh-keys',
      '--data-disk-sizes-gb',
      '1',
    ]) as { powerState: string };
    assert.equal(vm.powerState, 'VM running');
    const run = azJson([
      'vm',
      'run-command',
      'invoke',
      ...rg,
      '-n',
      'azvm',
      '--command-id',
      'RunShellScript',
      '--scripts',
      'mke2fs -q /dev/disk/azure/scsi1/lun0 && mkdir -p /datadrive && mount /dev/disk/azure/scsi1/lun0 /datadrive && echo az-data > /datadrive/f && cat /datadrive/f',
    ]) as { value: { message: string }[] };
    assert.match(run.value[0]?.message ?? '', /\naz-data\n\n\[stderr\]/);
    const disks = azJson([
      'vm',
      'show',
      ...rg,
      '-n',
      'azvm',
      '--query',
      '[storageProfile.osDisk.name, storageProfile.dataDisks[0].name]',
    ]) as [string, string];
    azJson(['snapshot', 'create', ...rg, '-n', 'vm-os-snap', '--source', disks[0]]);
    azJson(['snapshot', 'create', ...rg, '-n', 'vm-data-snap', '--source', disks[1]]);
    const fromSnaps = azJson([
      'image',
      'create',
      ...rg,
      '-n',
      'vm-snap-image',
      '--source',
      'vm-os-snap',
      '--data-disk-sources',
      'vm-data-snap',
      '--os-type',
      'linux',
    ]) as { provisioningState: string };
    assert.equal(fromSnaps.provisioningState, 'Succeeded');
    for (const verb of ['deallocate', 'generalize']) {
      const r = az(['vm', verb, ...rg, '-n', 'azvm']);
      assert.equal(r.status, 0, `az vm ${verb}: ${r.stderr}`);
    }
    const fromVm = azJson(['image', 'create', ...rg, '-n', 'vm-image', '--source', 'azvm']) as {
      provisioningState: string;
    };
    assert.equal(fromVm.provisioningState, 'Succeeded');
    azJson(['sig', 'create', ...rg, '-r', 'vmgallery']);
    azJson([
      'sig',
      'image-definition',
      'create',
      ...rg,
      '-r',
      'vmgallery',
      '-i',
      'tiny',
      '--publisher',
      'contoso',
      '--offer',
      'batch',
      '--sku',
      'tiny',
      '--os-type',
      'linux',
    ]);
    const version = azJson([
      'sig',
      'image-version',
      'create',
      ...rg,
      '-r',
      'vmgallery',
      '-i',
      'tiny',
      '-e',
      '1.0.0',
      '--managed-image',
      'vm-snap-image',
      '--target-regions',
      'westeurope=2',
      'eastus=1',
    ]) as { provisioningState: string };
    assert.equal(version.provisioningState, 'Succeeded');
  });
});
