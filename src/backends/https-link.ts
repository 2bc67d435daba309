import { Agent, request } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  FILE_BODY_TYPE,
  FILE_INFO_HEADER,
  type AgentLink,
  type FileResult,
  type SyncRequest,
  type SyncResponse,
} from '../protocol/agent-protocol.ts';
import type { NodeFileInfo } from './port.ts';

/** Timeouts, retries and the clock of an {@link httpsAgentLink}; every field has a default. */
export interface LinkOptions {
  /** Longest wait for the TCP + TLS connection of a request (ms). */
  connectTimeoutMs?: number;
  /** Longest wait for a whole request, from sending to the last byte of its answer (ms). */
  requestTimeoutMs?: number;
  /** Retries of a sync call after the first attempt (network errors, timeouts, 502/503/504). */
  retries?: number;
  /** The first backoff ceiling (ms); it doubles per retry up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1). */
  random?: () => number;
  /** Wall clock (ms) for `Retry-After` dates. */
  now?: () => number;
}

/** A non-200 answer from the server. */
export class LinkHttpError extends Error {
  readonly status: number;
  /** `Retry-After` in ms, when the server sent one. */
  readonly retryAfterMs: number | undefined;
  constructor(path: string, status: number, text: string, retryAfterMs: number | undefined) {
    super(`agent ${path} failed: HTTP ${String(status)} ${text.slice(0, 300)}`);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);

/** `Retry-After` (delta seconds or an HTTP date) as ms from now, or undefined. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The wait before retry `attempt` (0-based): Retry-After when given, else full jitter on a doubling ceiling. */
export function backoffMs(attempt: number, err: unknown, o: Required<LinkOptions>): number {
  if (err instanceof LinkHttpError && err.retryAfterMs !== undefined) {
    return Math.min(err.retryAfterMs, o.maxDelayMs);
  }
  const ceiling = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** attempt);
  return Math.floor(o.random() * ceiling);
}

/** Network errors and timeouts (no answer) and 502/503/504 are worth retrying; any other answer is not. */
export function retryable(err: unknown): boolean {
  return err instanceof LinkHttpError ? RETRYABLE_STATUS.has(err.status) : true;
}

function withDefaults(options: LinkOptions): Required<LinkOptions> {
  return {
    connectTimeoutMs: 10_000,
    requestTimeoutMs: 60_000,
    retries: 4,
    baseDelayMs: 500,
    maxDelayMs: 30_000,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    random: Math.random,
    now: Date.now,
    ...options,
  };
}

type Stream = { info: NodeFileInfo; bytes: Readable };

/** One POST over the shared keep-alive agent, bounded by the connect and overall timeouts. */
function postOnce(
  o: Required<LinkOptions>,
  agent: Agent,
  url: URL,
  token: string,
  body: unknown,
  stream?: Stream,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const payload = Buffer.from(stream ? '' : JSON.stringify(body));
    const headers: Record<string, string> = stream
      ? {
          'content-type': FILE_BODY_TYPE,
          [FILE_INFO_HEADER]: Buffer.from(JSON.stringify(stream.info)).toString('base64'),
        }
      : { 'content-type': 'application/json', 'content-length': String(payload.length) };
    const req = request(url, {
      method: 'POST',
      agent,
      headers: { authorization: `Bearer ${token}`, ...headers },
    });
    const fail = (err: Error) => {
      clearTimeout(overall);
      reject(err);
    };
    const overall = setTimeout(() => {
      req.destroy(new Error(`agent ${url.pathname} timed out after ${String(o.requestTimeoutMs)} ms`));
    }, o.requestTimeoutMs);
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      const connect = setTimeout(() => {
        req.destroy(
          new Error(`agent ${url.pathname}: no connection within ${String(o.connectTimeoutMs)} ms`),
        );
      }, o.connectTimeoutMs);
      socket.once('secureConnect', () => {
        clearTimeout(connect);
      });
      socket.once('close', () => {
        clearTimeout(connect);
      });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(overall);
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) {
          resolve(text);
          return;
        }
        const header = res.headers['retry-after'];
        reject(new LinkHttpError(url.pathname, res.statusCode ?? 0, text, retryAfterMs(header, o.now())));
      });
    });
    req.on('error', fail);
    if (!stream) req.end(payload);
    else pipeline(stream.bytes, req).catch(fail);
  });
}

/** Runs `once` until it succeeds, fails with something not {@link retryable}, or the retries run out. */
export async function withRetries<T>(o: Required<LinkOptions>, once: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await once();
    } catch (err) {
      if (attempt >= o.retries || !retryable(err)) throw err;
      await o.sleep(backoffMs(attempt, err, o));
    }
  }
}

/**
 * An AgentLink to a Lazurite server over HTTPS (`POST <server>/agent/v1/...`), trusting the given CA. One
 * keep-alive agent carries every call; each call has a connect and an overall timeout. Sync calls (idempotent)
 * are retried with backoff and jitter on network errors and 502/503/504, honouring Retry-After; file answers
 * are not (a streamed body cannot be replayed).
 */
export function httpsAgentLink(
  server: string,
  token: string,
  caPem: string,
  options: LinkOptions = {},
): AgentLink {
  const o = withDefaults(options);
  const agent = new Agent({ keepAlive: true, ca: caPem, maxSockets: 8 });
  const post = (path: string, body: unknown, stream?: Stream) =>
    postOnce(o, agent, new URL(path, server), token, body, stream);
  return {
    sync: async (body: SyncRequest) =>
      JSON.parse(await withRetries(o, () => post('/agent/v1/sync', body))) as SyncResponse,
    fileResult: async (id: string, result: FileResult) => {
      await post(`/agent/v1/files/${encodeURIComponent(id)}`, result);
    },
    fileBody: async (id: string, info: NodeFileInfo, bytes: Readable) => {
      await post(`/agent/v1/files/${encodeURIComponent(id)}/body`, undefined, { info, bytes });
    },
  };
}
