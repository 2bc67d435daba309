import type { FastifyInstance } from 'fastify';
import type { BatchDeps } from '../http/context.ts';
import { listPage } from './listing.ts';
import { contextOf } from './request.ts';

/**
 * Application_List and Application_Get (ADR 0040): the account's applications with their active packages only, as
 * Batch lists what nodes can use; an application with no active package is 404 ApplicationNotFound.
 */
export function registerApplicationRoutes(app: FastifyInstance, deps: BatchDeps): void {
  app.get('/applications', async (request) => {
    const ctx = contextOf(request);
    const summaries = await deps.applications.summaries(ctx.account);
    return listPage(request, ctx, {
      entries: summaries.map((s) => ({ key: s.id.toLowerCase(), wire: { ...s } })),
      metadata: 'applications',
      maxResults: 1000,
      filterSchema: {},
    });
  });
  app.get('/applications/:applicationId', async (request) => {
    const ctx = contextOf(request);
    const { applicationId } = request.params as { applicationId: string };
    const s = await deps.applications.summary(ctx.account, applicationId);
    return { 'odata.metadata': `${ctx.accountUrl}/$metadata#applications/@Element`, ...s };
  });
}
