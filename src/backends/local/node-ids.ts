import { existsSync } from 'node:fs';
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The first host id of the node id ranges, and how many ids each node gets (ADR 0020). */
export const ID_RANGE_START = 0x40000000;
export const IDS_PER_NODE = 65536;
/** Slots up to the last whole range below 2^32 - 1 (the kernel's invalid id). */
const SLOTS = Math.floor((0xffffffff - ID_RANGE_START) / IDS_PER_NODE);
/** The file in a node's folder holding its range's first host id. */
export const ID_FILE = 'idmap';
/** Where this host records which node folder holds which slot, for every data dir on the host. */
export const HOST_SLOTS_DIR = '/var/lib/lazurite/id-slots';

const baseOf = (slot: number) => ID_RANGE_START + slot * IDS_PER_NODE;

async function text(path: string): Promise<string> {
  return (await readFile(path, 'utf8').catch(() => '')).trim();
}

/**
 * The host uid/gid range of each node: node id k is host id `base + k`, `base = ID_RANGE_START + slot * 65536`.
 * Slots are per host, across data dirs: `<slotsDir>/<slot>` names the node folder holding it, made with O_EXCL, and
 * a slot whose node folder no longer records it (destroyed, or its data dir removed) is free again. The node's
 * folder keeps its base (`<node>/idmap`), so a restarted server adopts a running holder with the same range.
 * The base is not part of the node's disk (the layers are idmapped), so a node whose recorded slot another node
 * took meanwhile simply gets a new one at its next boot. Allocations of one executor run one at a time.
 */
export class NodeIdRanges {
  private readonly nodesDir: string;
  private readonly slotsDir: string;
  private queue: Promise<unknown> = Promise.resolve();
  /** Where the next search for a free slot starts (after the last one taken: no rescan of a full prefix). */
  private hint = 0;

  constructor(nodesDir: string, slotsDir = HOST_SLOTS_DIR) {
    this.nodesDir = nodesDir;
    this.slotsDir = slotsDir;
  }

  /** Whether `<slotsDir>/<slot>` names a node folder that still records this slot's base. */
  private async held(slot: number): Promise<string | undefined> {
    const owner = await text(join(this.slotsDir, String(slot)));
    if (owner === '' || (await text(join(owner, ID_FILE))) !== String(baseOf(slot))) return undefined;
    return owner;
  }

  /** Takes `slot` for `dir` if it is free (O_EXCL: of two takers one wins); whether it did. */
  private async take(slot: number, dir: string): Promise<boolean> {
    const file = join(this.slotsDir, String(slot));
    if (existsSync(file)) {
      const owner = await this.held(slot);
      if (owner !== undefined) return owner === dir;
      await unlink(file).catch(() => undefined); // stale
    }
    try {
      await writeFile(file, `${dir}\n`, { flag: 'wx' });
    } catch {
      return false;
    }
    await writeFile(join(dir, ID_FILE), `${String(baseOf(slot))}\n`);
    return true;
  }

  /** The node's range base: its recorded one while the host's registry still gives it that slot, else a free one. */
  baseFor(nodeId: string): Promise<number> {
    const next = this.queue.then(async () => {
      await mkdir(this.slotsDir, { recursive: true, mode: 0o700 });
      const dir = join(this.nodesDir, nodeId);
      const known = Number(await text(join(dir, ID_FILE)));
      const slot = (known - ID_RANGE_START) / IDS_PER_NODE;
      if (Number.isInteger(slot) && slot >= 0 && slot < SLOTS && (await this.take(slot, dir))) return known;
      for (let i = 0; i < SLOTS; i++) {
        const s = (this.hint + i) % SLOTS;
        if (!(await this.take(s, dir))) continue;
        this.hint = (s + 1) % SLOTS;
        return baseOf(s);
      }
      throw new Error('no free id range for another node on this host');
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Frees the node's slot (before its folder is removed). */
  release(nodeId: string): Promise<void> {
    const next = this.queue.then(async () => {
      const dir = join(this.nodesDir, nodeId);
      const slot = (Number(await text(join(dir, ID_FILE))) - ID_RANGE_START) / IDS_PER_NODE;
      if (Number.isInteger(slot) && (await this.held(slot)) === dir)
        await unlink(join(this.slotsDir, String(slot))).catch(() => undefined);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}
