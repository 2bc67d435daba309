import type { FileRequest, FileResult } from './agent-protocol.ts';
import {
  NodeFileNotFound,
  NodeFilesUnavailable,
  type NodeExecutor,
  type NodeFileInfo,
  type NodeFileRange,
} from './port.ts';

/** What the node file API needs of whatever runs a node. */
export type NodeFileAccess = Pick<NodeExecutor, 'listFiles' | 'readFile'>;

interface Waiting {
  hostId: string;
  resolve: (result: FileResult) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** JSON carries dates as strings. */
function revive(f: NodeFileInfo): NodeFileInfo {
  return { ...f, lastModified: new Date(f.lastModified), creationTime: new Date(f.creationTime) };
}

/**
 * Node file reads for nodes on remote host agents. The server queues a request per host; the host's next sync
 * answer carries it (`SyncResponse.fileRequests`); the agent reads the file from its executor and posts the
 * result (`POST /agent/v1/files/{id}`), which settles the waiting API call. A host that does not answer in time
 * fails the call with NodeFilesUnavailable.
 */
export class FileRequestBroker {
  private readonly queued = new Map<string, FileRequest[]>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly newId: () => string;
  private readonly timeoutMs: number;

  constructor(newId: () => string, timeoutMs = 30_000) {
    this.newId = newId;
    this.timeoutMs = timeoutMs;
  }

  private ask(hostId: string, request: Omit<FileRequest, 'id'>): Promise<FileResult> {
    const id = this.newId();
    return new Promise<FileResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        const list = this.queued.get(hostId);
        if (list)
          this.queued.set(
            hostId,
            list.filter((r) => r.id !== id),
          );
        reject(
          new NodeFilesUnavailable(
            `host '${hostId}' did not answer within ${String(this.timeoutMs / 1000)} s`,
          ),
        );
      }, this.timeoutMs);
      this.waiting.set(id, { hostId, resolve, reject, timer });
      this.queued.set(hostId, [...(this.queued.get(hostId) ?? []), { ...request, id }]);
    }).then((result) => {
      if (result.error) {
        throw result.error.notFound
          ? new NodeFileNotFound(request.path)
          : new NodeFilesUnavailable(result.error.message);
      }
      return result;
    });
  }

  /** The node file API for nodes on `hostId`. */
  filesOn(hostId: string): NodeFileAccess {
    return {
      listFiles: async (nodeId: string, dir: string, recursive: boolean) => {
        const r = await this.ask(hostId, { nodeId, op: 'list', path: dir, recursive });
        return (r.files ?? []).map(revive);
      },
      readFile: async (nodeId: string, path: string, range?: NodeFileRange) => {
        const r = await this.ask(hostId, { nodeId, op: 'read', path, ...(range ? { range } : {}) });
        if (r.info === undefined)
          throw new NodeFilesUnavailable(`host '${hostId}' answered without file info`);
        return { content: Buffer.from(r.content ?? '', 'base64'), info: revive(r.info) };
      },
    };
  }

  /** The requests waiting for `hostId` (handed out once, with its sync answer). */
  take(hostId: string): FileRequest[] {
    const list = this.queued.get(hostId) ?? [];
    this.queued.delete(hostId);
    return list;
  }

  /** Settles a request with the host's answer; false when it is unknown or already settled. */
  complete(id: string, result: FileResult): boolean {
    const w = this.waiting.get(id);
    if (!w) return false;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    w.resolve(result);
    return true;
  }
}

/** The agent's side: one request answered from its executor. */
export async function answerFileRequest(executor: NodeFileAccess, r: FileRequest): Promise<FileResult> {
  try {
    if (r.op === 'list') return { files: await executor.listFiles(r.nodeId, r.path, r.recursive === true) };
    const { content, info } = await executor.readFile(r.nodeId, r.path, r.range);
    return { content: content.toString('base64'), info };
  } catch (err) {
    return {
      error: {
        notFound: err instanceof NodeFileNotFound,
        message: err instanceof Error ? err.message : String(err),
      },
    };
  }
}
