import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostAgent } from '../backends/agent.ts';
import { HostContainerImages } from '../backends/container-images.ts';
import { RegistryHttp } from '../content/registry-http.ts';
import type { ImageCache } from '../backends/local/image-cache.ts';
import { LocalNodeExecutor } from '../backends/local/node-executor.ts';
import type { RemoteLoginGateway } from '../api/ssh/remote-login.ts';
import type { NodeUserService } from '../domain/pools/node-users.ts';
import { remoteLoginRuntime } from './remote-login-runtime.ts';
import type { NodeExecutor } from '../backends/port.ts';
import { FileRequestBroker } from '../backends/remote-files.ts';
import { ServiceLogFiles, type ServiceLogs } from '../backends/service-logs.ts';
import { autoStorageOver, packageStorageOver } from '../backends/auto-storage.ts';
import { SimulatedNodeExecutor } from '../backends/simulated/node-executor.ts';
import type { Config } from '../config/config.ts';
import type { RegionStores } from '../content/regions.ts';
import type { DomainContext } from '../domain/context.ts';
import { AgentService } from '../domain/pools/agent-service.ts';
import { AutoScaler } from '../domain/pools/autoscale/autoscaler.ts';
import { NodeService, type ExecutorLookup } from '../domain/pools/nodes.ts';
import { PoolService } from '../domain/pools/pools.ts';
import { PoolSizer } from '../domain/pools/sizer.ts';
import { addressCapacity, formatCidr } from '../domain/pools/node-network.ts';
import { JobService } from '../domain/jobs/jobs.ts';
import { ScheduleRunner } from '../domain/jobs/schedule-runner.ts';
import { AutoPools } from '../domain/jobs/auto-pools.ts';
import { JobScheduleService } from '../domain/jobs/schedules.ts';
import { TaskFileCleaner } from '../domain/jobs/task-files-cleanup.ts';
import { TaskService } from '../domain/jobs/tasks.ts';
import type { Logger } from '../platform/logger.ts';
import { finishAccountDeletions } from '../domain/accounts/account-deletion.ts';
import { TickLoop } from '../platform/loop.ts';
import { slurmLoop } from '../backends/slurm/slurm-runtime.ts';

export interface PoolsRuntime {
  pools: PoolService;
  nodes: NodeService;
  /** Node users and the SSH gateway into local nodes (ADR 0027). */
  nodeUsers: NodeUserService;
  remoteLogin?: RemoteLoginGateway;
  agents: AgentService;
  /** Nodes' Batch service logs (ADR 0031), for ComputeNode_UploadBatchServiceLogs. */
  serviceLogs: ServiceLogs;
  remoteFiles: FileRequestBroker;
  jobs: JobService;
  tasks: TaskService;
  schedules: JobScheduleService;
  backendKind: string;
  agentToken: string;
  /** Starts the loops and this machine's host agent (the server that holds the loops lease, ADR 0033). */
  start(): void;
  /** Stops them; `start` may run them again. */
  stop(): Promise<void>;
  /** Stops them for good and releases what runs nodes. */
  close(): Promise<void>;
}

/** How often the autoscaler looks for pools due a sample or an evaluation. */
const AUTOSCALE_TICK_MS = 5000;
/** How often due job schedules are looked for (also at once when a schedule changes). */
const SCHEDULE_TICK_MS = 1000;
/** How often task folders to remove (deleted tasks, retention ran out) are looked for. */
const TASK_FILES_TICK_MS = 5000;

/** The token remote host agents present; made once per data dir. */
export function agentTokenFor(dataDir: string): string {
  const file = join(dataDir, 'agent-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

function executorFor(
  config: Config,
  content: { regions: RegionStores; imageCache: ImageCache },
): NodeExecutor | undefined {
  // remote: agents on other machines; slurm: one agent per node, in the node's Slurm job (ADR 0030).
  if (config.nodeBackend === 'remote' || config.nodeBackend === 'slurm') return undefined;
  if (config.nodeBackend === 'simulated') {
    return new SimulatedNodeExecutor({ delays: config.simulatedDelays });
  }
  return new LocalNodeExecutor({
    dataDir: config.dataDir,
    regions: content.regions,
    cache: content.imageCache,
    nodeDiskMB: config.nodeDiskMB,
  });
}

/** The pool sizer's loop; `nudgeAgents` wakes the host agents when the sizer changed nodes. */
function sizerLoopFor(config: Config, ctx: DomainContext, logger: Logger, nudgeAgents: () => void): TickLoop {
  const sizer = new PoolSizer(ctx, {
    capacityPerReplica: config.replicaCapacity,
    marketplaceCapacity: 1000,
    preemptionRecoveryMs: config.preemptionRecoveryMs,
    newNodeId: (dedicated) => `tvmps_${ctx.ids.uuid().replace(/-/g, '')}_${dedicated ? 'd' : 'p'}`,
    nodeAddresses: { capacity: addressCapacity(config.nodeNetwork), range: formatCidr(config.nodeNetwork) },
  });
  return new TickLoop(
    async () => {
      const changed = await sizer.tick();
      if (changed) nudgeAgents();
      // Accounts being deleted go once the sizer has removed their last pool (account-deletion.ts).
      const removed = await finishAccountDeletions(ctx);
      return changed || removed;
    },
    250,
    (err) => {
      logger.error({ err }, 'pool sizer tick failed');
    },
  );
}

/**
 * A loop around a level-triggered `tick` that reports whether it changed what the sizer, agents or dispatcher
 * act on (the autoscaler moved targets, the schedule runner made a job); then `onChange` wakes them.
 */
function wakingLoop(
  what: string,
  tick: () => Promise<boolean>,
  intervalMs: number,
  onChange: () => void,
  logger: Logger,
): TickLoop {
  return new TickLoop(
    async () => {
      if (await tick()) onChange();
      return false;
    },
    intervalMs,
    (err) => {
      logger.error({ err }, `${what} tick failed`);
    },
  );
}

/** The task file cleaner's loop: folders of deleted tasks and of tasks whose retention ran out. */
function cleanerLoopFor(ctx: DomainContext, fileAccess: ExecutorLookup, logger: Logger): TickLoop {
  const cleaner = new TaskFileCleaner(ctx, fileAccess, (err) => {
    logger.warn({ err }, 'removing a task folder failed');
  });
  return new TickLoop(
    () => cleaner.tick(),
    TASK_FILES_TICK_MS,
    (err) => {
      logger.error({ err }, 'task file cleaner tick failed');
    },
  );
}

/** This machine's host agent, in process (a direct call to the AgentService). */
function localAgent(
  local: { executor: NodeExecutor; hostId: string; containers: HostContainerImages },
  agents: AgentService,
  concurrency: number | undefined,
  logger: Logger,
): HostAgent {
  return new HostAgent({
    ...local,
    link: { sync: (request) => agents.sync(request) },
    concurrency: concurrency ?? (local.executor.kind === 'simulated' ? 256 : 4),
    pollMs: 500,
    onError: (err) => {
      logger.error({ err }, 'host agent error');
    },
  });
}

/** `--node-backend slurm`: the loop that keeps one Slurm job per node (ADR 0030); none for other backends. */
function clusterLoopFor(
  config: Config,
  ctx: DomainContext,
  token: string,
  advertiseOrigin: (() => string) | undefined,
  agents: AgentService,
  logger: Logger,
): TickLoop | undefined {
  if (config.nodeBackend !== 'slurm') return undefined;
  const origin = advertiseOrigin ?? (() => config.advertiseUrl ?? '');
  return slurmLoop(config, ctx, token, origin, (request) => agents.sync(request), logger);
}

/** The server's side of the host agent protocol, logging reports about another host's nodes. */
function agentService(
  ctx: DomainContext,
  config: Config,
  logger: Logger,
  o: { accountUrl: (account: string) => string; onChange: () => void; logs: ServiceLogs },
): AgentService {
  const foreignReports = (hostId: string, nodeIds: string[]) => {
    logger.warn({ hostId, nodeIds }, 'ignored agent reports about nodes of another host');
  };
  const storage = autoStorageOver(config.storageAccounts);
  const packages = packageStorageOver(config.storageAccounts);
  return new AgentService(
    ctx,
    o.accountUrl,
    o.onChange,
    storage,
    foreignReports,
    config.nodeNetwork,
    o.logs,
    packages,
  );
}

/**
 * Pools and nodes: the services, the pool sizer loop, and this machine's host agent (in process; agents on
 * other machines reach the same AgentService over HTTPS at /agent/v1/sync).
 */
export function poolsRuntime(
  config: Config,
  ctx: DomainContext,
  content: { regions: RegionStores; imageCache: ImageCache },
  logger: Logger,
  accountUrl: (account: string) => string,
  inject: { executor?: NodeExecutor; agentConcurrency?: number; advertiseOrigin?: () => string } = {},
): PoolsRuntime {
  const executor = inject.executor ?? executorFor(config, content);
  const { regions } = content;
  // This machine's host (none with `remote`: agents on other machines take every node).
  const local = localHost(config, content, executor);
  const remoteFiles = new FileRequestBroker(() => ctx.ids.uuid());
  const fileAccess = (id: string) => (id === local?.hostId ? local.executor : remoteFiles.filesOn(id));
  const cleanLoop = cleanerLoopFor(ctx, fileAccess, logger);
  const agentRef: { current?: HostAgent } = {};
  const loop = sizerLoopFor(config, ctx, logger, () => agentRef.current?.nudge());
  const clusterRef: { current?: TickLoop } = {};
  const onChange = () => {
    loop.nudge();
    agentRef.current?.nudge();
    clusterRef.current?.nudge();
  };
  const autoScaler = new AutoScaler(ctx);
  const autoScaleLoop = wakingLoop('autoscale', () => autoScaler.tick(), AUTOSCALE_TICK_MS, onChange, logger);
  const pools = new PoolService(ctx, regions, {
    onChange,
    autoScaler,
    imageSupport: { strict: config.strictImageSupport },
    warn: logger.warn.bind(logger),
  });
  const jobs = new JobService(ctx, onChange, new AutoPools(ctx, pools));
  const schedules = new JobScheduleService(ctx, jobs, () => {
    scheduleLoop.nudge();
  });
  const runner = new ScheduleRunner(ctx, schedules);
  const scheduleLoop = wakingLoop('job schedule', () => runner.tick(), SCHEDULE_TICK_MS, onChange, logger);
  const logs = new ServiceLogFiles(join(config.dataDir, 'logs', 'nodes'));
  const agents = agentService(ctx, config, logger, { accountUrl, onChange, logs });
  const running =
    local === undefined ? undefined : localAgent(local, agents, inject.agentConcurrency, logger);
  agentRef.current = running;
  const logins = remoteLoginRuntime(config, ctx, local, logger);
  const token = agentTokenFor(config.dataDir);
  const cluster = clusterLoopFor(config, ctx, token, inject.advertiseOrigin, agents, logger);
  clusterRef.current = cluster;
  // The Slurm reconciler is one of the loops: only the server holding the loops lease runs it (ADR 0033).
  const loops = [loop, autoScaleLoop, scheduleLoop, cleanLoop, ...(cluster === undefined ? [] : [cluster])];
  const stopLoops = async () => {
    await Promise.all(loops.map((l) => l.stop()));
    await running?.stop();
  };
  return {
    ...logins.deps,
    pools,
    nodes: new NodeService(ctx, fileAccess, onChange),
    agents,
    serviceLogs: logs,
    remoteFiles,
    jobs,
    tasks: new TaskService(ctx, onChange),
    schedules,
    backendKind: executor?.kind ?? config.nodeBackend,
    agentToken: token,
    start: () => {
      for (const l of loops) l.start();
      running?.start();
    },
    stop: stopLoops,
    close: async () => {
      await stopLoops();
      await logins.stop();
      await executor?.close();
    },
  };
}

/** This machine's host, if it runs nodes: its executor, id and container images (unpacked once for local nodes). */
function localHost(
  config: Config,
  content: { regions: RegionStores; imageCache: ImageCache },
  executor: NodeExecutor | undefined,
) {
  if (executor === undefined) return undefined;
  const cache = executor.kind === 'local' ? content.imageCache : undefined;
  const containers = hostContainerImages(config, content.regions, cache);
  return { executor, hostId: `${executor.kind}-host-0`, containers };
}

/**
 * This host's container images (ADR 0039): pulled into the region's content store, indexed under
 * `cache/containers`, and with `imageCache` (local nodes) unpacked once under `cache/rootfs`. Registries' TLS is
 * checked against the system's CAs (and NODE_EXTRA_CA_CERTS).
 */
export function hostContainerImages(
  config: Config,
  regions: RegionStores,
  imageCache?: ImageCache,
): HostContainerImages {
  return new HostContainerImages(
    join(config.dataDir, 'cache', 'containers'),
    (r) => regions.get(r),
    new RegistryHttp(),
    imageCache === undefined ? undefined : (region, fs) => imageCache.rootfs(region, fs),
  );
}
