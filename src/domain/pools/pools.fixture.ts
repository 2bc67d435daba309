/** A pool world for domain tests: in-memory store, manual clock, sizer and a simulated host agent. */
import { AutoPools } from '../jobs/auto-pools.ts';
import { HostAgent } from '../../backends/agent.ts';
import type { HostContainerImages } from '../../backends/container-images.ts';
import { SimulatedNodeExecutor } from '../../backends/simulated/node-executor.ts';
import { regionPaths, RegionStores } from '../../content/regions.ts';
import { ManualClock } from '../../platform/clock.ts';
import { sequentialIds } from '../../platform/ids.ts';
import type { BatchAccountRecord } from '../../storage/records.ts';
import { openSqliteStore } from '../../storage/sqlite/open.ts';
import { DEFAULT_QUOTAS, type AccountQuotas } from '../accounts/quotas.ts';
import type { DomainContext } from '../context.ts';
import { WELL_KNOWN, seedWellKnownEnvironment } from '../environment/well-known.ts';
import { JobService } from '../jobs/jobs.ts';
import { TaskService } from '../jobs/tasks.ts';
import { AgentService } from './agent-service.ts';
import { AutoScaler } from './autoscale/autoscaler.ts';
import { NodeService } from './nodes.ts';
import { PoolService } from './pools.ts';
import { PoolSizer } from './sizer.ts';

export const T0 = '2026-06-01T00:00:00Z';

export async function world(
  marketplaceCapacity = 100,
  limits: {
    quotas?: Partial<AccountQuotas>;
    maxNewNodesPerTick?: number;
    nodeAddresses?: { capacity: number; range: string };
    containers?: HostContainerImages;
  } = {},
) {
  const clock = new ManualClock(T0);
  const ctx: DomainContext = {
    store: await openSqliteStore(':memory:'),
    clock,
    ids: sequentialIds(),
    quotas: () => ({ ...DEFAULT_QUOTAS, ...limits.quotas }),
  };
  await seedWellKnownEnvironment(ctx);
  await ctx.store.transaction((tx) =>
    tx.putBaseImage({
      key: 'lazurite:tiny:busybox',
      manifest: 'sha256:0000',
      region: 'westeurope',
      source: 'busybox',
      sizeBytes: 1,
      createdAt: T0,
    }),
  );
  const account = (await ctx.store.transaction((tx) =>
    tx.findBatchAccountByName(WELL_KNOWN.batchAccountName),
  )) as BatchAccountRecord;
  const regions = new RegionStores(regionPaths('/nonexistent', ['westeurope'], {}));
  const autoScaler = new AutoScaler(ctx);
  const pools = new PoolService(ctx, regions, { autoScaler });
  let n = 0;
  const sizer = new PoolSizer(ctx, {
    capacityPerReplica: 1,
    marketplaceCapacity,
    preemptionRecoveryMs: 60_000,
    newNodeId: (d) => `tvmps_${String(++n).padStart(4, '0')}_${d ? 'd' : 'p'}`,
    ...(limits.maxNewNodesPerTick === undefined ? {} : { maxNewNodesPerTick: limits.maxNewNodesPerTick }),
    ...(limits.nodeAddresses === undefined ? {} : { nodeAddresses: limits.nodeAddresses }),
  });
  const executor = new SimulatedNodeExecutor({ sleep: () => Promise.resolve() });
  const agents = new AgentService(ctx, (a) => `https://x/batch/${a}`);
  const agent = new HostAgent({
    hostId: 'h1',
    executor,
    link: { sync: (r) => agents.sync(r) },
    concurrency: 8,
    pollMs: 1000,
    now: () => clock.now(),
    ...(limits.containers ? { containers: limits.containers } : {}),
  });
  const nodes = new NodeService(ctx, (h) => (h === 'h1' ? executor : undefined));
  /** Runs sizer and agent until nothing changes (agent work is immediate with the simulated executor). */
  const settle = async (rounds = 30) => {
    for (let i = 0; i < rounds; i++) {
      await sizer.tick();
      await agent.syncOnce();
      await new Promise((r) => setImmediate(r));
    }
  };
  const jobs = new JobService(ctx, () => undefined, new AutoPools(ctx, pools));
  const tasks = new TaskService(ctx, () => undefined);
  return {
    ctx,
    clock,
    account,
    pools,
    sizer,
    agent,
    agents,
    nodes,
    settle,
    executor,
    autoScaler,
    jobs,
    tasks,
  };
}

export const tinyPool = (id: string, dedicated: number, extra: Record<string, unknown> = {}) => ({
  id,
  vmSize: 'STANDARD_A1_v2',
  virtualMachineConfiguration: {
    imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
    nodeAgentSKUId: 'batch.node.lazurite tiny',
  },
  targetDedicatedNodes: dedicated,
  startTask: {
    commandLine: '/bin/sh -c "printenv AZ_BATCH_NODE_STARTUP_DIR"',
    userIdentity: { autoUser: { elevationLevel: 'admin', scope: 'pool' } },
  },
  ...extra,
});
