#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/config.ts';
import { startLazurite } from '../app/main.ts';
import { runAgent } from './agent.ts';
import { registerClusterCommands } from './cluster.ts';
import { CliError } from './client.ts';
import { registerClientCommands } from './client-commands.ts';
import { parseCount } from './plan.ts';
import { buildImage, importImage, listImages } from './images.ts';
import { formatPools, listPools, preemptPool } from './pools.ts';
import { createServicePrincipal } from './sp.ts';

const program = new Command('lazurite')
  .description('Self-hosted Azure Batch and Azure Compute Gallery')
  .showHelpAfterError();

const common = (cmd: Command) =>
  cmd
    .option('--data-dir <dir>', 'data directory (env LAZURITE_DATA_DIR)')
    .option(
      '--database-url <url>',
      'keep the state in PostgreSQL, postgres://user@host/db (env LAZURITE_DATABASE_URL; default: SQLite in the data directory)',
    )
    .addOption(
      new Option('--log-level <level>', 'log level (env LAZURITE_LOG_LEVEL)').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    );

common(
  program
    .command('start')
    .description('start the server (identity, ARM and Batch on one HTTPS port)')
    .option('--port <port>', 'HTTPS port, 0 for any free port (env LAZURITE_PORT)')
    .option('--host <host>', 'address to listen on (env LAZURITE_HOST)')
    .option('--in-memory', 'keep state in memory only (env LAZURITE_IN_MEMORY)')
    .option(
      '--node-backend <kind>',
      'what runs compute nodes: local, simulated, remote or slurm (env LAZURITE_NODE_BACKEND)',
    )
    .option('--slurm-conf <file>', "slurm backend: the cluster's slurm.conf (env LAZURITE_SLURM_CONF)")
    .option(
      '--slurm-sbatch-args <json>',
      'slurm backend: extra sbatch options for every node, a JSON array, e.g. ["--partition=batch"] (env LAZURITE_SLURM_SBATCH_ARGS)',
    )
    .option(
      '--slurm-low-priority-args <json>',
      'slurm backend: extra sbatch options for low-priority nodes, e.g. ["--qos=preemptible"] (env LAZURITE_SLURM_LOW_PRIORITY_ARGS)',
    )
    .option(
      '--advertise-url <url>',
      'https://host[:port] other hosts reach this server at; in its certificate (env LAZURITE_ADVERTISE_URL)',
    )
    .option(
      '--replica-capacity <n>',
      'concurrent node hydrations per image replica (env LAZURITE_REPLICA_CAPACITY)',
    )
    .option(
      '--account-quotas <list>',
      'Batch account quotas, e.g. lazurite.dedicatedCores=1000,*.pools=200 (env LAZURITE_ACCOUNT_QUOTAS)',
    )
    .option(
      '--node-network <cidr>',
      'private IPv4 range the node addresses come from (env LAZURITE_NODE_NETWORK, default 10.213.0.0/16)',
    )
    .option(
      '--public-url <url>',
      'the origin clients use when several servers answer behind one address (env LAZURITE_PUBLIC_URL; ADR 0033)',
    )
    .option(
      '--sealing-key-file <path>',
      'the 32-byte key that seals secrets at rest; every server on one database needs the same (env LAZURITE_SEALING_KEY_FILE; default <data-dir>/identity/sealing.key)',
    )
    .option(
      '--node-disk-mb <mb>',
      "caps every local node's own disk, MiB (env LAZURITE_NODE_DISK_MB; default: its VM size's temporary disk)",
    )
    .option(
      '--vm-network <cidr>',
      "private IPv4 range of the VMs' addresses, a /16 or larger shared by every server on the host (env LAZURITE_VM_NETWORK, default 10.215.0.0/16)",
    )
    .option(
      '--strict-image-support',
      'refuse pools whose node agent SKU Batch retired, as Azure does (env LAZURITE_STRICT_IMAGE_SUPPORT; default: create them with a warning)',
    ),
).action(
  async (opts: {
    port?: string;
    host?: string;
    dataDir?: string;
    inMemory?: boolean;
    databaseUrl?: string;
    publicUrl?: string;
    sealingKeyFile?: string;
    logLevel?: string;
    nodeBackend?: string;
    slurmConf?: string;
    slurmSbatchArgs?: string;
    slurmLowPriorityArgs?: string;
    advertiseUrl?: string;
    replicaCapacity?: string;
    accountQuotas?: string;
    nodeNetwork?: string;
    vmNetwork?: string;
    /** Commander's name for --node-disk-mb. */
    nodeDiskMb?: string;
    strictImageSupport?: boolean;
  }) => {
    const config = loadConfig({ ...opts, nodeDiskMB: opts.nodeDiskMb });
    const server = await startLazurite(config);
    process.stdout.write(
      `Lazurite is listening on ${server.origin}\nportal ${server.origin}/portal · metrics ${server.origin}/metrics · shell variables: eval "$(bin/lazurite env --export)"\n${JSON.stringify(server.connection, null, 2)}\n`,
    );
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      server.logger.info({ signal }, 'shutting down');
      server.close().then(
        () => process.exit(0),
        (err: unknown) => {
          server.logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => {
      stop('SIGINT');
    });
    process.on('SIGTERM', () => {
      stop('SIGTERM');
    });
  },
);

const sp = program.command('sp').description('service principals');
common(
  sp
    .command('create')
    .description('create a service principal and print its credentials')
    .requiredOption('--name <name>', 'display name')
    .option('--tenant <id>', 'tenant id (default: the well-known tenant)')
    .option('--role <role>', 'assign a built-in role: Owner, Contributor or Reader')
    .option('--scope <scope>', 'scope of the role assignment (default: the well-known subscription)')
    .option('--json', 'print JSON (what sp create always prints: the secret is shown once)'),
).action(
  async (opts: {
    name: string;
    tenant?: string;
    role?: string;
    scope?: string;
    json?: boolean;
    dataDir?: string;
    logLevel?: string;
  }) => {
    const created = await createServicePrincipal(loadConfig(opts), opts);
    process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
  },
);

const pools = program.command('pools').description('Batch pools of this server');
common(
  pools
    .command('list')
    .description('list pools with their nodes and the large-pool guidance each one breaks')
    .option('--account <name>', 'Batch account', 'lazurite')
    .option('--json', 'print JSON'),
).action(async (opts: { account: string; json?: boolean; dataDir?: string; logLevel?: string }) => {
  const list = await listPools(loadConfig(opts), opts.account);
  process.stdout.write(opts.json === true ? `${JSON.stringify(list, null, 2)}\n` : formatPools(list));
});

common(
  pools
    .command('preempt <pool>')
    .description('take low-priority capacity back: nodes go preempted, tasks requeue, nodes return later')
    .option('--account <name>', 'Batch account', 'lazurite')
    .option('--node <id...>', 'these low-priority nodes')
    .option('--count <n>', 'this many low-priority nodes (default: all)')
    .option('--json', 'print JSON'),
).action(
  async (
    poolId: string,
    opts: {
      account: string;
      node?: string[];
      count?: string;
      json?: boolean;
      dataDir?: string;
      logLevel?: string;
    },
  ) => {
    const taken = await preemptPool(loadConfig(opts), opts.account, poolId, {
      ...(opts.node === undefined ? {} : { nodeIds: opts.node }),
      ...(opts.count === undefined ? {} : { count: parseCount(opts.count, '--count') }),
    });
    process.stdout.write(
      opts.json === true
        ? `${JSON.stringify({ preempted: taken })}\n`
        : `preempted: ${taken.join(' ') || 'none'}\n`,
    );
  },
);

const images = program
  .command('images')
  .description('base images (marketplace entries with a root file system)');
common(
  images
    .command('list')
    .description('list the catalog and which entries are runnable')
    .option('--json', 'print JSON'),
).action(async (opts: { json?: boolean; dataDir?: string; logLevel?: string }) => {
  await listImages(loadConfig(opts), opts.json === true);
});
common(
  images
    .command('build <image>')
    .description(
      "build 'tiny' (busybox), 'debian-12' or 'ubuntu-16.04|18.04|20.04' (debootstrap minbase), once; cached in the data dir",
    )
    .option('--force', 'build again even if present')
    .option('--mirror <url>', 'Ubuntu builds: archive to use (default Ubuntu archive, ports on non-x86)')
    .option('--keyring <file>', "Ubuntu builds: keyring for the Release file (default ubuntu-keyring's)"),
).action(
  async (
    image: string,
    opts: { force?: boolean; mirror?: string; keyring?: string; dataDir?: string; logLevel?: string },
  ) => {
    await buildImage(loadConfig(opts), image, {
      force: opts.force === true,
      mirror: opts.mirror,
      keyring: opts.keyring,
    });
  },
);
common(
  images
    .command('import <image> <source>')
    .description(
      'give a catalog entry (publisher:offer:sku) a root file system from a tarball, OCI layout or OCI archive',
    ),
).action(async (image: string, source: string, opts: { dataDir?: string; logLevel?: string }) => {
  await importImage(loadConfig(opts), image, source);
});

common(
  program
    .command('agent')
    .description('run compute nodes on this machine for a Lazurite server, over HTTPS')
    .requiredOption('--server <url>', 'the server origin, e.g. https://10.0.0.5:8443')
    .requiredOption('--host-id <id>', "this host's name, unique per server")
    .option('--token <token>', "the server's agent token (default: <data-dir>/agent-token)")
    .option('--ca <file>', "the server's CA certificate (default: <data-dir>/tls/ca.pem)")
    .option('--node-backend <kind>', 'local or simulated')
    .option('--pull-images', "pull images from the server over HTTPS into this data dir's own cache")
    .option(
      '--only-node <id>',
      "run this one node only (a Slurm job's agent; other nodes of the host are left alone)",
    ),
).action(
  async (opts: {
    server: string;
    hostId: string;
    token?: string;
    ca?: string;
    nodeBackend?: string;
    onlyNode?: string;
    pullImages?: boolean;
    dataDir?: string;
    logLevel?: string;
  }) => {
    await runAgent(loadConfig({ ...opts, nodeBackend: undefined }), {
      server: opts.server,
      hostId: opts.hostId,
      ...(opts.token === undefined ? {} : { token: opts.token }),
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
      ...(opts.nodeBackend === undefined ? {} : { backend: opts.nodeBackend }),
      ...(opts.onlyNode === undefined ? {} : { onlyNode: opts.onlyNode }),
      ...(opts.pullImages === true ? { pullImages: true } : {}),
    });
  },
);

registerClientCommands(program, common);
registerClusterCommands(program);

/** Every failure is one line, plus a hint line when there is something to do about it. */
program.parseAsync(process.argv).catch((err: unknown) => {
  const message = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`lazurite: ${message.split('\n')[0] ?? ''}\n`);
  if (err instanceof CliError && err.hint !== undefined) process.stderr.write(`hint: ${err.hint}\n`);
  else if (err instanceof ConfigError) process.stderr.write('hint: lazurite --help lists the settings\n');
  process.exit(err instanceof CliError ? err.exitCode : 1);
});
