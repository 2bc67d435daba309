import { randomUUID } from 'node:crypto';
import underPressure from '@fastify/under-pressure';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import { registerAgentRoutes } from '../agent/routes.ts';
import { toArmError } from '../arm/errors.ts';
import { registerArmSurface } from '../arm/surface.ts';
import { toBatchError } from '../batch/errors.ts';
import { registerBatchSurface } from '../batch/surface.ts';
import { toOAuthError } from '../identity/errors.ts';
import { registerIdentityRoutes } from '../identity/routes.ts';
import { registerPortalRoutes } from '../portal/routes.ts';
import type { ApiDeps } from './context.ts';
import { depthExceededAt, MAX_JSON_DEPTH } from './json-depth.ts';
import { answerClientError, trackRequestLines } from './client-errors.ts';
import { malformedJson, normalizeError, type WireError } from './errors.ts';
import { registerObservability, requestLogger } from './observability.ts';
import { registerResponseCheck, type ResponseCheck } from './response-check.ts';
import { surfaceOf } from './surface.ts';

export interface HttpServerOptions {
  tls: { key: string; cert: string };
  /** Origins (scheme://host:port) under which tokens this server issued are accepted. */
  origins: () => string[];
  /** Checks every answer against the spec (a test hook, ADR 0032); absent in production. */
  responseCheck?: ResponseCheck | undefined;
}

function parseJson(
  _req: FastifyRequest,
  body: string,
  done: (err: Error | null, value?: unknown) => void,
): void {
  if (body.trim() === '') {
    done(null, undefined);
    return;
  }
  const at = depthExceededAt(body);
  if (at >= 0) {
    done(
      malformedJson(
        `The reader's MaxDepth of ${String(MAX_JSON_DEPTH)} has been exceeded. Position ${String(at)}`,
      ),
    );
    return;
  }
  try {
    done(null, JSON.parse(body));
  } catch (err) {
    done(malformedJson((err as Error).message));
  }
}

function registerParsers(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(['application/json', 'text/json'], { parseAs: 'string' }, parseJson);
  app.addContentTypeParser(/^application\/[\w.+-]*\+json/, { parseAs: 'string' }, parseJson);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    done(null, body);
  });
}

function wireErrorFor(deps: ApiDeps, request: { url: string; id: string }, err: unknown): WireError {
  const now = deps.clock.now();
  switch (surfaceOf(request.url)) {
    case 'batch':
      return toBatchError(err, request.id, now, deps.publicOrigin());
    case 'identity':
      return toOAuthError(err, request.id, now);
    case 'arm':
    case 'service':
      return toArmError(err);
  }
}

/** Bytes of a refused oversize body read and thrown away so the client can finish sending and read the 413. */
const DISCARD_LIMIT = 64 * 1024 * 1024;

/**
 * Reads and drops the rest of a request body (up to DISCARD_LIMIT, then the connection is cut): a client still
 * writing a body the server refused would otherwise see its connection reset (EPIPE) instead of the 413.
 */
function discardBody(request: FastifyRequest): Promise<void> {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      raw.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DISCARD_LIMIT) {
        raw.destroy();
        done();
      }
    };
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('error', done);
    raw.once('close', done);
    raw.resume();
  });
}

async function sendError(
  deps: ApiDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  error: unknown,
): Promise<void> {
  const err = normalizeError(error);
  const wire = wireErrorFor(deps, request, err);
  if (wire.status === 413) await discardBody(request);
  if (wire.status >= 500 && wire.status !== 501)
    request.log.error({ err: error, url: request.url }, 'request failed');
  else request.log.debug({ code: (err as DomainError).code, url: request.url }, 'request rejected');
  for (const [k, v] of Object.entries(wire.headers ?? {})) void reply.header(k, v);
  if (err instanceof DomainError && err.retryAfterSeconds !== undefined)
    void reply.header('retry-after', String(err.retryAfterSeconds));
  void reply.code(wire.status);
  if (request.method === 'HEAD') await reply.send();
  else
    await reply
      .type(
        surfaceOf(request.url) === 'batch'
          ? 'application/json;odata=minimalmetadata'
          : 'application/json; charset=utf-8',
      )
      .send(JSON.stringify(wire.body));
}

/** Routes answered even when the server sheds load: a monitor must see how it is doing. */
const ALWAYS_ANSWERED = new Set(['/health', '/metrics']);

/**
 * Load shedding (@fastify/under-pressure, ADR 0024): while the event loop lags more than
 * `config.maxEventLoopDelayMs`, requests other than /health and /metrics are answered at once with the surface's
 * 503 and Retry-After instead of waiting in an unbounded queue behind the ones already in.
 */
function shedLoad(app: FastifyInstance, deps: ApiDeps): void {
  if (deps.config.maxEventLoopDelayMs === 0) return;
  void app.register(underPressure, {
    maxEventLoopDelay: deps.config.maxEventLoopDelayMs,
    pressureHandler: (request: FastifyRequest, reply: FastifyReply) => {
      if (ALWAYS_ANSWERED.has(request.url.split('?')[0] ?? '')) return undefined; // handled as usual
      return sendError(
        deps,
        request,
        reply,
        new DomainError(
          'unavailable',
          'ServerBusy',
          'The server is busy. Retry after the time in Retry-After.',
          {
            retryAfterSeconds: 2,
          },
        ),
      );
    },
  });
}

/** Builds the one HTTPS server that serves identity, ARM and the Batch data plane, path-routed. */
export function buildHttpServer(deps: ApiDeps, options: HttpServerOptions): FastifyInstance {
  // The surfaces are written against the plain FastifyInstance type; the HTTPS server and pino logger types
  // differ only in the raw server generic, which no route touches.
  const app = Fastify({
    https: { key: options.tls.key, cert: options.tls.cert },
    bodyLimit: deps.config.bodyLimit,
    // A path parameter may be as long as a request line Node accepts (16 KiB of headers), so an over-long id
    // reaches its route and gets that route's answer (a 5,000-character pool id: 404 PoolNotFound).
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true, maxParamLength: 16_384 },
    loggerInstance: deps.logger,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    // Request-scoped lines (request.log) carry reqId and the client's own request id; see observability.ts.
    childLoggerFactory: requestLogger,
    return503OnClosing: true,
    // ARM SDKs build `/{scope}/providers/...` from a scope that already starts with '/', sending '//subscriptions/...'.
    rewriteUrl: (req) => (req.url ?? '/').replace(/^\/{2,}/, '/'),
    // A URL the router cannot decode (bad percent-encoding, an over-long id): the surface's envelope.
    frameworkErrors: (error, request, reply) => {
      void sendError(deps, request, reply, error);
    },
    // Requests Node's HTTP parser refuses (headers too large, malformed framing) never reach a route.
    clientErrorHandler: (error, socket) => {
      answerClientError(error, socket, (url, err) => wireErrorFor(deps, { url, id: randomUUID() }, err));
    },
  }) as unknown as FastifyInstance;
  app.server.on('secureConnection', trackRequestLines);
  // WebDAV verbs are routed too, so a known path answers them with its surface's 405 rather than a framework 404.
  for (const verb of ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'REPORT'])
    if (!app.supportedMethods.includes(verb)) app.addHttpMethod(verb, { hasBody: true });
  registerParsers(app);
  app.addHook('onRequest', async (request, reply) => {
    const surface = surfaceOf(request.url);
    if (surface === 'identity') {
      // Entra ID answers with its own request id and echoes the client's `client-request-id`.
      void reply.header('x-ms-request-id', request.id);
      const clientRequestId = request.headers['client-request-id'];
      if (typeof clientRequestId === 'string') void reply.header('client-request-id', clientRequestId);
    }
    if (surface === 'arm') {
      const correlation = request.headers['x-ms-correlation-request-id'];
      void reply.header('x-ms-request-id', request.id);
      void reply.header(
        'x-ms-correlation-request-id',
        typeof correlation === 'string' ? correlation : request.id,
      );
    }
    return Promise.resolve();
  });
  registerObservability(app, deps);
  if (options.responseCheck !== undefined) registerResponseCheck(app, options.responseCheck);
  shedLoad(app, deps);
  app.setErrorHandler((error, request, reply) => sendError(deps, request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendError(
      deps,
      request,
      reply,
      new DomainError(
        'not-implemented',
        'NotImplemented',
        `Lazurite does not implement '${request.method} ${request.url.split('?')[0] ?? ''}'.`,
      ),
    ),
  );
  app.get('/health', () => ({ status: 'ok' }));
  registerIdentityRoutes(app, deps, options.origins);
  registerArmSurface(app, deps, options.origins);
  registerBatchSurface(app, deps, options.origins);
  registerAgentRoutes(app, deps);
  registerPortalRoutes(app, deps);
  return app;
}
