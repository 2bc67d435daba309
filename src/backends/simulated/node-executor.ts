import { checkNodeId, cleanNodePath } from '../node-paths.ts';
import { Readable } from 'node:stream';
import { spanOf } from '../../platform/byte-span.ts';
import {
  NodeDirectoryNotEmpty,
  NodeFileNotFound,
  type NodeExecutor,
  type NodeFileInfo,
  type NodeFileRange,
  type NodeFileRead,
  type NodeImage,
  type NodeSpec,
  type ProcessResult,
  type ProcessSpec,
} from '../port.ts';

export interface SimulatedDelays {
  /** Once per image on this host (the host cache). */
  hydrateMs?: number;
  /** Per node: its disks copied from a replica, while the node holds a replica slot (R15/R16). */
  copyMs?: number;
  bootMs?: number;
  execMs?: number;
}

export interface SimulatedNodeExecutorOptions {
  delays?: SimulatedDelays;
  /** How delays are waited; tests pass one that resolves at once. */
  sleep?: (ms: number) => Promise<void>;
}

interface SimFile {
  content: Buffer;
  created: Date;
  modified: Date;
}

interface SimNode {
  running: boolean;
  created: Date;
  /** Path relative to NODE_ROOT_DIR → file; folders are implied by paths, plus the Batch folders. */
  files: Map<string, SimFile>;
}

const BATCH_DIRS = ['startup', 'shared', 'workitems', 'fsmounts'];

/** Runs `work` now; its result or what it throws as a settled promise. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/**
 * A node executor that models nodes without running anything: per-node state and files in memory, with
 * configurable delays for hydrate (once per image), boot and exec. `exec` writes an honest stdout saying the
 * command was not executed, an empty stderr, and exits 0 — or `n` when the command line ends with `exit <n>`.
 */
export class SimulatedNodeExecutor implements NodeExecutor {
  readonly kind = 'simulated';
  private readonly delays: SimulatedDelays;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly nodes = new Map<string, SimNode>();
  private readonly hydrated = new Map<string, Promise<void>>();

  constructor(options: SimulatedNodeExecutorOptions = {}) {
    this.delays = options.delays ?? {};
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  private wait(ms: number | undefined): Promise<void> {
    return ms === undefined || ms <= 0 ? Promise.resolve() : this.sleep(ms);
  }

  /** The host's one-time hydration, then this node's copy from a replica. */
  async hydrate(image: NodeImage): Promise<void> {
    await this.hydrateOnce(image);
    await this.wait(this.delays.copyMs);
  }

  private hydrateOnce(image: NodeImage): Promise<void> {
    const key = JSON.stringify([image.region, image.osManifest, image.dataDisks]);
    let p = this.hydrated.get(key);
    if (!p) {
      p = this.wait(this.delays.hydrateMs);
      this.hydrated.set(key, p);
    }
    return p;
  }

  async boot(node: NodeSpec): Promise<void> {
    checkNodeId(node.nodeId);
    const existing = this.nodes.get(node.nodeId);
    if (existing?.running) return;
    await this.hydrateOnce(node.image);
    await this.wait(this.delays.bootMs);
    const n = this.nodes.get(node.nodeId) ?? { running: false, created: new Date(), files: new Map() };
    n.running = true;
    this.nodes.set(node.nodeId, n);
  }

  private node(nodeId: string, path: string): SimNode {
    const n = this.nodes.get(nodeId);
    if (!n) throw new NodeFileNotFound(path);
    return n;
  }

  async exec(nodeId: string, process: ProcessSpec): Promise<ProcessResult> {
    if (process.container !== undefined) throw new Error('the simulated backend does not run containers');
    const n = this.nodes.get(nodeId);
    if (!n?.running) throw new Error(`node ${nodeId} is not running`);
    const out = cleanNodePath(process.stdoutFile);
    const err = cleanNodePath(process.stderrFile);
    await this.wait(this.delays.execMs);
    const now = new Date();
    const write = (path: string, text: string) =>
      n.files.set(path, {
        content: Buffer.from(text),
        created: n.files.get(path)?.created ?? now,
        modified: now,
      });
    // Nothing runs; a process given stdin behaves like `cat` (so files can be placed on simulated nodes).
    if (process.stdin)
      n.files.set(out, { content: process.stdin, created: n.files.get(out)?.created ?? now, modified: now });
    else write(out, `[simulated node] not executed: ${process.commandLine}\n`);
    if (err !== out) write(err, '');
    // Nothing ran, so nothing used CPU time or did I/O: zeros are this backend's true figures (ADR 0031).
    const usage = {
      userCpuMicros: 0,
      kernelCpuMicros: 0,
      readBytes: 0,
      writeBytes: 0,
      readOps: 0,
      writeOps: 0,
    };
    if (process.signal?.aborted === true) return { exitCode: 137, timedOut: false, killed: true, usage };
    const exit = /(?:^|[\s;&|])exit\s+(\d+)\s*$/.exec(process.commandLine);
    return { exitCode: exit ? Number(exit[1]) % 256 : 0, timedOut: false, usage };
  }

  stop(nodeId: string): Promise<void> {
    const n = this.nodes.get(nodeId);
    if (n) n.running = false;
    return Promise.resolve();
  }

  destroy(nodeId: string): Promise<void> {
    this.nodes.delete(nodeId);
    return Promise.resolve();
  }

  list(): Promise<string[]> {
    return Promise.resolve([...this.nodes.keys()]);
  }

  /** Folders implied by the node's files, plus the Batch folders every node has. */
  private folders(n: SimNode): Set<string> {
    const out = new Set(BATCH_DIRS);
    for (const path of n.files.keys()) {
      const parts = path.split('/');
      for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join('/'));
    }
    return out;
  }

  listFiles(nodeId: string, dir: string, recursive: boolean): Promise<NodeFileInfo[]> {
    return settle(() => this.listNow(nodeId, dir, recursive));
  }

  private listNow(nodeId: string, dir: string, recursive: boolean): NodeFileInfo[] {
    const n = this.node(nodeId, dir);
    const base = cleanNodePath(dir);
    const folders = this.folders(n);
    if (base !== '' && !folders.has(base)) throw new NodeFileNotFound(dir);
    const under = (path: string) => {
      const rest = base === '' ? path : path.startsWith(`${base}/`) ? path.slice(base.length + 1) : undefined;
      return rest !== undefined && (recursive || !rest.includes('/'));
    };
    const out: NodeFileInfo[] = [];
    for (const f of [...folders].filter(under))
      out.push({
        name: f,
        isDirectory: true,
        size: 0,
        lastModified: n.created,
        creationTime: n.created,
        fileMode: '0o40755',
      });
    for (const [path, f] of n.files) if (under(path)) out.push(this.info(path, f));
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  private info(name: string, f: SimFile): NodeFileInfo {
    return {
      name,
      isDirectory: false,
      size: f.content.length,
      lastModified: f.modified,
      creationTime: f.created,
      fileMode: '0o100644',
    };
  }

  private fileOf(nodeId: string, path: string): { clean: string; f: SimFile } {
    const n = this.node(nodeId, path);
    const clean = cleanNodePath(path);
    const f = n.files.get(clean);
    if (!f) throw new NodeFileNotFound(path);
    return { clean, f };
  }

  readFile(nodeId: string, path: string, range?: NodeFileRange): Promise<NodeFileRead> {
    return settle(() => {
      const { clean, f } = this.fileOf(nodeId, path);
      const { start, end } = spanOf(f.content.length, range);
      const bytes = Buffer.from(f.content.subarray(start, end + 1));
      return { info: this.info(clean, f), body: Readable.from(bytes.length === 0 ? [] : [bytes]) };
    });
  }

  statFile(nodeId: string, path: string): Promise<NodeFileInfo> {
    return settle(() => {
      const { clean, f } = this.fileOf(nodeId, path);
      return this.info(clean, f);
    });
  }

  /** Files go by path; a folder goes with every file under it (folders are implied by their files). */
  deleteFile(nodeId: string, path: string, recursive: boolean): Promise<void> {
    return settle(() => {
      const n = this.node(nodeId, path);
      const clean = cleanNodePath(path);
      if (clean === '') throw new NodeFileNotFound(path);
      if (n.files.delete(clean)) return;
      if (!this.folders(n).has(clean)) throw new NodeFileNotFound(path);
      const inside = [...n.files.keys()].filter((p) => p.startsWith(`${clean}/`));
      if (inside.length > 0 && !recursive) throw new NodeDirectoryNotEmpty(path);
      for (const p of inside) n.files.delete(p);
    });
  }

  close(): Promise<void> {
    for (const n of this.nodes.values()) n.running = false;
    return Promise.resolve();
  }
}
