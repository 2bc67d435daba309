import type { FastifyReply, FastifyRequest } from 'fastify';
import { spanOf } from '../../platform/byte-span.ts';
import type { NodeFileInfo, NodeFileRange } from '../../protocol/agent-protocol.ts';
import { DomainError } from '../../domain/errors.ts';
import { checkFileConditions } from '../../domain/pools/conditions.ts';
import type { BatchDeps } from '../http/context.ts';
import { conditionsOf, contextOf } from './request.ts';

/** A file on a node as a Batch file route addresses it; `url` is its URL as the client gave it. */
export interface FileTarget {
  poolId: string;
  nodeId: string;
  path: string;
  url: string;
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const raw = request.headers[name];
  return Array.isArray(raw) ? raw[0] : raw;
};

/** `ocp-range: bytes=a-b` or `bytes=a-` (also `Range`), as Batch accepts for file downloads. */
export function rangeOf(request: FastifyRequest): NodeFileRange | undefined {
  const value = header(request, 'ocp-range') ?? header(request, 'range');
  if (value === undefined || value === '') return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(value.trim());
  if (!m) {
    throw new DomainError(
      'invalid-input',
      'InvalidHeaderValue',
      'The value for one of the HTTP headers is not in the correct format.',
      { values: { HeaderName: 'ocp-range', HeaderValue: value } },
    );
  }
  return { start: Number(m[1]), ...(m[2] === '' ? {} : { end: Number(m[2]) }) };
}

/** A range that starts at or past the end of the file (or ends before it starts): Batch's 416. */
function checkRange(range: NodeFileRange | undefined, size: number): void {
  if (range === undefined) return;
  if (range.start < size && (range.end === undefined || range.end >= range.start)) return;
  throw new DomainError(
    'range-not-satisfiable',
    'InvalidRange',
    'The range specified is invalid for the current size of the resource.',
    {
      values: {
        RangeRequested: `bytes=${String(range.start)}-${String(range.end ?? '')}`,
        FileSize: String(size),
      },
    },
  );
}

function fileHeaders(reply: FastifyReply, info: NodeFileInfo, url: string, length: number): void {
  void reply.header('ocp-creation-time', info.creationTime.toUTCString());
  void reply.header('ocp-batch-file-isdirectory', String(info.isDirectory));
  void reply.header('ocp-batch-file-url', url);
  void reply.header('ocp-batch-file-mode', info.fileMode);
  void reply.header('Content-Type', 'application/octet-stream');
  void reply.header('Content-Length', String(length));
  void reply.header('Last-Modified', info.lastModified.toUTCString());
  void reply.header('ETag', `0x${info.lastModified.getTime().toString(16).toUpperCase()}`);
}

/**
 * GET (with `ocp-range`) or HEAD of a file on a node, answered with Batch's file headers. GET streams the bytes
 * from the node's disk (or its host agent) as the client takes them; HEAD reads only the file's info.
 * If-Modified-Since / If-Unmodified-Since apply to both.
 */
export async function sendNodeFile(
  deps: BatchDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  withBody: boolean,
  file: FileTarget,
) {
  const ctx = contextOf(request);
  const cond = conditionsOf(request);
  if (!withBody) {
    const info = await deps.nodes.statFile(ctx.account, file.poolId, file.nodeId, file.path);
    checkFileConditions(info.lastModified, cond);
    fileHeaders(reply, info, file.url, info.size);
    return reply.status(200).send();
  }
  const range = rangeOf(request);
  const { info, body } = await deps.nodes.readFile(ctx.account, file.poolId, file.nodeId, file.path, range);
  try {
    checkFileConditions(info.lastModified, cond);
    checkRange(range, info.size);
  } catch (err) {
    body.destroy();
    throw err;
  }
  const { start, end } = spanOf(info.size, range);
  fileHeaders(reply, info, file.url, end - start + 1);
  return reply.status(200).send(body);
}

/** DELETE of a node file or folder (`recursive` for a folder's content), answered 200 as Batch does. */
export async function deleteNodeFile(
  deps: BatchDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  file: Omit<FileTarget, 'url'>,
) {
  const ctx = contextOf(request);
  const recursive = String((request.query as Record<string, unknown>).recursive).toLowerCase() === 'true';
  await deps.nodes.deleteFile(ctx.account, file.poolId, file.nodeId, file.path, recursive);
  return reply.status(200).send();
}
