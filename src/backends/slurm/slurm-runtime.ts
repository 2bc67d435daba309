import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/config.ts';
import type { DomainContext } from '../../domain/context.ts';
import { AllocationReconciler } from '../../domain/pools/allocations.ts';
import type { Logger } from '../../platform/logger.ts';
import { TickLoop } from '../../platform/loop.ts';
import type { SyncRequest, SyncResponse } from '../../protocol/agent-protocol.ts';
import { SlurmAllocator } from './slurm-allocator.ts';
import { HOST_DATA_DIR } from './slurm-conf.ts';

const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/** How often squeue is compared with the store (and at once when pools or nodes change). */
const RECONCILE_MS = 1000;

/**
 * `--node-backend slurm` (ADR 0030): the reconciler loop over a SlurmAllocator. Each node's job runs
 * `lazurite agent --only-node` on its host, reaching this server at `advertiseOrigin()`.
 */
export function slurmLoop(
  config: Config,
  ctx: DomainContext,
  token: string,
  advertiseOrigin: () => string,
  sync: (request: SyncRequest) => Promise<SyncResponse>,
  logger: Logger,
): TickLoop {
  if (config.slurmConf === undefined) throw new Error('the slurm node backend needs --slurm-conf');
  const allocator = new SlurmAllocator({
    slurmConf: config.slurmConf,
    tag: createHash('sha256').update(config.dataDir).digest('hex').slice(0, 8),
    sbatchArgs: config.slurmSbatchArgs,
    lowPriorityArgs: config.slurmLowPriorityArgs,
    path: config.commandPath,
    launch: {
      node: process.execPath,
      cli: CLI,
      serverUrl: advertiseOrigin,
      token,
      caPem: readFileSync(join(config.dataDir, 'tls', 'ca.pem'), 'utf8'),
      hostDir: HOST_DATA_DIR,
    },
  });
  const reconciler = new AllocationReconciler(ctx, allocator, sync);
  return new TickLoop(
    () => reconciler.tick(),
    RECONCILE_MS,
    (err) => {
      logger.error({ err }, 'slurm reconciler tick failed');
    },
  );
}
