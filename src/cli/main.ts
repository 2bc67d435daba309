#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/config.ts';
import { startLazurite } from '../main.ts';
import { printAzSetup } from './az-setup.ts';
import { buildImage, importImage, listImages } from './images.ts';
import { createServicePrincipal } from './sp.ts';

const program = new Command('lazurite')
  .description('Self-hosted Azure Batch and Azure Compute Gallery')
  .showHelpAfterError();

const common = (cmd: Command) =>
  cmd
    .option('--data-dir <dir>', 'data directory (env LAZURITE_DATA_DIR)')
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
    .option('--in-memory', 'keep state in memory only (env LAZURITE_IN_MEMORY)'),
).action(
  async (opts: { port?: string; host?: string; dataDir?: string; inMemory?: boolean; logLevel?: string }) => {
    const config = loadConfig(opts);
    const server = await startLazurite(config);
    process.stdout.write(
      `Lazurite is listening on ${server.origin}\n${JSON.stringify(server.connection, null, 2)}\n`,
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
    .option('--scope <scope>', 'scope of the role assignment (default: the well-known subscription)'),
).action(
  async (opts: {
    name: string;
    tenant?: string;
    role?: string;
    scope?: string;
    dataDir?: string;
    logLevel?: string;
  }) => {
    const created = await createServicePrincipal(loadConfig(opts), opts);
    process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
  },
);

const images = program
  .command('images')
  .description('base images (marketplace entries with a root file system)');
common(images.command('list').description('list the catalog and which entries are runnable')).action(
  async (opts: { dataDir?: string; logLevel?: string }) => {
    await listImages(loadConfig(opts));
  },
);
common(
  images
    .command('build <image>')
    .description("build 'tiny' (busybox) or 'debian-12' (debootstrap minbase), once; cached in the data dir")
    .option('--force', 'build again even if present'),
).action(async (image: string, opts: { force?: boolean; dataDir?: string; logLevel?: string }) => {
  await buildImage(loadConfig(opts), image, opts.force === true);
});
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
  program.command('az-setup').description('print the az CLI commands that connect to a running server'),
).action((opts: { dataDir?: string; logLevel?: string }) => {
  printAzSetup(loadConfig(opts));
});

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(
    `lazurite: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`,
  );
  process.exit(1);
});
