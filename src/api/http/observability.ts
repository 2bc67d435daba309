import type { IncomingHttpHeaders } from 'node:http';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RawRequestDefaultExpression,
} from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
import { DomainError } from '../../domain/errors.ts';
import { constantTimeEqual } from '../../platform/secrets.ts';
import type { ObservabilityDeps } from './context.ts';
import { UNMATCHED_ROUTE } from './metrics.ts';

/**
 * Request-scoped logs and metrics. Every request gets a server-made id (`reqId`, a UUID: Batch returns it as
 * `request-id`, ARM and identity as `x-ms-request-id`); the id a client sent (`client-request-id` as Batch and
 * Entra ID clients send it, `x-ms-client-request-id` as ARM SDKs do) is kept beside it as `clientRequestId`.
 * Both are bound into `request.log`, so every line a request logs carries them, including the one access line
 * (`onResponse`) with method, route pattern, status and latency.
 */

/** The id the client gave this request, if any (at most 256 characters are kept). */
export function clientRequestIdOf(headers: IncomingHttpHeaders): string | undefined {
  const value = headers['client-request-id'] ?? headers['x-ms-client-request-id'];
  const id = Array.isArray(value) ? value[0] : value;
  return id === undefined || id === '' ? undefined : id.slice(0, 256);
}

/** Fastify's childLoggerFactory: the request logger binds `reqId` (Fastify's) and `clientRequestId`. */
export function requestLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
  raw: RawRequestDefaultExpression,
): FastifyBaseLogger {
  const clientRequestId = clientRequestIdOf(raw.headers);
  return logger.child(clientRequestId === undefined ? bindings : { ...bindings, clientRequestId }, options);
}

/** Route patterns set by surfaces that route below one Fastify route (ARM's router behind `/subscriptions/*`). */
const innerRoutes = new WeakMap<FastifyRequest, string>();

/** Records the pattern a surface's own router matched, for the metrics label and the access line. */
export function labelRoute(request: FastifyRequest, pattern: string): void {
  innerRoutes.set(request, pattern);
}

/**
 * The route pattern a request matched (`/batch/:accountName/pools/:poolId`, or the ARM router's
 * `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}`), or `unmatched`.
 */
export function routeOf(request: FastifyRequest): string {
  return innerRoutes.get(request) ?? request.routeOptions.url ?? UNMATCHED_ROUTE;
}

function accessLog(deps: ObservabilityDeps, request: FastifyRequest, reply: FastifyReply): void {
  const route = routeOf(request);
  deps.metrics.observeRequest({
    method: request.method,
    route,
    status: reply.statusCode,
    seconds: reply.elapsedTime / 1000,
  });
  request.log.info(
    {
      method: request.method,
      route,
      url: request.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    },
    'request',
  );
}

/** `/metrics` is open unless LAZURITE_METRICS_TOKEN is set; then it wants `Authorization: Bearer <token>`. */
function checkMetricsToken(deps: ObservabilityDeps, request: FastifyRequest): void {
  const expected = deps.config.metricsToken;
  if (expected === undefined) return;
  const token = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
  if (token === '' || !constantTimeEqual(token, expected))
    throw new DomainError(
      'unauthenticated',
      'InvalidMetricsToken',
      'The metrics endpoint wants Authorization: Bearer <LAZURITE_METRICS_TOKEN>.',
    );
}

/** The access log and request metrics for every response, and the Prometheus scrape endpoint `GET /metrics`. */
export function registerObservability(app: FastifyInstance, deps: ObservabilityDeps): void {
  app.addHook('onResponse', async (request, reply) => {
    accessLog(deps, request, reply);
    return Promise.resolve();
  });
  app.get('/metrics', async (request, reply) => {
    checkMetricsToken(deps, request);
    deps.metrics.setCounts(await deps.batchCounts.counts());
    const text = await deps.metrics.render();
    return reply.type(deps.metrics.contentType).send(text);
  });
}
