import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import type { BatchAccountRecord } from '../../domain/records.ts';
import type { BatchDeps } from '../http/context.ts';
import { authenticateBatch, type BatchAuth } from './auth.ts';
import { ROOT_COLLECTIONS } from './collections.ts';
import { NEWEST_BATCH_SPEC } from './request.ts';
import { registerAccountRoutes } from './routes-account.ts';
import { registerApplicationRoutes } from './routes-applications.ts';
import { registerJobRoutes } from './routes-jobs.ts';
import { registerScheduleRoutes } from './routes-schedules.ts';
import { registerNodeRoutes } from './routes-nodes.ts';
import { registerPoolRoutes } from './routes-pools.ts';
import { registerTaskRoutes } from './routes-tasks.ts';
import { registerUsageRoutes } from './routes-usage.ts';
import { throttledAuth } from '../http/auth-throttle.ts';

/** SharedKey and Entra ID callers of one account are throttled apart (a bad key is no reason to refuse a token). */
const authScheme = (request: FastifyRequest) =>
  /^\s*Bearer\s/i.test(request.headers.authorization ?? '') ? 'aad' : 'sharedkey';

/**
 * The Batch data-plane versions Lazurite speaks: 2022-10-01.16.0 (the official SDKs on this platform) through
 * the newest; any other is Batch's 400 UnsupportedRequestVersion, not silently served.
 */
export const BATCH_API_VERSIONS = [
  '2022-10-01.16.0',
  '2023-05-01.17.0',
  '2023-11-01.18.0',
  '2024-02-01.19.0',
  '2024-07-01.20.0',
  '2025-06-01',
];

function checkApiVersion(version: string): void {
  if (BATCH_API_VERSIONS.includes(version)) return;
  throw new DomainError(
    'invalid-input',
    'UnsupportedRequestVersion',
    `The specified api-version '${version}' is not supported. Supported versions: ${BATCH_API_VERSIONS.join(', ')}.`,
    { values: { QueryParameterName: 'api-version', QueryParameterValue: version } },
  );
}

/** Batch's answer while a client has used up its failed authentications. */
const BATCH_THROTTLED = {
  code: 'TooManyRequests',
  message: 'Too many failed authentication attempts from this client. Retry after the time in Retry-After.',
};

/** Per-request facts the Batch routes use. */
export interface BatchRequestContext {
  account: BatchAccountRecord;
  auth: BatchAuth;
  /** Base URL of this account, e.g. https://127.0.0.1:8443/batch/lazurite */
  accountUrl: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    batch: BatchRequestContext | null;
  }
}

/** The RBAC action a data-plane call needs: `Microsoft.Batch/batchAccounts/<entity>/<read|write|delete>`. */
export function dataPlaneAction(method: string, pathAfterAccount: string): string {
  const entity = pathAfterAccount.split('/').filter(Boolean)[0]?.toLowerCase() ?? '';
  const family: Record<string, string> = {
    pools: 'pools',
    nodecounts: 'pools',
    poolusagemetrics: 'pools',
    jobs: 'jobs',
    jobschedules: 'jobSchedules',
    certificates: 'certificates',
    applications: 'applications',
  };
  const verb = method === 'GET' || method === 'HEAD' ? 'read' : method === 'DELETE' ? 'delete' : 'write';
  const sub = family[entity];
  return sub === undefined
    ? `Microsoft.Batch/batchAccounts/${verb}`
    : `Microsoft.Batch/batchAccounts/${sub}/${verb}`;
}

async function authorizeAad(
  deps: BatchDeps,
  ctx: BatchRequestContext,
  request: FastifyRequest,
  rest: string,
): Promise<void> {
  if (ctx.auth.scheme !== 'AAD') return;
  const action = dataPlaneAction(request.method, rest);
  const { caller } = ctx.auth;
  const allowed = await deps.batchAccounts.dataPlaneAllowed(caller, ctx.account, action);
  if (!allowed) {
    throw new DomainError(
      'forbidden',
      'InsufficientAccountPermissions',
      `The principal '${caller.objectId}' has no role on Batch account '${ctx.account.name}' that allows '${action}'.`,
      {
        values: { Action: action },
      },
    );
  }
}

type Mount = { kind: 'path' } | { kind: 'root' };

/** Which account a request addresses: the path's `/batch/{account}`, or at the root the SharedKey header's. */
function accountNameFor(
  request: FastifyRequest,
  mount: Mount,
  deps: BatchDeps,
): { name: string; rest: string } {
  const path = request.url.split('?')[0] ?? '';
  if (mount.kind === 'path') {
    const [, , name = '', ...rest] = path.split('/');
    return { name: decodeURIComponent(name), rest: rest.join('/') };
  }
  const shared = /^SharedKey\s+([^:\s]+):/i.exec(request.headers.authorization ?? '');
  return { name: shared?.[1] ?? deps.config.defaultBatchAccount, rest: path.replace(/^\/+/, '') };
}

/** The verbs the Batch REST API uses; any other is 400 InvalidHttpVerb (Batch Status and Error Codes). */
const BATCH_VERBS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'];

/** Paths no Batch route above takes answer 501 NotImplemented (or 400/405, see `unimplementedHandler`). */
function registerUnimplemented(scope: FastifyInstance, deps: BatchDeps, mount: Mount): void {
  const unimplemented = unimplementedHandler(deps, mount);
  if (mount.kind === 'path') {
    scope.all('/*', unimplemented);
    return;
  }
  const served = [
    'supportedimages',
    'nodecounts',
    'poolusagemetrics',
    'pools',
    'jobs',
    'jobschedules',
    'applications',
  ];
  for (const c of ROOT_COLLECTIONS.filter((name) => !served.includes(name))) {
    scope.all(`/${c}`, unimplemented);
    scope.all(`/${c}/*`, unimplemented);
  }
  // Entity paths in OData key form, `/certificates(thumbprintAlgorithm=…,thumbprint=…)`: Batch's envelope, not
  // ARM's, which @azure/batch cannot parse.
  scope.all('/certificates(*', unimplemented);
  for (const c of ['pools', 'jobs', 'jobschedules', 'applications']) scope.all(`/${c}/*`, unimplemented);
}

/**
 * Requests no Batch route takes: 400 InvalidHttpVerb for a verb Batch never uses, 405 UnsupportedHttpVerb for a
 * path BatchService.json serves with other verbs only, else 501 NotImplemented (an operation Lazurite lacks).
 */
function unimplementedHandler(deps: BatchDeps, mount: Mount) {
  return (request: FastifyRequest) => {
    if (!BATCH_VERBS.includes(request.method))
      throw new DomainError(
        'invalid-input',
        'InvalidHttpVerb',
        `The HTTP verb '${request.method}' specified was not recognized by the server.`,
      );
    const { rest } = accountNameFor(request, mount, deps);
    const verbs = deps.specs.operationVerbs(NEWEST_BATCH_SPEC, `/${rest}`);
    if (verbs.length > 0 && !verbs.includes(request.method === 'HEAD' ? 'GET' : request.method))
      throw new DomainError(
        'method-not-allowed',
        'UnsupportedHttpVerb',
        `The resource doesn't support the specified HTTP verb '${request.method}'.`,
      );
    throw new DomainError(
      'not-implemented',
      'NotImplemented',
      `Lazurite does not implement the Batch operation '${request.method} ${request.url.split('?')[0] ?? ''}' yet.`,
    );
  };
}

function batchScope(deps: BatchDeps, origins: () => string[], mount: Mount) {
  return (scope: FastifyInstance, _opts: unknown, done: (err?: Error) => void): void => {
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      void reply.header('request-id', request.id);
      const clientRequestId = request.headers['client-request-id'];
      if (
        typeof clientRequestId === 'string' &&
        String(request.headers['return-client-request-id']).toLowerCase() === 'true'
      ) {
        void reply.header('client-request-id', clientRequestId);
      }
      const { name, rest } = accountNameFor(request, mount, deps);
      const account = await deps.batchAccounts.findByName(name);
      if (!account) {
        throw new DomainError(
          'not-found',
          'AccountNotFound',
          `The Batch account '${name}' does not exist on this server.`,
        );
      }
      if (account.provisioningState === 'Deleting') {
        throw new DomainError(
          'forbidden',
          'AccountIsDisabled',
          `The Batch account '${account.name}' is being deleted and accepts no requests.`,
        );
      }
      const auth = await throttledAuth(
        deps.authThrottle,
        request,
        `batch|${account.name}|${authScheme(request)}`,
        BATCH_THROTTLED,
        () => authenticateBatch(request, account, deps, origins()),
      );
      const base = mount.kind === 'path' ? `/batch/${account.name}` : '';
      const ctx: BatchRequestContext = { account, auth, accountUrl: `${deps.publicOrigin()}${base}` };
      await authorizeAad(deps, ctx, request, rest);
      const query = request.query as Record<string, unknown>;
      if (typeof query['api-version'] !== 'string' || query['api-version'] === '') {
        throw new DomainError(
          'invalid-input',
          'MissingRequiredQueryParameter',
          'A query parameter that is mandatory for this request is not specified.',
          {
            values: { QueryParameterName: 'api-version' },
          },
        );
      }
      checkApiVersion(query['api-version']);
      request.batch = ctx;
    });
    registerAccountRoutes(scope);
    registerPoolRoutes(scope, deps);
    registerNodeRoutes(scope, deps);
    registerJobRoutes(scope, deps);
    registerScheduleRoutes(scope, deps);
    registerTaskRoutes(scope, deps);
    registerUsageRoutes(scope, deps);
    registerApplicationRoutes(scope, deps);
    registerUnimplemented(scope, deps, mount);
    done();
  };
}

/**
 * Mounts the Batch data plane twice:
 * - path-style under `/batch/{account}` — the canonical account URL (`accountEndpoint`), signed as received;
 * - at the root (`/pools`, `/supportedimages`, ...), because `@azure/batch` 10.2.0 drops the operation path
 *   whenever its `batchUrl` carries a path (ms-rest-js `URLBuilder.replaceAll`). There the account is the one
 *   named in the SharedKey header, or, for Entra ID tokens, the configured default account.
 * See docs/adr/0006-batch-account-urls.md.
 */
export function registerBatchSurface(app: FastifyInstance, deps: BatchDeps, origins: () => string[]): void {
  app.decorateRequest('batch', null);
  void app.register(batchScope(deps, origins, { kind: 'path' }), { prefix: '/batch/:accountName' });
  void app.register(batchScope(deps, origins, { kind: 'root' }));
}
