import type { Digest } from '../../content/blob-store.ts';
import type { RegionStores } from '../../content/regions.ts';
import { replicaComplete, replicate } from '../../content/replication.ts';
import type { Logger } from '../../platform/logger.ts';
import type { ReplicaRecord } from '../../storage/records.ts';
import { isoNow, type DomainContext } from '../context.ts';

/** Told how many bytes replication wrote into each target region (a metrics counter, in production). */
export interface ReplicationMeter {
  copied(region: string, bytes: number): void;
}

/**
 * Level-triggered replication: each tick looks at replicas still `Replicating`, copies what their region's store
 * lacks (already-copied blobs are skipped, so a restart resumes), records progress, marks the replica
 * `Completed` only after the root manifest is in place, and marks the version `Succeeded` when every target
 * region is complete.
 */
export class ReplicationReconciler {
  private readonly ctx: DomainContext;
  private readonly regions: RegionStores;
  private readonly logger: Logger | undefined;
  private readonly meter: ReplicationMeter | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(ctx: DomainContext, regions: RegionStores, logger?: Logger, meter?: ReplicationMeter) {
    this.ctx = ctx;
    this.regions = regions;
    this.logger = logger;
    this.meter = meter;
  }

  /** Works through every unfinished replica once; resolves when done. */
  async tick(): Promise<number> {
    const pending = await this.ctx.store.transaction((tx) => tx.listUnfinishedReplicas());
    for (const replica of pending) {
      if (this.stopped) break;
      await this.replicateOne(replica);
    }
    return pending.length;
  }

  private async update(replica: ReplicaRecord, change: Partial<ReplicaRecord>): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      const current = (await tx.listReplicas(replica.versionId)).find((r) => r.region === replica.region);
      if (!current) return false; // the region was removed meanwhile
      await tx.putReplica({ ...current, ...change, updatedAt: isoNow(this.ctx) });
      return true;
    });
  }

  private async replicateOne(replica: ReplicaRecord): Promise<void> {
    const version = await this.ctx.store.transaction((tx) => tx.findComputeResource(replica.versionId));
    if (!version?.content) return;
    try {
      const from = await this.regions.get(version.content.region);
      const to = await this.regions.get(replica.region);
      const root = version.content.manifest as Digest;
      let lastPercent = -1;
      let metered = 0;
      const result = await replicate(from, to, root, (p) => {
        if (p.bytesCopied > metered) {
          this.meter?.copied(replica.region, p.bytesCopied - metered);
          metered = p.bytesCopied;
        }
        const percent = p.bytesTotal === 0 ? 100 : Math.floor((100 * p.bytesDone) / p.bytesTotal);
        if (percent - lastPercent >= 5 && percent < 100) {
          lastPercent = percent;
          void this.update(replica, { bytesDone: p.bytesDone, bytesTotal: p.bytesTotal });
        }
      });
      if (!(await replicaComplete(to, root))) throw new Error('root manifest missing after copy');
      await this.update(replica, {
        state: 'Completed',
        bytesDone: result.bytesTotal,
        bytesTotal: result.bytesTotal,
        details: '',
      });
    } catch (err) {
      this.logger?.error({ err, version: replica.versionId, region: replica.region }, 'replication failed');
      await this.update(replica, { state: 'Failed', details: (err as Error).message });
    }
    await this.settleVersion(replica.versionId);
  }

  /** Version provisioning state follows its replicas. */
  private async settleVersion(versionId: string): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const version = await tx.findComputeResource(versionId);
      if (!version) return;
      const replicas = await tx.listReplicas(versionId);
      const state = replicas.some((r) => r.state === 'Failed')
        ? 'Failed'
        : replicas.every((r) => r.state === 'Completed')
          ? 'Succeeded'
          : version.properties.provisioningState;
      if (state !== version.properties.provisioningState) {
        await tx.putComputeResource({
          ...version,
          properties: { ...version.properties, provisioningState: state },
          updatedAt: isoNow(this.ctx),
        });
      }
    });
  }

  /** Runs `tick` every `intervalMs` until `stop`. */
  start(intervalMs = 200): void {
    if (this.running !== undefined && !this.stopped) return;
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.running = this.tick()
        .then(() => undefined)
        .catch((err: unknown) => this.logger?.error({ err }, 'replication tick failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, intervalMs);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
