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
import { jobStats } from './stats.ts';
import { jobToWire, prepStatusToWire, taskCountsToWire } from './wire-jobs.ts';

const JOB_FILTER = {
  id: 'string',
  state: 'enum',
  priority: 'number',
  creationTime: 'date',
  lastModified: 'date',
  stateTransitionTime: 'date',
  'executionInfo/startTime': 'date',
  'executionInfo/endTime': 'date',
  'executionInfo/poolId': 'enum',
  'poolInfo/poolId': 'enum',
} as const;

const jobId = (request: FastifyRequest): string => (request.params as { jobId: string }).jobId;

/** Jobs: add, list, get, patch, update, disable, enable, terminate, delete, taskcounts. */
export function registerJobRoutes(app: FastifyInstance, deps: BatchDeps): void {
  app.post('/jobs', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'JobAddParameter', request.body);
    const job = await deps.jobs.add(ctx.account, callerOf(request), body);
    entityHeaders(reply, job, `${ctx.accountUrl}/jobs/${job.id}`);
    return reply.status(201).send();
  });

  app.get('/jobs', async (request) => {
    const ctx = contextOf(request);
    const expand = expandsStats(request);
    const jobs = await deps.jobs.list(ctx.account.name);
    const stats = expand
      ? await jobStats(deps, ctx.account.name, ctx.accountUrl, jobs, deps.clock.now())
      : undefined;
    const page = listPage(request, ctx, {
      entries: jobs.map((j) => {
        const s = stats?.get(j.id.toLowerCase());
        return {
          key: j.id.toLowerCase(),
          wire: { ...jobToWire(j, ctx.accountUrl), ...(s ? { stats: s } : {}) },
        };
      }),
      metadata: 'jobs',
      maxResults: 1000,
      filterSchema: JOB_FILTER,
    });
    const select = selectOf(request, deps.specs, 'CloudJob');
    return select ? { ...page, value: page.value.map(select) } : page;
  });

  app.get('/jobs/:jobId', async (request, reply) => {
    const ctx = contextOf(request);
    const expand = expandsStats(request);
    const job = await deps.jobs.get(ctx.account.name, jobId(request), conditionsOf(request));
    entityHeaders(reply, job);
    const stats = expand
      ? (await jobStats(deps, ctx.account.name, ctx.accountUrl, [job], deps.clock.now())).get(
          job.id.toLowerCase(),
        )
      : undefined;
    const wire = {
      'odata.metadata': `${ctx.accountUrl}/$metadata#jobs/@Element`,
      ...jobToWire(job, ctx.accountUrl),
      ...(stats ? { stats } : {}),
    } as Record<string, unknown>;
    const select = selectOf(request, deps.specs, 'CloudJob');
    return select ? select(wire) : wire;
  });

  for (const [method, definition] of [
    ['patch', 'JobPatchParameter'],
    ['put', 'JobUpdateParameter'],
  ] as const) {
    app[method]('/jobs/:jobId', async (request, reply) => {
      const ctx = contextOf(request);
      const body = batchBody(deps.specs, definition, request.body);
      const job = await deps.jobs.update(
        ctx.account.name,
        jobId(request),
        body,
        conditionsOf(request),
        method === 'put',
      );
      entityHeaders(reply, job, `${ctx.accountUrl}/jobs/${job.id}`);
      return reply.status(200).send();
    });
  }

  registerJobActions(app, deps);
}

function registerJobActions(app: FastifyInstance, deps: BatchDeps): void {
  const accepted =
    (url: string) =>
    (reply: {
      header: (k: string, v: string) => unknown;
      status: (n: number) => { send: () => unknown };
    }) => {
      reply.header('DataServiceId', url);
      return reply.status(202).send();
    };
  app.post('/jobs/:jobId/disable', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'JobDisableParameter', request.body);
    await deps.jobs.disable(
      ctx.account.name,
      jobId(request),
      String(body.disableTasks),
      conditionsOf(request),
    );
    return accepted(`${ctx.accountUrl}/jobs/${jobId(request)}`)(reply);
  });
  app.post('/jobs/:jobId/enable', async (request, reply) => {
    const ctx = contextOf(request);
    await deps.jobs.enable(ctx.account.name, jobId(request), conditionsOf(request));
    return accepted(`${ctx.accountUrl}/jobs/${jobId(request)}`)(reply);
  });
  app.post('/jobs/:jobId/terminate', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'JobTerminateParameter', request.body, { optional: true });
    const reason = typeof body.terminateReason === 'string' ? body.terminateReason : undefined;
    await deps.jobs.terminate(ctx.account.name, jobId(request), reason, conditionsOf(request));
    return accepted(`${ctx.accountUrl}/jobs/${jobId(request)}`)(reply);
  });
  app.delete('/jobs/:jobId', async (request, reply) => {
    const ctx = contextOf(request);
    await deps.jobs.delete(ctx.account.name, jobId(request), conditionsOf(request));
    return reply.status(202).send();
  });
  app.get('/jobs/:jobId/jobpreparationandreleasetaskstatus', async (request) => {
    const ctx = contextOf(request);
    const rows = await deps.jobs.prepStatus(ctx.account.name, jobId(request));
    return listPage(request, ctx, {
      entries: rows.map((r) => ({
        key: r.node.id.toLowerCase(),
        wire: prepStatusToWire(r.node, r.prep, ctx.accountUrl),
      })),
      metadata: 'jobpreparationandreleasetaskstatus',
      maxResults: 1000,
      filterSchema: { nodeId: 'string' },
    });
  });
  app.get('/jobs/:jobId/taskcounts', async (request) => {
    const ctx = contextOf(request);
    return taskCountsToWire(await deps.jobs.taskCounts(ctx.account.name, jobId(request)));
  });
}
