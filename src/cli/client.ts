import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { ConnectionInfo } from '../app/main.ts';

/** A CLI failure: one clear line, and a hint saying what to do about it. */
export class CliError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;
  constructor(message: string, hint?: string, exitCode = 1) {
    super(message);
    this.hint = hint;
    this.exitCode = exitCode;
  }
}

/** The connection details a running (or once started) server wrote into its data dir. */
export function readConnection(config: Config): ConnectionInfo {
  const file = join(config.dataDir, 'connection.json');
  if (!existsSync(file)) {
    throw new CliError(
      `no server has run with the data dir ${config.dataDir} (${file} is missing)`,
      'start one with `lazurite start`, or pass --data-dir / LAZURITE_DATA_DIR of the one you use',
    );
  }
  return JSON.parse(readFileSync(file, 'utf8')) as ConnectionInfo;
}

export const BATCH_API_VERSION = '2024-07-01.20.0';
export const COMPUTE_API_VERSION = '2023-07-03';

interface Reply {
  status: number;
  body: unknown;
}

/** Azure's two error shapes (Batch and ARM) as one line. */
function errorLine(body: unknown): string {
  const b = body as {
    code?: string;
    message?: { value?: string } | string;
    error?: { code?: string; message?: string };
  };
  if (b.error) return `${b.error.message ?? ''} (${b.error.code ?? 'error'})`;
  const message = typeof b.message === 'string' ? b.message : (b.message?.value ?? '');
  return `${message.split('\n')[0] ?? ''} (${b.code ?? 'error'})`;
}

/**
 * The server's ARM and Batch APIs as the well-known service principal, over HTTPS trusting the server's own CA
 * (what the SDKs do; the CLI needs only a few GETs, so plain requests).
 */
export class ServerClient {
  private readonly ca: string;
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  readonly connection: ConnectionInfo;

  constructor(connection: ConnectionInfo) {
    this.connection = connection;
    this.ca = readFileSync(connection.caCertPath, 'utf8');
  }

  private send(url: string, init: { method: string; headers: Record<string, string>; body?: string }) {
    return new Promise<Reply>((resolve, reject) => {
      const req = request(url, { method: init.method, headers: init.headers, ca: this.ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text === '' ? {} : JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(
          new CliError(
            `cannot reach the server at ${new URL(url).origin} (${err.code ?? err.message})`,
            'is `lazurite start` running with this data dir?',
          ),
        );
      });
      req.end(init.body);
    });
  }

  private async token(scope: string): Promise<string> {
    const cached = this.tokens.get(scope);
    if (cached && cached.expires > Date.now() + 60_000) return cached.token;
    const c = this.connection;
    const reply = await this.send(`${c.authorityHost}/${c.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: c.clientId,
        client_secret: c.clientSecret,
        scope,
      }).toString(),
    });
    const body = reply.body as { access_token?: string; expires_in?: number; error_description?: string };
    if (reply.status !== 200 || body.access_token === undefined) {
      throw new CliError(
        `the server refused the well-known service principal: ${body.error_description ?? String(reply.status)}`,
        'the data dir may belong to another server; check `lazurite env`',
      );
    }
    this.tokens.set(scope, { token: body.access_token, expires: Date.now() + (body.expires_in ?? 0) * 1000 });
    return body.access_token;
  }

  private async get(url: string, scope: string): Promise<unknown> {
    const reply = await this.send(url, {
      method: 'GET',
      headers: { authorization: `Bearer ${await this.token(scope)}`, accept: 'application/json' },
    });
    if (reply.status >= 400) throw new ApiError(reply.status, errorLine(reply.body), reply.body);
    return reply.body;
  }

  /** GET on the default Batch account's data plane (`path` starts with '/'). */
  batch(path: string): Promise<unknown> {
    const sep = path.includes('?') ? '&' : '?';
    return this.get(
      `${new URL(this.connection.batchUrl).origin}${path}${sep}api-version=${BATCH_API_VERSION}`,
      'https://batch.core.windows.net//.default',
    );
  }

  /** GET on ARM (`path` is a resource id or starts with '/subscriptions'). */
  arm(path: string, apiVersion = COMPUTE_API_VERSION): Promise<unknown> {
    const sep = path.includes('?') ? '&' : '?';
    return this.get(
      `${this.connection.armEndpoint}${path}${sep}api-version=${apiVersion}`,
      'https://management.core.windows.net//.default',
    );
  }
}

/** An error answer from the server's APIs. */
export class ApiError extends CliError {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, line: string, body: unknown) {
    super(line);
    this.status = status;
    this.body = body;
  }
}
