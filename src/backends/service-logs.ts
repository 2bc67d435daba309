import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { containerClient } from './task-files.ts';

/** Where a node's Batch service log lines go (ADR 0031); the server writes them as it applies agent reports. */
export interface NodeLogKey {
  accountName: string;
  poolId: string;
  nodeId: string;
}

/** One log file of a node: its name (unique per node) and content. */
export interface ServiceLogFile {
  name: string;
  content: Buffer;
}

export interface ServiceLogs {
  /** Appends lines (already stamped) to the node's log for the hour of `at`. */
  append(node: NodeLogKey, at: Date, lines: string[]): Promise<void>;
  /** The node's log files that hold any line stamped within [start, end]. */
  filesBetween(node: NodeLogKey, start: Date, end: Date): Promise<ServiceLogFile[]>;
  /** Forgets a node's logs (the node left its pool). */
  forget(node: NodeLogKey): Promise<void>;
}

const HOUR_MS = 3600_000;
/** `lazurite-agent-YYYYMMDDTHH.log`: the UTC hour whose lines the file holds. */
const FILE = /^lazurite-agent-(\d{4})(\d{2})(\d{2})T(\d{2})\.log$/;

const fileNameFor = (at: Date): string => {
  const iso = at.toISOString();
  return `lazurite-agent-${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}.log`;
};

/** The start of the hour a file name covers (ms), or undefined for a name that is not a log file's. */
const hourOf = (name: string): number | undefined => {
  const m = FILE.exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4])) : undefined;
};

/**
 * Nodes' service logs on the server's disk (ADR 0031): `<root>/<account>/<pool>/<node>/lazurite-agent-<hour>.log`,
 * names lower-cased and URI-encoded, one file per node and UTC hour (so a window picks whole hours, as Batch picks
 * whole files: never fewer lines than asked for).
 */
export class ServiceLogFiles implements ServiceLogs {
  private readonly root: string;
  /** Node folders known to exist (made once, not once per append). */
  private readonly made = new Set<string>();

  constructor(root: string) {
    this.root = root;
  }

  private dirOf(node: NodeLogKey): string {
    const part = (s: string) => encodeURIComponent(s.toLowerCase());
    return join(this.root, part(node.accountName), part(node.poolId), part(node.nodeId));
  }

  async append(node: NodeLogKey, at: Date, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const dir = this.dirOf(node);
    if (!this.made.has(dir)) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      this.made.add(dir);
    }
    await appendFile(join(dir, fileNameFor(at)), `${lines.join('\n')}\n`, { mode: 0o600 });
  }

  async filesBetween(node: NodeLogKey, start: Date, end: Date): Promise<ServiceLogFile[]> {
    const dir = this.dirOf(node);
    const names = await readdir(dir).catch(() => [] as string[]);
    const out: ServiceLogFile[] = [];
    for (const name of names.sort()) {
      const hour = hourOf(name);
      if (hour === undefined || hour + HOUR_MS <= start.getTime() || hour > end.getTime()) continue;
      out.push({ name, content: await readFile(join(dir, name)) });
    }
    return out;
  }

  async forget(node: NodeLogKey): Promise<void> {
    this.made.delete(this.dirOf(node));
    await rm(this.dirOf(node), { recursive: true, force: true });
  }
}

/** What an upload did: the blob folder it wrote into and how many files. */
export interface ServiceLogUpload {
  virtualDirectoryName: string;
  numberOfFilesUploaded: number;
}

/**
 * Uploads the node's log files for [start, end] to the container (its URL carries a SAS granting write) under
 * `<pool>/<node>/<unique id>/`, as Batch names the virtual directory.
 */
export async function uploadServiceLogs(
  logs: ServiceLogs,
  node: NodeLogKey,
  containerUrl: string,
  window: { start: Date; end: Date },
): Promise<ServiceLogUpload> {
  const files = await logs.filesBetween(node, window.start, window.end);
  const virtualDirectoryName = `${node.poolId}/${node.nodeId}/${randomUUID()}`;
  const container = containerClient(containerUrl);
  for (const f of files) {
    await container.getBlockBlobClient(`${virtualDirectoryName}/${f.name}`).uploadData(f.content, {
      blobHTTPHeaders: { blobContentType: 'text/plain; charset=utf-8' },
    });
  }
  return { virtualDirectoryName, numberOfFilesUploaded: files.length };
}
