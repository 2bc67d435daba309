import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BatchDeps } from '../http/context.ts';
import { listPage } from './listing.ts';
import {
  batchBody,
  callerOf,
  conditionsOf,
  contextOf,
  entityHeaders,
  expandsStats,
  selectOf,
} from './request.ts';
import { autoScaleRunToWire, nodeCountsToWire, poolToWire, poolStatsToWire } from './wire-pools.ts';

const POOL_FILTER = {
  id: 'string',
  state: 'enum',
  allocationState: 'enum',
  vmSize: 'enum',
  creationTime: 'date',
  lastModified: 'date',
  stateTransitionTime: 'date',
  allocationStateTransitionTime: 'date',
} as const;

const poolId = (request: FastifyRequest): string => (request.params as { poolId: string }).poolId;

/** Pools: add, list, get, exists, patch, updateproperties, resize, stopresize, delete; and /nodecounts. */
export function registerPoolRoutes(app: FastifyInstance, deps: BatchDeps): void {
  app.post('/pools', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'PoolAddParameter', request.body);
    const pool = await deps.pools.add(ctx.account, callerOf(request), body);
    entityHeaders(reply, pool, `${ctx.accountUrl}/pools/${pool.id}`);
    return reply.status(201).send();
  });

  app.get('/pools', async (request) => {
    const ctx = contextOf(request);
    const stats = expandsStats(request);
    const views = await deps.pools.list(ctx.account);
    const now = deps.clock.now();
    const page = listPage(request, ctx, {
      entries: views.map((v) => ({
        key: v.pool.id.toLowerCase(),
        wire: {
          ...poolToWire(v.pool, v.nodes, ctx.accountUrl),
          ...(stats ? { stats: poolStatsToWire(v.pool, v.nodes, ctx.accountUrl, now) } : {}),
        },
      })),
      metadata: 'pools',
      maxResults: 1000,
      filterSchema: POOL_FILTER,
    });
    const select = selectOf(request, deps.specs, 'CloudPool');
    return select ? { ...page, value: page.value.map(select) } : page;
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/pools/:poolId',
    handler: async (request, reply) => {
      const ctx = contextOf(request);
      const stats = expandsStats(request);
      const { pool, nodes } = await deps.pools.get(ctx.account, poolId(request), conditionsOf(request));
      entityHeaders(reply, pool);
      if (request.method === 'HEAD') return reply.status(200).send();
      const wire = {
        'odata.metadata': `${ctx.accountUrl}/$metadata#pools/@Element`,
        ...poolToWire(pool, nodes, ctx.accountUrl),
        ...(stats ? { stats: poolStatsToWire(pool, nodes, ctx.accountUrl, deps.clock.now()) } : {}),
      };
      const select = selectOf(request, deps.specs, 'CloudPool');
      return select ? select(wire) : wire;
    },
  });

  registerPoolActions(app, deps);
  registerNodeCounts(app, deps);
}

/** Pool writes beyond add: patch, updateproperties, resize, stopresize, removenodes, delete. */
function registerPoolActions(app: FastifyInstance, deps: BatchDeps): void {
  app.patch('/pools/:poolId', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'PoolPatchParameter', request.body);
    const pool = await deps.pools.patch(ctx.account, poolId(request), body, conditionsOf(request));
    entityHeaders(reply, pool, `${ctx.accountUrl}/pools/${pool.id}`);
    return reply.status(200).send();
  });

  app.post('/pools/:poolId/updateproperties', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'PoolUpdatePropertiesParameter', request.body);
    const pool = await deps.pools.updateProperties(ctx.account, poolId(request), body, conditionsOf(request));
    entityHeaders(reply, pool, `${ctx.accountUrl}/pools/${pool.id}`);
    return reply.status(204).send();
  });

  app.post('/pools/:poolId/resize', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'PoolResizeParameter', request.body);
    const pool = await deps.pools.resize(ctx.account, poolId(request), body, conditionsOf(request));
    entityHeaders(reply, pool, `${ctx.accountUrl}/pools/${pool.id}`);
    return reply.status(202).send();
  });

  app.post('/pools/:poolId/stopresize', async (request, reply) => {
    const ctx = contextOf(request);
    const pool = await deps.pools.stopResize(ctx.account, poolId(request), conditionsOf(request));
    entityHeaders(reply, pool, `${ctx.accountUrl}/pools/${pool.id}`);
    return reply.status(202).send();
  });

  app.post('/pools/:poolId/removenodes', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'NodeRemoveParameter', request.body);
    const pool = await deps.pools.removeNodes(ctx.account, poolId(request), body, conditionsOf(request));
    entityHeaders(reply, pool, `${ctx.accountUrl}/pools/${pool.id}`);
    return reply.status(202).send();
  });

  registerAutoScale(app, deps);

  app.delete('/pools/:poolId', async (request, reply) => {
    const ctx = contextOf(request);
    await deps.pools.delete(ctx.account, poolId(request), conditionsOf(request));
    return reply.status(202).send();
  });
}

/** enableautoscale, disableautoscale, evaluateautoscale. */
function registerAutoScale(app: FastifyInstance, deps: BatchDeps): void {
  app.post('/pools/:poolId/enableautoscale', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'PoolEnableAutoScaleParameter', request.body);
    const pool = await deps.pools.enableAutoScale(ctx.account, poolId(request), body, conditionsOf(request));
    entityHeaders(reply, pool, `${ctx.accountUrl}/pools/${pool.id}`);
    return reply.status(200).send();
  });

  app.post('/pools/:poolId/disableautoscale', async (request, reply) => {
    const ctx = contextOf(request);
    const pool = await deps.pools.disableAutoScale(ctx.account, poolId(request));
    entityHeaders(reply, pool, `${ctx.accountUrl}/pools/${pool.id}`);
    return reply.status(200).send();
  });

  app.post('/pools/:poolId/evaluateautoscale', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'PoolEvaluateAutoScaleParameter', request.body);
    const run = await deps.pools.evaluateAutoScale(ctx.account, poolId(request), body);
    reply.header('DataServiceId', `${ctx.accountUrl}/pools/${poolId(request)}/evaluateautoscale`);
    return reply.status(200).send(autoScaleRunToWire(run));
  });
}

function registerNodeCounts(app: FastifyInstance, deps: BatchDeps): void {
  app.get('/nodecounts', async (request) => {
    const ctx = contextOf(request);
    const views = await deps.pools.list(ctx.account);
    return listPage(request, ctx, {
      entries: views.map((v) => ({ key: v.pool.id.toLowerCase(), wire: nodeCountsToWire(v.pool, v.nodes) })),
      metadata: 'poolnodecounts',
      maxResults: 10,
      filterSchema: { poolId: 'enum' },
    });
  });
}
