import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import { RESOURCES } from '../../domain/identity/principals.ts';
import { callerFromBearer } from '../http/bearer.ts';
import { labelRoute } from '../http/observability.ts';
import type { ArmDeps } from '../http/context.ts';
import { cloudMetadata } from './metadata.ts';
import { authorizationRoutes } from './routes-authorization.ts';
import { batchAccountRoutes } from './routes-batch.ts';
import { batchPoolRoutes } from './routes-batch-pools.ts';
import { batchApplicationRoutes } from './routes-batch-applications.ts';
import { computeRoutes } from './routes-compute.ts';
import { vmRoutes } from './routes-vms.ts';
import { vmImageRoutes } from './routes-vmimages.ts';
import { networkRoutes } from './routes-network.ts';
import { storageRoutes } from './routes-storage.ts';
import { keyVaultRoutes } from './routes-keyvault.ts';
import { deploymentRoutes, type Dispatch } from './routes-deployments.ts';
import { toArmError } from './errors.ts';
import { resourceRoutes } from './routes-resources.ts';
import { ArmRouter, sendArm } from './router.ts';
import { throttledAuth } from '../http/auth-throttle.ts';
import { checkArmConditions } from './conditions.ts';

/** ARM API versions: a date, optionally `-preview` (or another suffix ARM uses: `-beta`, `-alpha`, `-privatepreview`). */
const API_VERSION = /^\d{4}-\d{2}-\d{2}(-(preview|privatepreview|beta|alpha))?$/i;

/** Every ARM request names an api-version, as ARM requires (MissingApiVersionParameter, InvalidApiVersionParameter). */
function checkApiVersion(version: string | undefined): void {
  if (version === undefined || version === '')
    throw new DomainError(
      'invalid-input',
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
      { target: 'api-version' },
    );
  if (!API_VERSION.test(version))
    throw new DomainError(
      'invalid-input',
      'InvalidApiVersionParameter',
      `The api-version '${version}' is invalid. The supported versions are dates of the form 'yyyy-mm-dd', optionally with '-preview'.`,
      { target: 'api-version' },
    );
}

/** ARM's answer while a client has used up its failed authentications. */
const ARM_THROTTLED = {
  code: 'TooManyRequests',
  message: 'Too many failed authentication attempts from this client. Retry after the time in Retry-After.',
};

const ARM_AUDIENCES = [RESOURCES.management, RESOURCES.managementClassic];

function notImplemented(method: string, path: string): DomainError {
  return new DomainError(
    'not-implemented',
    'NotImplemented',
    `Lazurite does not implement '${method} ${path}'. See the README for the operations it serves.`,
  );
}

/** Mounts the ARM surface: one catch-all per root, dispatched by resource-id pattern. */
export function registerArmSurface(app: FastifyInstance, deps: ArmDeps, origins: () => string[]): void {
  const router = new ArmRouter().add(
    ...resourceRoutes(deps),
    ...authorizationRoutes(deps),
    ...batchAccountRoutes(deps),
    ...batchPoolRoutes(deps),
    ...batchApplicationRoutes(deps),
    ...computeRoutes(deps),
    ...vmRoutes(deps),
    ...vmImageRoutes(),
    ...networkRoutes(deps),
    ...storageRoutes(deps, deps.storageAccounts),
    ...keyVaultRoutes(deps, deps.vaults),
  );
  // Template deployments run each resource through these same routes, as the same caller.
  const deployOne: Dispatch = async (method, path, apiVersion, body, caller) => {
    const found = router.match(method, path);
    if (!found || 'methods' in found) {
      return toArmError(
        new DomainError(
          'invalid-input',
          'NoRegisteredProviderFound',
          `Lazurite cannot deploy '${path}': no such resource type is served.`,
        ),
      );
    }
    try {
      return await found.route.handler({
        params: found.params,
        query: { 'api-version': apiVersion },
        body,
        caller,
        path,
      });
    } catch (err) {
      if (err instanceof DomainError) return toArmError(err);
      throw err;
    }
  };
  router.add(...deploymentRoutes(deps, deployOne));

  app.get('/metadata/endpoints', (req: FastifyRequest<{ Querystring: Record<string, string> }>) =>
    cloudMetadata(deps.publicOrigin(), req.query['api-version']),
  );

  const dispatch = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const path = request.url.split('?')[0] ?? '/';
    const query = request.query as Record<string, string>;
    const found = router.match(request.method, path);
    if (!found) throw notImplemented(request.method, path);
    if ('route' in found) labelRoute(request, found.route.pattern);
    if ('methods' in found) {
      throw new DomainError(
        'method-not-allowed',
        'MethodNotAllowed',
        `The requested resource does not support http method '${request.method}'; it supports ${[...new Set(found.methods)].join(', ')}.`,
      );
    }
    const audiences = [...ARM_AUDIENCES, ...origins().map((o) => `${o}/`)];
    const caller = await throttledAuth(deps.authThrottle, request, 'arm', ARM_THROTTLED, () =>
      callerFromBearer(request.headers.authorization, audiences, deps.signer, origins(), deps.clock.now()),
    );
    checkApiVersion(query['api-version']);
    await checkArmConditions(request, caller, async (reader) => {
      const get = router.match('GET', path);
      if (!get || !('route' in get)) return undefined;
      return get.route.handler({ params: get.params, query, body: undefined, caller: reader, path });
    });
    const res = await found.route.handler({
      params: found.params,
      query,
      body: request.body,
      caller,
      path,
    });
    await sendArm(reply, res);
  };
  for (const root of ['/subscriptions', '/subscriptions/*', '/providers/*', '/tenants']) {
    // Every verb Fastify knows: one a known path does not serve (POST on a resource group, PROPFIND) is 405.
    app.all(root, dispatch);
  }
}
