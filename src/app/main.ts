import { appendFileSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { keySealer, sealingKey } from '../platform/sealing.ts';
import { FailureThrottle } from '../platform/throttle.ts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { AgentServices, ApiDeps, ArmServices, BatchServices, HttpBasics } from '../api/http/context.ts';
import { buildHttpServer, type HttpServerOptions } from '../api/http/server.ts';
import { ResponseChecker } from '../api/spec/responses.ts';
import type { TlsMaterial } from '../platform/tls.ts';
import { SpecValidator } from '../api/spec/validator.ts';
import type { Config } from '../config/config.ts';
import { BatchAccountService } from '../domain/accounts/batch-accounts.ts';
import { quotasFor } from '../domain/accounts/quotas.ts';
import { RoleAssignmentService } from '../domain/authorization/assignments.ts';
import type { DomainContext } from '../domain/context.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from '../domain/environment/well-known.ts';
import { PrincipalService } from '../domain/identity/principals.ts';
import { ResourceService } from '../domain/resources/resources.ts';
import { systemClock, type Clock } from '../platform/clock.ts';
import { randomIds, type IdSource } from '../platform/ids.ts';
import { createLogger, type Logger } from '../platform/logger.ts';
import { regionPaths, RegionStores } from '../content/regions.ts';
import { BaseImageService } from '../domain/images/base-images.ts';
import { REGIONS } from '../domain/locations.ts';
import { DiskService } from '../domain/compute/disks.ts';
import { GalleryService } from '../domain/compute/gallery.ts';
import { ComputeQueries } from '../domain/compute/queries.ts';
import { BatchCountsQuery } from '../domain/metrics/batch-counts.ts';
import { ServerMetrics } from '../api/http/metrics.ts';
import { ReplicationReconciler } from '../domain/compute/replication.ts';
import { VmService } from '../domain/compute/vms.ts';
import { NetworkService } from '../domain/network/network.ts';
import { ApplicationService } from '../domain/applications/applications.ts';
import { packageStorageOver } from '../backends/auto-storage.ts';
import { VaultService } from '../domain/keyvault/vaults.ts';
import { StorageAccountService, type StorageBackings } from '../domain/storage/storage-accounts.ts';
import { DeploymentService } from '../domain/resources/deployments.ts';
import { ImageCache } from '../backends/local/image-cache.ts';
import { VmHost } from '../backends/local/vm-host.ts';
import { uploadServiceLogs } from '../backends/service-logs.ts';
import { formatCidr } from '../domain/pools/node-network.ts';
import type { Store } from '../storage/port.ts';
import { openPostgresStore } from '../storage/postgres/open.ts';
import { openSqliteStore } from '../storage/sqlite/open.ts';
import { agentTokenFor, poolsRuntime, type PoolsRuntime } from './pools-runtime.ts';
import { openServerMaterial } from './cluster-material.ts';
import { Leadership } from '../domain/cluster/leadership.ts';
import { TickLoop } from '../platform/loop.ts';

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

export const SPECS_ROOT = fileURLToPath(new URL('../../specs', import.meta.url));

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
  return config.sealingKeyFile ?? join(config.dataDir, 'identity', 'sealing.key');
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
    storageBackings: storageBackings(config),
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

/** Storage accounts' blob endpoints and keys by account name (LAZURITE_STORAGE_ACCOUNTS, case-insensitive). */
function storageBackings(config: Config): StorageBackings {
  const byName = new Map(Object.entries(config.storageAccounts).map(([k, v]) => [k.toLowerCase(), v]));
  return (name) => byName.get(name.toLowerCase());
}

function originFor(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `https://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** `--advertise-url` with the listening port when it names none (`https://10.251.0.1` → `https://10.251.0.1:<port>`). */
function advertisedOrigin(advertise: string | undefined, origin: string): string {
  if (advertise === undefined) return origin;
  const url = new URL(advertise);
  if (url.port === '') url.port = new URL(origin).port;
  return url.origin;
}

/** The pools runtime, with the server's origin once it listens (account URLs, the address agents reach). */
function nodesRuntime(
  config: Config,
  ctx: DomainContext,
  content: { regions: RegionStores; imageCache: ImageCache },
  logger: Logger,
  o: { origin: () => string; publicOrigin: () => string },
): PoolsRuntime {
  return poolsRuntime(config, ctx, content, logger, (a) => `${o.publicOrigin()}/batch/${a}`, {
    advertiseOrigin: () => advertisedOrigin(config.advertiseUrl, o.origin()),
  });
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
/** The Batch data plane's group: the pools runtime's services and what runs nodes. */
function batchServices(
  nodes: PoolsRuntime,
  batchAccounts: BatchAccountService,
  applications: ApplicationService,
): BatchServices {
  return {
    batchAccounts,
    applications,
    pools: nodes.pools,
    nodes: nodes.nodes,
    nodeUsers: nodes.nodeUsers,
    ...(nodes.remoteLogin ? { remoteLogin: nodes.remoteLogin } : {}),
    serviceLogs: {
      upload: (node, containerUrl, window) =>
        uploadServiceLogs(nodes.serviceLogs, node, containerUrl, window),
    },
    jobs: nodes.jobs,
    tasks: nodes.tasks,
    schedules: nodes.schedules,
    nodeBackendKind: nodes.backendKind,
  };
}

/** The host agents' endpoint group: the agent service, its token, file requests, the content agents pull. */
function agentServices(nodes: PoolsRuntime, contentStores: RegionStores): AgentServices {
  return {
    agents: nodes.agents,
    agentToken: nodes.agentToken,
    remoteFiles: nodes.remoteFiles,
    contentStores,
  };
}

/** The ARM surface's group. */
function armServices(
  ctx: DomainContext,
  shared: Pick<ArmServices, 'principals' | 'batchAccounts' | 'applications' | 'pools' | 'vms' | 'disks'>,
  regions: RegionStores,
  config: Config,
): ArmServices {
  return {
    ...shared,
    resources: new ResourceService(ctx),
    roleAssignments: new RoleAssignmentService(ctx),
    gallery: new GalleryService(ctx, regions),
    network: new NetworkService(ctx),
    storageAccounts: new StorageAccountService(ctx, storageBackings(config)),
    vaults: new VaultService(ctx),
    deployments: new DeploymentService(ctx),
    computeQueries: new ComputeQueries(ctx),
  };
}

/** The origins a client may have used to reach this server (token audiences and issuers name one of them). */
function originsOf(origin: string, publicUrl: string | undefined): string[] {
  const port = new URL(origin).port;
  const own = [origin, `https://127.0.0.1:${port}`, `https://localhost:${port}`, `https://[::1]:${port}`];
  return publicUrl === undefined || own.includes(publicUrl) ? own : [publicUrl, ...own];
}

/** `<data-dir>/connection.json`, 0600: it holds the client secret and account key (older releases wrote 0644). */
function writeConnection(config: Config, connection: ConnectionInfo): ConnectionInfo {
  const file = join(config.dataDir, 'connection.json');
  writeFileSync(file, `${JSON.stringify(connection, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return connection;
}

/** The data dir (0700: keys, secrets and certificates live there). */
function openDataDir(config: Config): void {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
}

/** How long the loops lease holds, and how often it is renewed: a killed leader's loops resume within 10 s. */
const LOOPS_LEASE = { ttlMs: 6000, renewMs: 1000 };

/**
 * The loops (pool sizer, autoscaler, schedule runner, task file cleaner, this machine's host agent, replication,
 * resuming reserved disk writes) run on the one server holding the `loops` lease (ADR 0033).
 */
function loopsLeadership(
  ctx: DomainContext,
  serverId: string,
  parts: { disks: DiskService; replication: ReplicationReconciler; nodes: PoolsRuntime; logger: Logger },
) {
  const { disks, replication, nodes, logger } = parts;
  let listening = false;
  const run = () => {
    replication.start();
    disks.resumeEvery(30_000);
    nodes.start();
  };
  const leadership = new Leadership(ctx, {
    lease: 'loops',
    holder: serverId,
    ...LOOPS_LEASE,
    onGained: async () => {
      logger.info({ serverId }, 'this server runs the loops');
      // Writes a crash left reserved run again, after their leftovers are cleared (before the first request).
      await disks.recover();
      if (listening) run();
    },
    onLost: async () => {
      logger.warn({ serverId }, 'another server runs the loops');
      await nodes.stop();
      await disks.stopResuming();
      await replication.stop();
    },
    onError: (err) => {
      logger.error({ err }, 'loops lease claim failed');
    },
  });
  const renew = new TickLoop(
    async () => {
      await leadership.tick();
      return false;
    },
    LOOPS_LEASE.renewMs,
    (err) => {
      logger.error({ err }, 'loops lease tick failed');
    },
  );
  return {
    leadership,
    /** Once the server listens: runs the loops if this server leads, and keeps claiming the lease. */
    listening: () => {
      listening = true;
      if (leadership.state === 'leader') run();
      renew.start();
    },
    stop: async () => {
      await renew.stop();
      await leadership.resign();
    },
  };
}

/** The well-known environment, and client secret hashes of older releases wrapped in scrypt. */
/** VMs (ADR 0009, 0020); holders a crashed server left running over VM disks are stopped first. */
async function vmServiceFor(
  config: Config,
  ctx: DomainContext,
  parts: { regions: RegionStores; baseImages: BaseImageService; imageCache: ImageCache },
): Promise<VmService> {
  const host = new VmHost(config.dataDir, parts.regions, parts.imageCache, formatCidr(config.vmNetwork));
  await host.recover();
  return new VmService(ctx, parts.regions, parts.baseImages, host, config.runCommandTimeoutMs);
}

function listeningPort(app: FastifyInstance, configured: number): number {
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : configured;
}

/** Failed sign-ins per client address and identity (ADR 0024). */
function authThrottleFor(config: Config, clock: Clock): FailureThrottle {
  return new FailureThrottle({ ...config.authFailures, maxKeys: 100_000, now: () => clock.now().getTime() });
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
  openDataDir(config);
  const store: Store = await openStateStore(config);
  let app: FastifyInstance | undefined;
  try {
    const material = await openServerMaterial(config, store, clock, () => agentTokenFor(config.dataDir));
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
    const publicOrigin = () => config.publicUrl ?? origin;
    const nodes = nodesRuntime(config, ctx, { regions, imageCache }, logger, {
      origin: () => origin,
      publicOrigin,
    });
    const basics: HttpBasics = {
      config,
      clock,
      logger,
      signer: material.signer,
      authThrottle: authThrottleFor(config, clock),
      specs: new SpecValidator(SPECS_ROOT),
      publicOrigin,
    };
    const principals = new PrincipalService(ctx);
    const batchAccounts = new BatchAccountService(ctx);
    const applications = new ApplicationService(ctx, packageStorageOver(config.storageAccounts));
    // Each surface gets its typed group; services two surfaces share are one instance.
    const deps: ApiDeps = {
      ...basics,
      ...armServices(
        ctx,
        { principals, batchAccounts, applications, pools: nodes.pools, vms, disks },
        regions,
        config,
      ),
      ...batchServices(nodes, batchAccounts, applications),
      ...agentServices(nodes, regions),
      metrics,
      batchCounts: new BatchCountsQuery(ctx),
    };
    const origins = () => originsOf(origin, config.publicUrl);
    const loops = loopsLeadership(ctx, material.serverId, { disks, replication, nodes, logger });
    await loops.leadership.tick(); // before the first request: a leader recovers reserved writes first
    app = buildHttpServer(deps, httpOptions(config, material.tls, origins));
    await app.listen({ host: config.host, port: config.port });
    origin = originFor(config.host, listeningPort(app, config.port));
    const connection = writeConnection(config, connectionInfo(origin, material.tls.caCertPath));
    loops.listening();
    const server = app;
    return {
      origin,
      connection,
      logger,
      close: async () => {
        await loops.stop();
        await Promise.all([replication.stop(), disks.stop(), nodes.close()]);
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
