import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The first host id of the node id ranges, and how many ids each node gets (ADR 0020). */
export const ID_RANGE_START = 0x40000000;
export const IDS_PER_NODE = 65536;
/** Slots up to the last whole range below 2^32 - 1 (the kernel's invalid id). */
const SLOTS = Math.floor((0xffffffff - ID_RANGE_START) / IDS_PER_NODE);
/** The file in a node's folder holding its range's first host id. */
export const ID_FILE = 'idmap';

/**
 * The host uid/gid range of each node: node id k is host id `base + k`, `base = ID_RANGE_START + slot * 65536`.
 * A slot is taken when a node is first booted and kept in its folder (`<node>/idmap`), so a restarted server (and
 * the node's disk, stored with unshifted ids) uses the same range; destroying the node (its folder) frees it. The
 * slots in use are read from the node folders once, then kept here; allocations run one at a time.
 */
export class NodeIdRanges {
  private readonly nodesDir: string;
  private used: Promise<Map<string, number>> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(nodesDir: string) {
    this.nodesDir = nodesDir;
  }

  private async scan(): Promise<Map<string, number>> {
    const used = new Map<string, number>();
    if (!existsSync(this.nodesDir)) return used;
    for (const name of await readdir(this.nodesDir)) {
      const base = Number(
        (await readFile(join(this.nodesDir, name, ID_FILE), 'utf8').catch(() => '')).trim(),
      );
      if (Number.isInteger(base) && base >= ID_RANGE_START) used.set(name, base);
    }
    return used;
  }

  /** The node's range base: its recorded one, else a free slot recorded now. */
  baseFor(nodeId: string): Promise<number> {
    const next = this.queue.then(async () => {
      this.used ??= this.scan();
      const used = await this.used;
      const known = used.get(nodeId);
      if (known !== undefined) return known;
      const taken = new Set(used.values());
      for (let slot = 0; slot < SLOTS; slot++) {
        const base = ID_RANGE_START + slot * IDS_PER_NODE;
        if (taken.has(base)) continue;
        await writeFile(join(this.nodesDir, nodeId, ID_FILE), `${String(base)}\n`);
        used.set(nodeId, base);
        return base;
      }
      throw new Error('no free id range for another node on this host');
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The node's folder is gone: its slot is free again. */
  async release(nodeId: string): Promise<void> {
    if (this.used) (await this.used).delete(nodeId);
  }
}
