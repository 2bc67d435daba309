import type {
  NodeAssignment,
  NodeReport,
  PackageInstall,
  StartTaskAssignment,
  SyncRequest,
  SyncResponse,
  TaskAssignment,
  TaskReport,
} from '../../protocol/agent-protocol.ts';
import { retireNodes } from './usage.ts';
import { applyTaskReports, dispatchTasks, requeueNodeTasks, type HostPool } from '../jobs/dispatch.ts';
import type { AutoStorage } from '../../backends/auto-storage.ts';
import type { ServiceLogs } from '../../backends/service-logs.ts';
import { syncLogLines } from './service-logs.ts';
import { caseKey, compoundKey } from '../../storage/keys.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { NodeRecord, PoolRecord } from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { moveNode } from './node-states.ts';
import { startTaskAssignment } from './start-task.ts';
import type { PackageStorage } from '../applications/applications.ts';
import { packageEnvironment, poolPackages, resolveRunPackages } from '../applications/references.ts';
import { nodeUserAccounts } from './user-accounts.ts';
import { nodeContainers } from './containers.ts';
import type { NodeContainers } from '../../backends/port.ts';
import { findVmSize } from './vm-sizes.ts';
import { takeNodes } from './node-addresses.ts';
import { DEFAULT_NODE_NETWORK, parseNodeNetwork, type Cidr } from './node-network.ts';

/**
 * The server's side of the host agent protocol: applies what agents report (through the node state machine;
 * reports for an older generation or an illegal move are ignored) and answers with every node the host runs.
 * Nodes no host has taken yet are given to the first host that syncs.
 */
export class AgentService {
  private readonly ctx: DomainContext;
  private readonly accountUrl: (account: string) => string;
  private readonly onChange: () => void;

  private readonly autoStorage: AutoStorage | undefined;
  private readonly onForeignReports: (hostId: string, nodeIds: string[]) => void;
  /** The node address plan's range (`--node-network`). */
  private readonly network: Cidr;
  /** Where nodes' service logs go (ADR 0031); none: not kept. */
  private readonly logs: ServiceLogs | undefined;
  /** Application package blobs in the accounts' auto-storage (ADR 0040); none: references cannot be served. */
  private readonly packages: PackageStorage | undefined;

  constructor(
    ctx: DomainContext,
    accountUrl: (account: string) => string,
    onChange: () => void = () => undefined,
    autoStorage?: AutoStorage,
    onForeignReports: (hostId: string, nodeIds: string[]) => void = () => undefined,
    network: Cidr = parseNodeNetwork(DEFAULT_NODE_NETWORK),
    logs?: ServiceLogs,
    packages?: PackageStorage,
  ) {
    this.logs = logs;
    this.packages = packages;
    this.ctx = ctx;
    this.accountUrl = accountUrl;
    this.onChange = onChange;
    this.autoStorage = autoStorage;
    this.onForeignReports = onForeignReports;
    this.network = network;
  }

  /**
   * Resource files naming `autoStorageContainerName` get the container's URL with a SAS from the Batch account's
   * auto-storage account, as Batch does; left as they are when the account has none this server knows (the run
   * then fails with BlobDownloadMiscError saying so). `storageIds` keeps each account's lookup for the sync.
   */
  private async resolveAutoStorage(
    tx: StoreTx,
    accountName: string,
    runs: TaskAssignment[],
    storageIds: Map<string, unknown>,
  ): Promise<TaskAssignment[]> {
    if (!runs.some((r) => r.resourceFiles.some((f) => f.autoStorageContainerName !== undefined))) return runs;
    if (!storageIds.has(accountName)) {
      const account = await tx.findBatchAccountByName(accountName);
      const auto = account?.extra.autoStorage as { storageAccountId?: unknown } | undefined;
      storageIds.set(accountName, auto?.storageAccountId);
    }
    const id = storageIds.get(accountName);
    return runs.map((r) => ({
      ...r,
      resourceFiles: r.resourceFiles.map((f) => {
        const { autoStorageContainerName: container, ...rest } = f;
        if (container === undefined || typeof id !== 'string') return f;
        const url = this.autoStorage?.containerUrl(id, container);
        return url === undefined ? f : { ...rest, storageContainerUrl: url };
      }),
    }));
  }

  async sync(request: SyncRequest): Promise<SyncResponse> {
    const result = await this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now();
      const own = await this.ownReports(tx, request);
      const applied = await this.apply(tx, own.reports);
      const ran = await applyTaskReports(tx, own.taskReports, now);
      const { nodes: listed, changed: taken } = await takeNodes(
        tx,
        this.network,
        request.hostId,
        await tx.listNodesForHost(request.hostId, true),
      );
      await tx.putNodes(taken);
      const only = request.nodeIds === undefined ? undefined : new Set(request.nodeIds);
      const byPool = new Map<string, HostPool>();
      for (const node of listed) {
        if (only !== undefined && !only.has(node.id)) continue;
        const k = compoundKey(node.accountName, node.poolId);
        if (!byPool.has(k)) {
          const pool = await tx.findPool(node.accountName, node.poolId);
          if (!pool) continue;
          byPool.set(k, { pool, nodes: [] });
        }
        byPool.get(k)?.nodes.push({ ...node, hostId: request.hostId });
      }
      const {
        runs,
        nodes: moved,
        moved: dispatched,
      } = await dispatchTasks(tx, [...byPool.values()], now, this.accountUrl);
      await tx.putNodes(moved);
      const current = new Map(moved.map((n) => [compoundKey(n.accountName, n.poolId, n.id), n]));
      const assignments: NodeAssignment[] = [];
      const storageIds = new Map<string, unknown>();
      for (const { pool, nodes } of byPool.values()) {
        const installs = await poolPackages(tx, pool, this.packages, now);
        for (const n of nodes) {
          const k = compoundKey(n.accountName, n.poolId, n.id);
          const resolved = await this.resolveAutoStorage(tx, pool.accountName, runs.get(k) ?? [], storageIds);
          const list = await resolveRunPackages(tx, pool.accountName, resolved, this.packages, now);
          assignments.push(this.assignment(pool, current.get(k) ?? n, list, installs));
        }
      }
      return {
        nodes: assignments,
        changed: applied || ran || dispatched > 0 || moved.length > 0 || taken.length > 0,
        foreign: own.foreign,
        own,
        now,
      };
    });
    await this.writeLogs(result.own, result.now);
    if (result.foreign.length > 0) this.onForeignReports(request.hostId, result.foreign);
    if (result.changed) this.onChange();
    return { nodes: result.nodes };
  }

  /** The sync's reports into their nodes' service logs, after its transaction (file I/O, ADR 0023). */
  private async writeLogs(
    own: { reports: NodeReport[]; taskReports: TaskReport[] },
    now: Date,
  ): Promise<void> {
    const logs = this.logs;
    if (!logs) return;
    // A log line that cannot be written (disk full) must not fail a sync whose effects are already committed.
    const done = (p: Promise<void>) => p.catch(() => undefined);
    await Promise.all(
      syncLogLines(own.reports, own.taskReports, now).map(({ node, lines }) =>
        done(logs.append(node, now, lines)),
      ),
    );
    await Promise.all(own.reports.filter((r) => r.state === 'gone').map((r) => done(logs.forget(r))));
  }

  /**
   * The reports (node and task) about nodes this host was given; reports naming another host's node, or a node
   * no host has, are left out (a host agent speaks only for its own nodes) and their node ids returned.
   */
  private async ownReports(
    tx: StoreTx,
    request: SyncRequest,
  ): Promise<{ reports: NodeReport[]; taskReports: TaskReport[]; foreign: string[] }> {
    const taskReports = request.taskReports ?? [];
    if (request.reports.length === 0 && taskReports.length === 0)
      return { reports: [], taskReports: [], foreign: [] };
    const mine = new Set(
      (await tx.listNodesForHost(request.hostId, false))
        .filter((n) => n.hostId === request.hostId)
        .map((n) => compoundKey(n.accountName, n.poolId, n.id)),
    );
    const foreign = new Set<string>();
    const own = (r: { accountName: string; poolId: string; nodeId: string }) => {
      const ok = mine.has(compoundKey(r.accountName, r.poolId, r.nodeId));
      if (!ok) foreign.add(r.nodeId);
      return ok;
    };
    return {
      reports: request.reports.filter(own),
      taskReports: taskReports.filter(own),
      foreign: [...foreign],
    };
  }

  private async apply(tx: StoreTx, reports: NodeReport[]): Promise<boolean> {
    if (reports.length === 0) return false;
    const now = this.ctx.clock.now();
    const current = new Map<string, NodeRecord>();
    const loaded = new Set<string>();
    for (const r of reports) {
      const k = compoundKey(r.accountName, r.poolId);
      if (loaded.has(k)) continue;
      loaded.add(k);
      for (const n of await tx.listNodes(r.accountName, r.poolId)) current.set(`${k}|${caseKey(n.id)}`, n);
    }
    const gone = new Map<string, { account: string; pool: string; nodes: NodeRecord[] }>();
    for (const r of reports) {
      const k = compoundKey(r.accountName, r.poolId, r.nodeId);
      const node = current.get(k);
      if (!node || node.generation !== r.generation) continue;
      if (r.state === 'gone') {
        if (node.goal !== 'remove' && node.state !== 'leavingpool') continue;
        const entry = gone.get(compoundKey(r.accountName, r.poolId)) ?? {
          account: r.accountName,
          pool: r.poolId,
          nodes: [],
        };
        entry.nodes.push(node);
        gone.set(compoundKey(r.accountName, r.poolId), entry);
        current.delete(k);
        continue;
      }
      current.set(k, this.applyOne(node, r, now));
    }
    const reported = new Set(reports.map((r) => r.nodeId));
    await tx.putNodes([...current.values()].filter((n) => reported.has(n.id)));
    for (const g of gone.values()) {
      const ids = g.nodes.map((n) => n.id);
      await requeueNodeTasks(tx, g.account, g.pool, ids, now);
      await tx.deleteNodes(g.account, g.pool, ids);
      const pool = await tx.findPool(g.account, g.pool);
      if (pool) await tx.putPool(retireNodes(pool, g.nodes, now));
    }
    return true;
  }

  private applyOne(node: NodeRecord, r: NodeReport, now: Date): NodeRecord {
    let next = node;
    if (r.state !== undefined && r.state !== 'gone') {
      const moved = moveNode(next, r.state, now);
      if (moved) {
        next = moved;
        if (r.state === 'starting')
          next = { ...next, granted: false, lastBootTime: r.bootTime ?? now.toISOString() };
        if (r.state === 'idle' || r.state === 'starting') next = { ...next, errors: [] };
      }
    }
    if (r.startTaskInfo) next = { ...next, startTaskInfo: r.startTaskInfo };
    if (r.errors) next = { ...next, errors: r.errors };
    if (next.goal !== 'remove' && (next.state === 'idle' || next.state === 'starttaskfailed'))
      next = { ...next, goal: 'run' };
    return next;
  }

  private assignment(
    pool: PoolRecord,
    node: NodeRecord,
    tasks: TaskAssignment[],
    installs: PackageInstall[],
  ): NodeAssignment {
    const size = findVmSize(String(pool.spec.vmSize)) ?? {
      name: String(pool.spec.vmSize),
      cores: 1,
      memoryMB: 2048,
      tempDiskGB: 10,
    };
    return {
      spec: {
        accountName: pool.accountName,
        poolId: pool.id,
        nodeId: node.id,
        hostname: node.id.slice(0, 63),
        image: {
          region: pool.image.region,
          osManifest: pool.image.osManifest,
          dataDisks: pool.image.dataDisks,
        },
        size: { name: size.name, cores: size.cores, memoryMB: size.memoryMB, tempDiskGB: size.tempDiskGB },
        isDedicated: node.isDedicated,
        ...(node.network === undefined ? {} : { network: node.network }),
        ...(Array.isArray(pool.spec.userAccounts) && pool.spec.userAccounts.length > 0
          ? { userAccounts: nodeUserAccounts(pool) }
          : {}),
        ...containersOf(pool),
      },
      state: node.state,
      generation: node.generation,
      granted: node.granted,
      goal: node.goal,
      startTask: withPackages(startTaskAssignment(pool, node, this.accountUrl(pool.accountName)), installs),
      tasks,
    };
  }
}

/** A start task with its pool's application packages (their variables under any of its own settings). */
function withPackages(
  task: StartTaskAssignment | undefined,
  installs: PackageInstall[],
): StartTaskAssignment | undefined {
  if (task === undefined || installs.length === 0) return task;
  return {
    ...task,
    environment: { ...packageEnvironment(installs), ...task.environment },
    applicationPackages: installs,
  };
}

/** The node's containers part of its spec, when the pool has a containerConfiguration (ADR 0039). */
function containersOf(pool: PoolRecord): { containers?: NodeContainers } {
  const containers = nodeContainers(pool);
  return containers ? { containers } : {};
}
