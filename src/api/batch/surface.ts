import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import type { BatchAccountRecord } from '../../storage/records.ts';
import type { ApiDeps } from '../http/context.ts';
import { authenticateBatch, type BatchAuth } from './auth.ts';
import { registerAccountRoutes } from './routes-account.ts';

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
  return sub === undefined ? `Microsoft.Batch/batchAccounts/${verb}` : `Microsoft.Batch/batchAccounts/${sub}/${verb}`;
}

async function authorizeAad(deps: ApiDeps, ctx: BatchRequestContext, request: FastifyRequest, rest: string): Promise<void> {
  if (ctx.auth.scheme !== 'AAD') return;
  const action = dataPlaneAction(request.method, rest);
  const { caller } = ctx.auth;
  const allowed = await deps.batchAccounts.dataPlaneAllowed(caller, ctx.account, action);
  if (!allowed) {
    throw new DomainError('forbidden', 'InsufficientAccountPermissions', `The principal '${caller.objectId}' has no role on Batch account '${ctx.account.name}' that allows '${action}'.`, {
      values: { Action: action },
    });
  }
}

/** Mounts the Batch data plane under /batch/{account}; clients sign this path, so it is part of every URL. */
export function registerBatchSurface(app: FastifyInstance, deps: ApiDeps, origins: () => string[]): void {
  app.decorateRequest('batch', null);
  void app.register(
    (scope, _opts, done) => {
      scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        const requestId = request.id;
        void reply.header('request-id', requestId);
        const clientRequestId = request.headers['client-request-id'];
        if (typeof clientRequestId === 'string' && String(request.headers['return-client-request-id']).toLowerCase() === 'true') {
          void reply.header('client-request-id', clientRequestId);
        }
        const [, , name = '', ...rest] = (request.url.split('?')[0] ?? '').split('/');
        const account = await deps.batchAccounts.findByName(decodeURIComponent(name));
        if (!account) {
          throw new DomainError('not-found', 'AccountNotFound', `The Batch account '${name}' does not exist on this server.`);
        }
        const auth = await authenticateBatch(request, account, deps, origins());
        const ctx: BatchRequestContext = { account, auth, accountUrl: `${deps.publicOrigin()}/batch/${account.name}` };
        await authorizeAad(deps, ctx, request, rest.join('/'));
        const query = request.query as Record<string, unknown>;
        if (typeof query['api-version'] !== 'string' || query['api-version'] === '') {
          throw new DomainError('invalid-input', 'MissingRequiredQueryParameter', 'A query parameter that is mandatory for this request is not specified.', {
            values: { QueryParameterName: 'api-version' },
          });
        }
        request.batch = ctx;
      });
      registerAccountRoutes(scope, deps);
      scope.all('/*', (request) => {
        throw new DomainError('not-implemented', 'NotImplemented', `Lazurite does not implement the Batch operation '${request.method} ${request.url.split('?')[0] ?? ''}' yet.`);
      });
      done();
    },
    { prefix: '/batch/:accountName' },
  );
}
