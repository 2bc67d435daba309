import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobScheduleRecord } from '../../domain/records.ts';
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
import { jobStats, scheduleStats } from './stats.ts';
import { jobToWire } from './wire-jobs.ts';

const SCHEDULE_FILTER = {
  id: 'string',
  state: 'enum',
  creationTime: 'date',
  lastModified: 'date',
  stateTransitionTime: 'date',
  'executionInfo/nextRunTime': 'date',
  'executionInfo/endTime': 'date',
} as const;

const scheduleId = (request: FastifyRequest): string =>
  (request.params as { jobScheduleId: string }).jobScheduleId;

/** BatchService.json CloudJobSchedule. */
export function scheduleToWire(s: JobScheduleRecord, accountUrl: string) {
  const { nextRunTime, recentJobId, endTime } = s.executionInfo;
  return {
    id: s.id,
    url: `${accountUrl}/jobschedules/${s.id}`,
    eTag: s.etag,
    lastModified: s.lastModified,
    creationTime: s.creationTime,
    state: s.state,
    stateTransitionTime: s.stateTransitionTime,
    ...(s.previousState === null
      ? {}
      : { previousState: s.previousState, previousStateTransitionTime: s.previousStateTransitionTime }),
    ...s.spec,
    executionInfo: {
      ...(nextRunTime === undefined ? {} : { nextRunTime }),
      ...(recentJobId === undefined
        ? {}
        : { recentJob: { id: recentJobId, url: `${accountUrl}/jobs/${recentJobId}` } }),
      ...(endTime === undefined ? {} : { endTime }),
    },
  };
}

/** Job schedules: add, list, get (and exists through HEAD), patch, update, disable, enable, terminate, delete. */
export function registerScheduleRoutes(app: FastifyInstance, deps: BatchDeps): void {
  app.post('/jobschedules', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'JobScheduleAddParameter', request.body);
    const s = await deps.schedules.add(ctx.account.name, callerOf(request), body);
    entityHeaders(reply, s, `${ctx.accountUrl}/jobschedules/${s.id}`);
    return reply.status(201).send();
  });

  app.get('/jobschedules', async (request) => {
    const expand = expandsStats(request);
    const ctx = contextOf(request);
    const all = await deps.schedules.list(ctx.account.name);
    const now = deps.clock.now();
    const entries = [];
    for (const s of all) {
      const stats = expand ? await scheduleStats(deps, ctx.account.name, ctx.accountUrl, s, now) : undefined;
      entries.push({
        key: s.id.toLowerCase(),
        wire: { ...scheduleToWire(s, ctx.accountUrl), ...(stats ? { stats } : {}) },
      });
    }
    const page = listPage(request, ctx, {
      entries,
      metadata: 'jobschedules',
      maxResults: 1000,
      filterSchema: SCHEDULE_FILTER,
    });
    const select = selectOf(request, deps.specs, 'CloudJobSchedule');
    return select ? { ...page, value: page.value.map(select) } : page;
  });

  app.get('/jobschedules/:jobScheduleId', async (request, reply) => {
    const expand = expandsStats(request);
    const ctx = contextOf(request);
    const s = await deps.schedules.get(ctx.account.name, scheduleId(request), conditionsOf(request));
    entityHeaders(reply, s);
    const stats = expand
      ? await scheduleStats(deps, ctx.account.name, ctx.accountUrl, s, deps.clock.now())
      : undefined;
    const wire = {
      'odata.metadata': `${ctx.accountUrl}/$metadata#jobschedules/@Element`,
      ...scheduleToWire(s, ctx.accountUrl),
      ...(stats ? { stats } : {}),
    } as Record<string, unknown>;
    const select = selectOf(request, deps.specs, 'CloudJobSchedule');
    return select ? select(wire) : wire;
  });

  app.get('/jobschedules/:jobScheduleId/jobs', async (request) => {
    const expand = expandsStats(request);
    const ctx = contextOf(request);
    const jobs = await deps.schedules.jobsOf(ctx.account.name, scheduleId(request));
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
      filterSchema: { id: 'string', state: 'enum', creationTime: 'date' },
    });
    const select = selectOf(request, deps.specs, 'CloudJob');
    return select ? { ...page, value: page.value.map(select) } : page;
  });

  registerScheduleWrites(app, deps);
}

function registerScheduleWrites(app: FastifyInstance, deps: BatchDeps): void {
  const done = (reply: FastifyReply, s: JobScheduleRecord, url: string, status: number) => {
    entityHeaders(reply, s, url);
    return reply.status(status).send();
  };
  for (const [method, definition] of [
    ['patch', 'JobSchedulePatchParameter'],
    ['put', 'JobScheduleUpdateParameter'],
  ] as const) {
    app[method]('/jobschedules/:jobScheduleId', async (request, reply) => {
      const ctx = contextOf(request);
      const body = batchBody(deps.specs, definition, request.body);
      const id = scheduleId(request);
      const s = await deps.schedules.update(
        ctx.account.name,
        id,
        body,
        conditionsOf(request),
        method === 'put',
        callerOf(request),
      );
      return done(reply, s, `${ctx.accountUrl}/jobschedules/${s.id}`, 200);
    });
  }
  for (const action of ['disable', 'enable'] as const) {
    app.post(`/jobschedules/:jobScheduleId/${action}`, async (request, reply) => {
      const ctx = contextOf(request);
      const s = await deps.schedules[action](ctx.account.name, scheduleId(request), conditionsOf(request));
      return done(reply, s, `${ctx.accountUrl}/jobschedules/${s.id}`, 204);
    });
  }
  app.post('/jobschedules/:jobScheduleId/terminate', async (request, reply) => {
    const ctx = contextOf(request);
    await deps.schedules.terminate(ctx.account.name, scheduleId(request), conditionsOf(request));
    reply.header('DataServiceId', `${ctx.accountUrl}/jobschedules/${scheduleId(request)}`);
    return reply.status(202).send();
  });
  app.delete('/jobschedules/:jobScheduleId', async (request, reply) => {
    const ctx = contextOf(request);
    await deps.schedules.delete(ctx.account.name, scheduleId(request), conditionsOf(request));
    return reply.status(202).send();
  });
}
