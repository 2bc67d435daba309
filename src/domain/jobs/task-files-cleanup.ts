import { NodeFileNotFound, NodeFilesUnavailable } from '../../backends/port.ts';
import type { StoreTx } from '../../storage/port.ts';
import type { TaskRecord } from '../../storage/records.ts';
import type { DomainContext } from '../context.ts';
import { DomainError } from '../errors.ts';
import type { ExecutorLookup } from '../pools/nodes.ts';
import { taskDirOf } from './dispatch.ts';

/** Work per tick and queue: the oldest queued removals, the earliest expired tasks. */
const BATCH = 50;

/** Queues, in the deleting transaction, the folders of tasks being deleted (those that ran on a node). */
export async function forgetTaskFiles(tx: StoreTx, tasks: TaskRecord[]): Promise<void> {
  await tx.putNodeFileCleanups(
    tasks.flatMap((t) =>
      t.nodeInfo ? [{ accountName: t.accountName, ...t.nodeInfo, path: taskDirOf(t.jobId, t.id) }] : [],
    ),
  );
}

/** The task's folder was removed once its retention ran out: Batch's 409 TaskFilesCleanedup for its files. */
export function checkTaskFilesKept(t: TaskRecord): void {
  const end = t.executionInfo.endTime;
  if (t.state === 'completed' && end !== undefined && t.filesCleanedFor === end)
    throw new DomainError(
      'conflict',
      'TaskFilesCleanedup',
      'The files of the specified task are cleanedup.',
      {
        values: { TaskId: t.id },
      },
    );
}

type Outcome = 'done' | 'later';

/**
 * Removes task folders from nodes, as Batch does: at once when a task or its job is deleted (the deleting
 * transaction queues the folder, see forgetTaskFiles), and `constraints.retentionTime` (default 7 days) after a
 * task completes (the store keeps when that is, taskFilesExpireAt, and the clock says when it is due). Level-
 * triggered: each tick works from what the store says is still to do, through the executor of the node's host
 * (in process or a remote agent), so a host that cannot answer now is simply tried again on a later tick; a
 * node that is gone took its folders with it.
 */
export class TaskFileCleaner {
  private readonly ctx: DomainContext;
  private readonly executorFor: ExecutorLookup;
  private readonly onError: (err: unknown) => void;

  constructor(
    ctx: DomainContext,
    executorFor: ExecutorLookup,
    onError: (err: unknown) => void = () => undefined,
  ) {
    this.ctx = ctx;
    this.executorFor = executorFor;
    this.onError = onError;
  }

  /** One pass over both queues; true when more may be waiting. */
  async tick(): Promise<boolean> {
    const down = new Set<string>();
    const deleted = await this.removeDeleted(down);
    const expired = await this.removeExpired(down);
    return deleted || expired;
  }

  /** Removes `path` on the node through its host; `down` collects hosts that cannot answer this tick. */
  private async remove(
    at: { accountName: string; poolId: string; nodeId: string },
    path: string,
    down: Set<string>,
  ): Promise<Outcome> {
    const node = await this.ctx.store.transaction((tx) => tx.findNode(at.accountName, at.poolId, at.nodeId));
    if (!node || node.hostId === null) return 'done';
    if (down.has(node.hostId)) return 'later';
    const files = this.executorFor(node.hostId);
    try {
      if (!files) throw new NodeFilesUnavailable(`no file access to host '${node.hostId}'`);
      await files.deleteFile(node.id, path, true);
    } catch (err) {
      if (err instanceof NodeFilesUnavailable) {
        down.add(node.hostId);
        return 'later';
      }
      if (!(err instanceof NodeFileNotFound)) this.onError(err);
    }
    return 'done';
  }

  private async removeDeleted(down: Set<string>): Promise<boolean> {
    const rows = await this.ctx.store.transaction((tx) => tx.listNodeFileCleanups(BATCH));
    const done: number[] = [];
    for (const r of rows) if ((await this.remove(r, r.path, down)) === 'done') done.push(r.id);
    if (done.length > 0) await this.ctx.store.transaction((tx) => tx.deleteNodeFileCleanups(done));
    return rows.length === BATCH && done.length > 0;
  }

  private async removeExpired(down: Set<string>): Promise<boolean> {
    const now = this.ctx.clock.now().getTime();
    const due = await this.ctx.store.transaction((tx) => tx.tasksWithExpiredFiles(now, BATCH));
    let cleaned = 0;
    for (const t of due) {
      const end = t.executionInfo.endTime;
      if (!t.nodeInfo || end === undefined) continue;
      const at = { accountName: t.accountName, ...t.nodeInfo };
      if ((await this.remove(at, taskDirOf(t.jobId, t.id), down)) === 'later') continue;
      await this.ctx.store.transaction(async (tx) => {
        const [current] = await tx.findTasks(t.accountName, t.jobId, [t.id]);
        // Reactivated (or run again) meanwhile: its next completion has its own retention.
        if (current?.state === 'completed' && current.executionInfo.endTime === end)
          await tx.putTasks([{ ...current, filesCleanedFor: end }]);
      });
      cleaned++;
    }
    return due.length === BATCH && cleaned > 0;
  }
}
