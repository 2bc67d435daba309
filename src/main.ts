import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { keySealer, sealingKey } from './platform/sealing.ts';
import { FailureThrottle } from './platform/throttle.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './api/http/context.ts';
import { buildHttpServer, type HttpServerOptions } from './api/http/server.ts';
import { ResponseChecker } from './api/spec/responses.ts';
import { SpecValidator } from './api/spec/validator.ts';
import type { Config } from './config/config.ts';
import { BatchAccountService } from './domain/accounts/batch-accounts.ts';
import { quotasFor } from './domain/accounts/quotas.ts';
import { RoleAssignmentService } from './domain/authorization/assignments.ts';
import type { DomainContext } from './domain/context.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from './domain/environment/well-known.ts';
import { PrincipalService } from './domain/identity/principals.ts';
import { ResourceService } from './domain/resources/resources.ts';
import { systemClock, type Clock } from './platform/clock.ts';
import { randomIds, type IdSource } from './platform/ids.ts';
import { createLogger, type Logger } from './platform/logger.ts';
import { ensureTlsMaterial, type TlsMaterial } from './platform/tls.ts';
import { regionPaths, RegionStores } from './content/regions.ts';
import { BaseImageService } from './domain/images/base-images.ts';
import { REGIONS } from './domain/locations.ts';
import { DiskService } from './domain/compute/disks.ts';
import { GalleryService } from './domain/compute/gallery.ts';
import { ComputeQueries } from './domain/compute/queries.ts';
import { BatchCountsQuery } from './domain/metrics/batch-counts.ts';
import { ServerMetrics } from './api/http/metrics.ts';
import { ReplicationReconciler } from './domain/compute/replication.ts';
import { VmService } from './domain/compute/vms.ts';
import { NetworkService } from './domain/network/network.ts';
import { DeploymentService } from './domain/resources/deployments.ts';
import { ImageCache } from './backends/local/image-cache.ts';
import { VmHost } from './backends/local/vm-host.ts';
import { TokenSigner } from './platform/tokens.ts';
import type { Store } from './storage/port.ts';
import { openPostgresStore } from './storage/postgres/open.ts';
import { openSqliteStore } from './storage/sqlite/open.ts';
import { poolsRuntime, type PoolsRuntime } from './pools-runtime.ts';

/** The fields of `<data-dir>/connection.json`, all strings, exactly as the README documents them. */
export interface ConnectionInfo {
  caCertPath: string;
  authorityHost: string;
  armEndpoint: string;
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  clientId: string;
  clientSecret: string;
  batchAccountName: string;
  batchAccountKey: string;
  batchUrl: string;
}

export interface RunningServer {
  origin: string;
  connection: ConnectionInfo;
  logger: Logger;
  close(): Promise<void>;
}

export const SPECS_ROOT = fileURLToPath(new URL('../specs', import.meta.url));

/** Where the response check (a test hook, ADR 0032) writes what does not match the spec, one JSON per line. */
export const RESPONSE_VIOLATIONS_FILE = 'response-violations.jsonl';

function httpOptions(config: Config, tls: TlsMaterial, origins: () => string[]): HttpServerOptions {
  const options = { tls: { key: tls.keyPem, cert: tls.certPem }, origins };
  if (!config.checkResponses) return options;
  const file = join(config.dataDir, RESPONSE_VIOLATIONS_FILE);
  return {
    ...options,
    responseCheck: {
      checker: new ResponseChecker(SPECS_ROOT),
      record: (v: object) => {
        appendFileSync(file, `${JSON.stringify(v)}\n`);
      },
    },
  };
}

export function storePath(config: Config): string {
  return config.inMemory ? ':memory:' : join(config.dataDir, 'state', 'lazurite.db');
}

/** The key that seals account keys in the database, beside the token signing key (0600). */
export function sealingKeyPath(config: Config): string {
  return join(config.dataDir, 'identity', 'sealing.key');
}

/** The data dir's store (the server's, or the CLI's on the same data dir), account keys sealed at rest. */
export function openStateStore(config: Config): Promise<Store> {
  if (config.inMemory) return openSqliteStore(':memory:');
  const sealer = keySealer(sealingKey(sealingKeyPath(config)), 'batch-account-key');
  if (config.databaseUrl !== undefined) return openPostgresStore(config.databaseUrl, { sealer });
  return openSqliteStore(storePath(config), { sealer });
}

/** Every known region's content store, at its configured or default folder. */
export function regionStoresFor(config: Config): RegionStores {
  return new RegionStores(regionPaths(config.dataDir, Object.keys(REGIONS), config.regionPaths));
}

/** Disks, snapshots and managed images; their writes wait `writeWaitMs` for their I/O (ADR 0023). */
function diskServiceFor(
  config: Config,
  ctx: DomainContext,
  parts: { regions: RegionStores; baseImages: BaseImageService; vms: VmService },
  logger: Logger,
): DiskService {
  const { regions, baseImages, vms } = parts;
  return new DiskService(ctx, regions, baseImages, vms, join(config.dataDir, 'uploads'), {
    logger,
    waitMs: config.writeWaitMs,
  });
}

export function baseImageServiceFor(
  config: Config,
  ctx: DomainContext,
  regions: RegionStores = regionStoresFor(config),
): BaseImageService {
  return new BaseImageService(ctx, regions, join(config.dataDir, 'cache', 'build'), config.homeRegion);
}

/** The tiny image builds in well under a second, so a fresh data dir gets it at start when busybox is there. */
async function ensureTinyImage(images: BaseImageService, logger: Logger): Promise<void> {
  try {
    await images.build('tiny');
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'tiny base image not built');
  }
}

export function signingKeyPath(config: Config): string {
  return join(config.dataDir, 'identity', 'signing-key.pem');
}

function originFor(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `https://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

function connectionInfo(origin: string, caCertPath: string): ConnectionInfo {
  return {
    caCertPath,
    authorityHost: origin,
    armEndpoint: origin,
    tenantId: WELL_KNOWN.tenantId,
    subscriptionId: WELL_KNOWN.subscriptionId,
    resourceGroup: WELL_KNOWN.resourceGroup,
    location: WELL_KNOWN.location,
    clientId: WELL_KNOWN.clientId,
    clientSecret: WELL_KNOWN.clientSecret,
    batchAccountName: WELL_KNOWN.batchAccountName,
    batchAccountKey: WELL_KNOWN.batchAccountKey,
    batchUrl: `${origin}/batch/${WELL_KNOWN.batchAccountName}`,
  };
}

/** Composition root: config → store → services → HTTP. Returns once the server is listening and seeded. */
/** The API's view of the pools runtime: services, agent endpoint state, what runs nodes. */
function poolDeps(nodes: PoolsRuntime) {
  return {
    pools: nodes.pools,
    nodes: nodes.nodes,
    agents: nodes.agents,
    remoteFiles: nodes.remoteFiles,
    jobs: nodes.jobs,
    tasks: nodes.tasks,
    schedules: nodes.schedules,
    nodeBackendKind: nodes.backendKind,
    agentToken: nodes.agentToken,
  };
}

/** The origins a client may have used to reach this server (token audiences and issuers name one of them). */
function originsOf(origin: string): string[] {
  const port = new URL(origin).port;
  return [origin, `https://127.0.0.1:${port}`, `https://localhost:${port}`, `https://[::1]:${port}`];
}

/** `<data-dir>/connection.json`, 0600: it holds the client secret and account key (older releases wrote 0644). */
function writeConnection(config: Config, connection: ConnectionInfo): ConnectionInfo {
  const file = join(config.dataDir, 'connection.json');
  writeFileSync(file, `${JSON.stringify(connection, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return connection;
}

/** The data dir (0700: keys, secrets and certificates live there) and its TLS material. */
function openDataDir(config: Config, clock: Clock): TlsMaterial {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
  return ensureTlsMaterial(join(config.dataDir, 'tls'), config.host, clock.now());
}

/** The well-known environment, and client secret hashes of older releases wrapped in scrypt. */
/** VMs (ADR 0009, 0020); holders a crashed server left running over VM disks are stopped first. */
async function vmServiceFor(
  config: Config,
  ctx: DomainContext,
  parts: { regions: RegionStores; baseImages: BaseImageService; imageCache: ImageCache },
): Promise<VmService> {
  const host = new VmHost(config.dataDir, parts.regions, parts.imageCache);
  await host.recover();
  return new VmService(ctx, parts.regions, parts.baseImages, host, config.runCommandTimeoutMs);
}

async function seedStore(ctx: DomainContext, logger: Logger): Promise<void> {
  await seedWellKnownEnvironment(ctx);
  const upgraded = await new PrincipalService(ctx).upgradeSecretHashes();
  if (upgraded > 0) logger.info({ upgraded }, 'client secret hashes wrapped in scrypt');
}

export async function startLazurite(
  config: Config,
  inject: { clock?: Clock; ids?: IdSource } = {},
): Promise<RunningServer> {
  const { clock = systemClock, ids = randomIds } = inject;
  const logger = createLogger(config.logLevel);
  const tls = openDataDir(config, clock);
  const store: Store = await openStateStore(config);
  let app: FastifyInstance | undefined;
  try {
    const quotas = (account: string) => quotasFor(config.accountQuotas, account);
    const ctx: DomainContext = { store, clock, ids, quotas };
    await seedStore(ctx, logger);
    const regions = regionStoresFor(config);
    const baseImages = baseImageServiceFor(config, ctx, regions);
    await ensureTinyImage(baseImages, logger);
    const metrics = new ServerMetrics({ processMetrics: true });
    const replication = new ReplicationReconciler(ctx, regions, logger, metrics);
    const imageCache = new ImageCache(config.dataDir, regions); // shared: VMs and nodes unpack each image once
    const vms = await vmServiceFor(config, ctx, { regions, baseImages, imageCache });
    const disks = diskServiceFor(config, ctx, { regions, baseImages, vms }, logger);
    let origin = originFor(config.host, config.port);
    const nodes = poolsRuntime(config, ctx, { regions, imageCache }, logger, (a) => `${origin}/batch/${a}`);
    const deps: ApiDeps = {
      config,
      clock,
      logger,
      signer: await TokenSigner.open(signingKeyPath(config), clock),
      authThrottle: new FailureThrottle({
        ...config.authFailures,
        maxKeys: 100_000,
        now: () => clock.now().getTime(),
      }),
      specs: new SpecValidator(SPECS_ROOT),
      principals: new PrincipalService(ctx),
      resources: new ResourceService(ctx),
      roleAssignments: new RoleAssignmentService(ctx),
      batchAccounts: new BatchAccountService(ctx),
      gallery: new GalleryService(ctx, regions),
      vms,
      network: new NetworkService(ctx),
      deployments: new DeploymentService(ctx),
      disks,
      computeQueries: new ComputeQueries(ctx),
      ...poolDeps(nodes),
      metrics,
      batchCounts: new BatchCountsQuery(ctx),
      publicOrigin: () => origin,
    };
    const origins = () => originsOf(origin);
    // Before the first request: writes a crash left reserved run again, after their leftovers are cleared.
    await disks.recover();
    app = buildHttpServer(deps, httpOptions(config, tls, origins));
    await app.listen({ host: config.host, port: config.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    origin = originFor(config.host, port);
    const connection = writeConnection(config, connectionInfo(origin, tls.caCertPath));
    replication.start();
    disks.resumeEvery(30_000);
    nodes.start();
    const server = app;
    return {
      origin,
      connection,
      logger,
      close: async () => {
        await replication.stop();
        await disks.stop();
        await nodes.stop();
        await server.close();
        await store.close();
      },
    };
  } catch (err) {
    await app?.close();
    await store.close();
    throw err;
  }
}
