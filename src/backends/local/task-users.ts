import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NODE_IDS } from '../node-user-ids.ts';

/** The file in a node's folder that records its task-scope users: `<uid> <key>` lines. */
const FILE = 'task-users';

/**
 * Task-scope auto-users (ADR 0026): each running task (`key`: its run id) gets a uid of its own from
 * 20001–20512 on its node, so no task-scope task can read another's 0600 files or signal its processes. The
 * uid stays the task's for every process of the run (resource files, the command) until the server has
 * recorded how the run ended (`release`, from the executor's forgetRun); a node boot starts with none taken.
 * Uids are given round-robin, so a freed one comes back as late as possible. The table is kept in the node's
 * folder, so a restarted server keeps the uids of the runs it adopts. Calls for one node run one at a time.
 */
export class TaskUsers {
  private readonly nodesDir: string;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly hints = new Map<string, number>();

  constructor(nodesDir: string) {
    this.nodesDir = nodesDir;
  }

  private serial<T>(nodeId: string, work: () => Promise<T>): Promise<T> {
    const next = (this.queues.get(nodeId) ?? Promise.resolve()).then(work, work);
    this.queues.set(
      nodeId,
      next.catch(() => undefined),
    );
    return next;
  }

  private async read(nodeId: string): Promise<Map<string, number>> {
    const text = await readFile(join(this.nodesDir, nodeId, FILE), 'utf8').catch(() => '');
    const table = new Map<string, number>();
    for (const line of text.split('\n')) {
      const space = line.indexOf(' ');
      const uid = Number(line.slice(0, space));
      if (space > 0 && uid >= NODE_IDS.taskUsers.first && uid <= NODE_IDS.taskUsers.last)
        table.set(line.slice(space + 1), uid);
    }
    return table;
  }

  private async write(nodeId: string, table: Map<string, number>): Promise<void> {
    const lines = [...table].map(([key, uid]) => `${String(uid)} ${key}\n`).join('');
    await writeFile(join(this.nodesDir, nodeId, FILE), lines, { mode: 0o600 });
  }

  /** The uid of `key`'s task user on the node: its own while it has one, else the next free one. */
  uidFor(nodeId: string, key: string): Promise<number> {
    if (key.includes('\n')) return Promise.reject(new Error('a task user key cannot hold a line break'));
    return this.serial(nodeId, async () => {
      const table = await this.read(nodeId);
      const known = table.get(key);
      if (known !== undefined) return known;
      const taken = new Set(table.values());
      const { first, last } = NODE_IDS.taskUsers;
      const count = last - first + 1;
      const start = this.hints.get(nodeId) ?? 0;
      for (let i = 0; i < count; i++) {
        const uid = first + ((start + i) % count);
        if (taken.has(uid)) continue;
        table.set(key, uid);
        await this.write(nodeId, table);
        this.hints.set(nodeId, (uid - first + 1) % count);
        return uid;
      }
      throw new Error(`node ${nodeId} has no free task-scope user (${String(count)} tasks hold one)`);
    });
  }

  /** Frees `key`'s task user (its run has ended and is recorded). */
  release(nodeId: string, key: string): Promise<void> {
    return this.serial(nodeId, async () => {
      const table = await this.read(nodeId);
      if (table.delete(key)) await this.write(nodeId, table);
    });
  }

  /** Frees every task user of the node (a new boot: no process of an earlier one is left). */
  reset(nodeId: string): Promise<void> {
    return this.serial(nodeId, () => rm(join(this.nodesDir, nodeId, FILE), { force: true }));
  }
}
