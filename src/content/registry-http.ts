import { rootCertificates } from 'node:tls';
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';

/** Credentials for one registry server (Batch's `ContainerRegistry`: `userName`, `password`). */
export interface RegistryCredentials {
  userName: string;
  password: string;
}

/** Why talking to a registry failed, in words the domain maps to Batch's codes. */
export type RegistryFailure = 'not-found' | 'unauthorized' | 'unreachable' | 'invalid';

export class RegistryError extends Error {
  readonly failure: RegistryFailure;
  constructor(failure: RegistryFailure, message: string) {
    super(message);
    this.failure = failure;
  }
}

export interface RegistryResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: Readable;
}

export interface RegistryHttpOptions {
  /** Extra CA certificates (PEM) trusted beside the system's (a private registry's CA; tests' throw-away CA). */
  extraCaPem?: string[];
  /** No bytes for this long: the request fails as `unreachable`. */
  timeoutMs?: number;
}

/** Reads a whole (small) response body: manifests, token answers, error documents. Capped at 4 MiB. */
export async function readSmall(body: Readable, cap = 4 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) {
      body.destroy();
      throw new RegistryError('invalid', `a registry answer is larger than ${String(cap)} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** One parsed `WWW-Authenticate` challenge: its scheme and parameters (`realm`, `service`, `scope`). */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="...",service="...",scope="..."` (or `Basic realm="..."`). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m?.[1]) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2] ?? ''); p !== null; p = re.exec(m[2] ?? ''))
    if (p[1]) params[p[1].toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1].toLowerCase(), params };
}

/**
 * HTTPS to registries (never plain HTTP: credentials and layers travel over it), following redirects (blob GETs
 * often answer 307 to a storage URL; the `Authorization` header is kept only on the registry's own host).
 */
export class RegistryHttp {
  private readonly agent: Agent;
  private readonly timeoutMs: number;

  constructor(options: RegistryHttpOptions = {}) {
    const ca = options.extraCaPem?.length ? [...rootCertificates, ...options.extraCaPem] : undefined;
    this.agent = new Agent({ keepAlive: true, maxSockets: 8, ...(ca ? { ca } : {}) });
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  async send(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body?: Buffer | Readable,
  ): Promise<RegistryResponse> {
    let target = url;
    for (let hop = 0; hop < 6; hop++) {
      const sameHost = target.host === url.host;
      const h = sameHost
        ? headers
        : Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'authorization'));
      const res = await this.once(method, target, h, hop === 0 ? body : undefined);
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || location === undefined || method !== 'GET')
        return res;
      res.body.resume();
      target = new URL(location, target);
      if (target.protocol !== 'https:')
        throw new RegistryError(
          'unreachable',
          `the registry redirected to a non-HTTPS address (${target.host})`,
        );
    }
    throw new RegistryError('unreachable', `too many redirects from ${url.host}`);
  }

  private once(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body?: Buffer | Readable,
  ): Promise<RegistryResponse> {
    if (url.protocol !== 'https:')
      throw new RegistryError('unreachable', `not an HTTPS address: ${url.host}`);
    return new Promise((resolve, reject) => {
      const req = request(url, { method, agent: this.agent, headers });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(
          new RegistryError('unreachable', `${url.host}: no answer in ${String(this.timeoutMs)} ms`),
        );
      });
      req.on('response', (res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      req.on('error', (err) => {
        reject(
          err instanceof RegistryError
            ? err
            : new RegistryError('unreachable', `${url.host}: ${err.message}`),
        );
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
