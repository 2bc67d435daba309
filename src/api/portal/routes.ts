import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { WELL_KNOWN } from '../../domain/environment/well-known.ts';
import { DomainError } from '../../domain/errors.ts';
import type { PortalDeps } from '../http/context.ts';

/** The portal's static files (see portal/README.md). */
export const PORTAL_ROOT = fileURLToPath(new URL('../../../portal/', import.meta.url));

/**
 * Server modules the browser may import as they are (pure, no Node APIs), under `/portal/lib/<name>`: one source
 * for rules the portal shows before the server applies them.
 */
const SHARED_MODULES: Readonly<Record<string, string>> = {
  'planner.ts': fileURLToPath(new URL('../../domain/pools/planner.ts', import.meta.url)),
  'sizing-guidance.ts': fileURLToPath(new URL('../../domain/pools/sizing-guidance.ts', import.meta.url)),
  'vm-sizes.ts': fileURLToPath(new URL('../../domain/pools/vm-sizes.ts', import.meta.url)),
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ts': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** A path segment of a servable file: no leading dot (so no `..`, no hidden files), no separators. */
const SAFE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

function notFound(path: string): DomainError {
  return new DomainError('not-found', 'NotFound', `The portal has no file '${path}'.`);
}

/**
 * Maps a request path below `/portal/` to a file inside PORTAL_ROOT (or a shared module), or undefined. Every
 * segment must be a plain name and the real path (after symlinks) must stay inside the root.
 */
export async function resolvePortalFile(relative: string, root = PORTAL_ROOT): Promise<string | undefined> {
  const segments = relative.split('/');
  if (!segments.every((s) => SAFE_SEGMENT.test(s))) return undefined;
  if (CONTENT_TYPES[extname(relative)] === undefined) return undefined;
  if (segments.length === 2 && segments[0] === 'lib') return SHARED_MODULES[segments[1] ?? ''];
  try {
    const realRoot = await realpath(root);
    const real = await realpath(join(realRoot, ...segments));
    if (!real.startsWith(realRoot + sep) || !(await stat(real)).isFile()) return undefined;
    return real;
  } catch {
    return undefined;
  }
}

/** TypeScript modules go out as JavaScript with the types erased (whitespace keeps line/column positions). */
function toJavaScript(source: string): string {
  // stripTypeScriptTypes warns once that it is experimental; the server already runs on the same type stripping.
  const original = Object.getOwnPropertyDescriptor(process, 'emitWarning');
  const emit: (warning: string | Error) => void = process.emitWarning.bind(process);
  process.emitWarning = (warning: string | Error) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (!text.includes('stripTypeScriptTypes')) emit(warning);
  };
  try {
    return stripTypeScriptTypes(source, { mode: 'strip' });
  } finally {
    if (original) Object.defineProperty(process, 'emitWarning', original);
  }
}

const compiled = new Map<string, { mtimeMs: number; body: string }>();

async function fileBody(file: string): Promise<string> {
  const { mtimeMs } = await stat(file);
  const cached = compiled.get(file);
  if (cached?.mtimeMs === mtimeMs) return cached.body;
  const text = await readFile(file, 'utf8');
  const body = file.endsWith('.ts') ? toJavaScript(text) : text;
  compiled.set(file, { mtimeMs, body });
  return body;
}

/**
 * The CSP for a page: own-origin everything, plus the hashes of its inline import map; `connect` adds origins
 * the page may call (the configured storage accounts' blob endpoints, which the VHD picker lists).
 */
function contentSecurityPolicy(html: string, connect: string[]): string {
  const hashes = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) =>
      `'sha256-${createHash('sha256')
        .update(m[1] ?? '')
        .digest('base64')}'`,
  );
  return [
    "default-src 'self'",
    `script-src 'self' ${hashes.join(' ')}`.trim(),
    "style-src 'self'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...connect].join(' '),
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join('; ');
}

/** The origins of the configured storage accounts' blob endpoints (LAZURITE_STORAGE_ACCOUNTS; ADR 0035). */
function storageOrigins(deps: PortalDeps): string[] {
  const origins = Object.values(deps.config.storageAccounts).map((a) => {
    try {
      return new URL(a.blobEndpoint).origin;
    } catch {
      return undefined;
    }
  });
  return [...new Set(origins.filter((o): o is string => o !== undefined))];
}

async function sendFile(reply: FastifyReply, file: string, connect: string[] = []): Promise<void> {
  const body = await fileBody(file);
  const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
  void reply
    .header('content-type', type)
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
  if (type.startsWith('text/html'))
    void reply
      .header('content-security-policy', contentSecurityPolicy(body, connect))
      .header('x-frame-options', 'DENY');
  await reply.send(body);
}

/**
 * What the sign-in form prefills: the well-known principal, and where the default Batch account (the one Entra
 * tokens reach at the origin root) lives, so the portal's ARM and Batch views agree.
 */
async function portalConfig(deps: PortalDeps) {
  const account = await deps.batchAccounts.findByName(deps.config.defaultBatchAccount);
  return {
    tenantId: WELL_KNOWN.tenantId,
    clientId: WELL_KNOWN.clientId,
    clientSecret: WELL_KNOWN.clientSecret,
    subscriptionId: account?.subscriptionId ?? WELL_KNOWN.subscriptionId,
    resourceGroup: account?.resourceGroup ?? WELL_KNOWN.resourceGroup,
    location: account?.location ?? WELL_KNOWN.location,
    batchAccountName: deps.config.defaultBatchAccount,
    armScope: 'https://management.azure.com/.default',
    batchScope: 'https://batch.core.windows.net//.default',
  };
}

/**
 * The web portal at `/portal`: static files (no token needed; the browser then calls the ARM and Batch APIs on
 * this origin with its own tokens) and `/portal/config.json` with the sign-in defaults. See ADR 0016.
 */
export function registerPortalRoutes(app: FastifyInstance, deps: PortalDeps): void {
  const connect = storageOrigins(deps);
  app.get('/portal', (_req, reply) => sendFile(reply, join(PORTAL_ROOT, 'index.html'), connect));
  app.get('/portal/config.json', async (_req, reply) => {
    void reply.header('cache-control', 'no-store');
    return portalConfig(deps);
  });
  app.get<{ Params: { '*': string } }>('/portal/*', async (req, reply) => {
    const relative = req.params['*'];
    const file = await resolvePortalFile(relative);
    if (file === undefined) throw notFound(relative);
    await sendFile(reply, file, connect);
  });
}
