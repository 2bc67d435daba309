import type { Readable } from 'node:stream';
import type { FileRequest, FileResult } from '../protocol/agent-protocol.ts';
import {
  NodeDirectoryNotEmpty,
  NodeFileNotFound,
  NodeFilesUnavailable,
  type NodeExecutor,
  type NodeFileInfo,
  type NodeFileRange,
} from './port.ts';

/** What the node file API needs of whatever runs a node. */
export type NodeFileAccess = Pick<NodeExecutor, 'listFiles' | 'readFile' | 'statFile' | 'deleteFile'>;

/** A host's answer to one request: the result and, for a read, the file's bytes as they arrive. */
export interface FileAnswer {
  result: FileResult;
  body?: Readable;
}

interface Waiting {
  hostId: string;
  resolve: (answer: FileAnswer) => void;
  timer: NodeJS.Timeout;
}

/** JSON carries dates as strings. */
function revive(f: NodeFileInfo): NodeFileInfo {
  return { ...f, lastModified: new Date(f.lastModified), creationTime: new Date(f.creationTime) };
}

function errorOf(result: FileResult, path: string): Error | undefined {
  if (!result.error) return undefined;
  if (result.error.notFound) return new NodeFileNotFound(path);
  if (result.error.notEmpty === true) return new NodeDirectoryNotEmpty(path);
  return new NodeFilesUnavailable(result.error.message);
}

/**
 * Node file calls for nodes on remote host agents. The server queues a request per host; the host's next sync
 * answer carries it (`SyncResponse.fileRequests`); the agent runs it on its executor and posts the result
 * (`POST /agent/v1/files/{id}`), or for a read the file's info and bytes as a stream
 * (`POST /agent/v1/files/{id}/body`), which settles the waiting API call; the bytes flow from the agent's disk
 * to the API client with backpressure, never held whole. A host that does not answer in time fails the call with
 * NodeFilesUnavailable.
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

  private async ask(hostId: string, request: Omit<FileRequest, 'id'>): Promise<FileAnswer> {
    const id = this.newId();
    const answer = await new Promise<FileAnswer>((resolve, reject) => {
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
      this.waiting.set(id, { hostId, resolve, timer });
      this.queued.set(hostId, [...(this.queued.get(hostId) ?? []), { ...request, id }]);
    });
    const err = errorOf(answer.result, request.path);
    if (err) {
      answer.body?.destroy();
      throw err;
    }
    return answer;
  }

  private async info(
    hostId: string,
    request: Omit<FileRequest, 'id'>,
  ): Promise<FileAnswer & { info: NodeFileInfo }> {
    const answer = await this.ask(hostId, request);
    if (answer.result.info === undefined) {
      answer.body?.destroy();
      throw new NodeFilesUnavailable(`host '${hostId}' answered without file info`);
    }
    return { ...answer, info: revive(answer.result.info) };
  }

  /** The node file API for nodes on `hostId`. */
  filesOn(hostId: string): NodeFileAccess {
    return {
      listFiles: async (nodeId: string, dir: string, recursive: boolean) => {
        const r = await this.ask(hostId, { nodeId, op: 'list', path: dir, recursive });
        return (r.result.files ?? []).map(revive);
      },
      readFile: async (nodeId: string, path: string, range?: NodeFileRange) => {
        const r = await this.info(hostId, { nodeId, op: 'read', path, ...(range ? { range } : {}) });
        if (!r.body) throw new NodeFilesUnavailable(`host '${hostId}' answered a read without its bytes`);
        return { info: r.info, body: r.body };
      },
      statFile: async (nodeId: string, path: string) =>
        (await this.info(hostId, { nodeId, op: 'stat', path })).info,
      deleteFile: async (nodeId: string, path: string, recursive: boolean) => {
        await this.ask(hostId, { nodeId, op: 'delete', path, recursive });
      },
    };
  }

  /**
   * The requests waiting for `hostId` (handed out once, with its sync answer); with `nodeIds`, only those for these
   * nodes (the rest wait for the agent that runs theirs).
   */
  take(hostId: string, nodeIds?: string[]): FileRequest[] {
    const list = this.queued.get(hostId) ?? [];
    if (nodeIds === undefined) {
      this.queued.delete(hostId);
      return list;
    }
    const only = new Set(nodeIds);
    const rest = list.filter((r) => !only.has(r.nodeId));
    if (rest.length === 0) this.queued.delete(hostId);
    else this.queued.set(hostId, rest);
    return list.filter((r) => only.has(r.nodeId));
  }

  /** Settles a request with the host's answer; false when it is unknown or already settled. */
  complete(id: string, result: FileResult, body?: Readable): boolean {
    const w = this.waiting.get(id);
    if (!w) return false;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    w.resolve(body ? { result, body } : { result });
    return true;
  }
}

/** The agent's side: one request answered from its executor (a read's bytes as a stream beside the result). */
export async function answerFileRequest(executor: NodeFileAccess, r: FileRequest): Promise<FileAnswer> {
  try {
    switch (r.op) {
      case 'list':
        return { result: { files: await executor.listFiles(r.nodeId, r.path, r.recursive === true) } };
      case 'stat':
        return { result: { info: await executor.statFile(r.nodeId, r.path) } };
      case 'delete':
        await executor.deleteFile(r.nodeId, r.path, r.recursive === true);
        return { result: {} };
      case 'read': {
        const { info, body } = await executor.readFile(r.nodeId, r.path, r.range);
        return { result: { info }, body };
      }
    }
  } catch (err) {
    return {
      result: {
        error: {
          notFound: err instanceof NodeFileNotFound,
          ...(err instanceof NodeDirectoryNotEmpty ? { notEmpty: true } : {}),
          message: err instanceof Error ? err.message : String(err),
        },
      },
    };
  }
}
