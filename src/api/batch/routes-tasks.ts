import type { FastifyInstance, FastifyRequest } from 'fastify';
import { taskDirOf } from '../../domain/jobs/dispatch.ts';
import { checkTaskFilesKept } from '../../domain/jobs/task-files-cleanup.ts';
import { DomainError } from '../../domain/errors.ts';
import type { BatchDeps } from '../http/context.ts';
import { toBatchError } from './errors.ts';
import { listPage, listPageFrom } from './listing.ts';
import { batchBody, conditionsOf, contextOf, entityHeaders, selectOf, expandsStats } from './request.ts';
import { taskStats } from './stats.ts';
import { deleteNodeFile, sendNodeFile } from './files.ts';
import { subtaskToWire, taskFileToWire, taskToWire } from './wire-jobs.ts';

const TASK_FILTER = {
  id: 'string',
  state: 'enum',
  creationTime: 'date',
  lastModified: 'date',
  stateTransitionTime: 'date',
  'executionInfo/exitCode': 'number',
  'executionInfo/result': 'enum',
  'executionInfo/retryCount': 'number',
  'executionInfo/requeueCount': 'number',
  'executionInfo/startTime': 'date',
  'executionInfo/endTime': 'date',
  'nodeInfo/nodeId': 'enum',
} as const;

type TaskParams = { jobId: string; taskId: string; '*'?: string };
const params = (request: FastifyRequest): TaskParams => request.params as TaskParams;

/** The largest addtaskcollection body Batch takes (its documented 1 MB). */
const TASK_COLLECTION_BYTES = 1024 * 1024;

/** Tasks: add, addtaskcollection, list, get, update, delete, terminate, reactivate; task files. */
export function registerTaskRoutes(app: FastifyInstance, deps: BatchDeps): void {
  app.post('/jobs/:jobId/tasks', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'TaskAddParameter', request.body);
    const task = await deps.tasks.add(ctx.account.name, params(request).jobId, body);
    entityHeaders(reply, task, `${ctx.accountUrl}/jobs/${task.jobId}/tasks/${task.id}`);
    return reply.status(201).send();
  });

  // Batch limits a task collection to 100 tasks and 1 MB: a larger body is 413 RequestBodyTooLarge.
  app.post('/jobs/:jobId/addtaskcollection', { bodyLimit: TASK_COLLECTION_BYTES }, async (request) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'TaskAddCollectionParameter', request.body);
    const list = (body.value as Record<string, unknown>[] | undefined) ?? [];
    const results = await deps.tasks.addCollection(ctx.account.name, params(request).jobId, list);
    const now = deps.clock.now();
    return {
      value: results.map((r) =>
        r.status === 'success'
          ? {
              status: 'success',
              taskId: r.task.id,
              eTag: r.task.etag,
              lastModified: r.task.lastModified,
              location: `${ctx.accountUrl}/jobs/${r.task.jobId}/tasks/${r.task.id}`,
            }
          : {
              status: 'clienterror',
              taskId: r.taskId,
              error: stripMetadata(
                toBatchError(r.error, request.id, now, ctx.accountUrl).body as Record<string, unknown>,
              ),
            },
      ),
    };
  });

  app.get('/jobs/:jobId/tasks', async (request) => {
    const expand = expandsStats(request);
    const ctx = contextOf(request);
    const jobId = params(request).jobId;
    const now = deps.clock.now();
    const page = await listPageFrom(request, ctx, {
      fetch: async (after, limit) =>
        (await deps.tasks.list(ctx.account.name, jobId, { afterId: after, limit })).map((t) => ({
          key: t.id.toLowerCase(),
          wire: {
            ...taskToWire(t, ctx.accountUrl),
            ...(expand ? { stats: taskStats(t, ctx.accountUrl, now) } : {}),
          },
        })),
      metadata: 'tasks',
      maxResults: 1000,
      filterSchema: TASK_FILTER,
    });
    const select = selectOf(request, deps.specs, 'CloudTask');
    return select ? { ...page, value: page.value.map(select) } : page;
  });

  app.get('/jobs/:jobId/tasks/:taskId', async (request, reply) => {
    const expand = expandsStats(request);
    const ctx = contextOf(request);
    const { jobId, taskId } = params(request);
    const task = await deps.tasks.get(ctx.account.name, jobId, taskId, conditionsOf(request));
    entityHeaders(reply, task);
    const wire = {
      'odata.metadata': `${ctx.accountUrl}/$metadata#tasks/@Element`,
      ...taskToWire(task, ctx.accountUrl),
      ...(expand ? { stats: taskStats(task, ctx.accountUrl, deps.clock.now()) } : {}),
    } as Record<string, unknown>;
    const select = selectOf(request, deps.specs, 'CloudTask');
    return select ? select(wire) : wire;
  });

  registerSubtasks(app, deps);
  registerTaskActions(app, deps);
  registerTaskFiles(app, deps);
}

/** Task_ListSubtasks: a multi-instance task's subtasks (ADR 0038); an ordinary task has none. */
function registerSubtasks(app: FastifyInstance, deps: BatchDeps): void {
  app.get('/jobs/:jobId/tasks/:taskId/subtasksinfo', async (request) => {
    const ctx = contextOf(request);
    const { jobId, taskId } = params(request);
    const subtasks = await deps.tasks.subtasks(ctx.account.name, jobId, taskId);
    const select = selectOf(request, deps.specs, 'SubtaskInformation');
    const value = subtasks.map((s) => subtaskToWire(s, ctx.accountUrl));
    return {
      'odata.metadata': `${ctx.accountUrl}/$metadata#subtaskinfo`,
      value: select ? value.map(select) : value,
    };
  });
}

const stripMetadata = (body: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(body).filter(([k]) => k !== 'odata.metadata'));

function registerTaskActions(app: FastifyInstance, deps: BatchDeps): void {
  app.put('/jobs/:jobId/tasks/:taskId', async (request, reply) => {
    const ctx = contextOf(request);
    const { jobId, taskId } = params(request);
    const body = batchBody(deps.specs, 'TaskUpdateParameter', request.body, { optional: true });
    const task = await deps.tasks.update(ctx.account.name, jobId, taskId, body, conditionsOf(request));
    entityHeaders(reply, task, `${ctx.accountUrl}/jobs/${jobId}/tasks/${task.id}`);
    return reply.status(200).send();
  });
  app.delete('/jobs/:jobId/tasks/:taskId', async (request, reply) => {
    const ctx = contextOf(request);
    const { jobId, taskId } = params(request);
    await deps.tasks.delete(ctx.account.name, jobId, taskId, conditionsOf(request));
    return reply.status(200).send();
  });
  for (const action of ['terminate', 'reactivate'] as const) {
    app.post(`/jobs/:jobId/tasks/:taskId/${action}`, async (request, reply) => {
      const ctx = contextOf(request);
      const { jobId, taskId } = params(request);
      const task = await deps.tasks[action](ctx.account.name, jobId, taskId, conditionsOf(request));
      entityHeaders(reply, task, `${ctx.accountUrl}/jobs/${jobId}/tasks/${task.id}`);
      return reply.status(204).send();
    });
  }
}

/** A task's files are its node's files under `workitems/<job>/job-1/<task>`. */
function registerTaskFiles(app: FastifyInstance, deps: BatchDeps): void {
  app.get('/jobs/:jobId/tasks/:taskId/files', async (request) => {
    const ctx = contextOf(request);
    const { jobId, taskId } = params(request);
    const task = await deps.tasks.get(ctx.account.name, jobId, taskId);
    checkTaskFilesKept(task);
    const recursive = String((request.query as Record<string, unknown>).recursive).toLowerCase() === 'true';
    const dir = taskDirOf(task.jobId, task.id);
    const taskUrl = `${ctx.accountUrl}/jobs/${task.jobId}/tasks/${task.id}`;
    const files = task.nodeInfo
      ? (await deps.nodes.listFiles(ctx.account, task.nodeInfo.poolId, task.nodeInfo.nodeId, dir, recursive))
          .files
      : [];
    return listPage(request, ctx, {
      entries: files.map((f) => {
        const wire = taskFileToWire(f, dir, taskUrl);
        return { key: wire.name, wire };
      }),
      metadata: 'files',
      maxResults: 1000,
      filterSchema: { name: 'string' },
    });
  });

  /** The task's node and the path there of a file the route names (FileNotFound when the task never ran). */
  const target = async (request: FastifyRequest) => {
    const ctx = contextOf(request);
    const { jobId, taskId } = params(request);
    const path = decodeURIComponent(params(request)['*'] ?? '');
    const task = await deps.tasks.get(ctx.account.name, jobId, taskId);
    checkTaskFilesKept(task);
    const node = task.nodeInfo;
    if (!node || path.split('/').every((p) => p === '' || p === '.'))
      throw new DomainError('not-found', 'FileNotFound', 'The specified file does not exist.', {
        values: { FilePath: path },
      });
    return {
      poolId: node.poolId,
      nodeId: node.nodeId,
      path: `${taskDirOf(task.jobId, task.id)}/${path}`,
      url: `${ctx.accountUrl}/jobs/${task.jobId}/tasks/${task.id}/files/${path}`,
    };
  };
  app.route({
    method: ['GET', 'HEAD'],
    url: '/jobs/:jobId/tasks/:taskId/files/*',
    handler: async (request, reply) =>
      sendNodeFile(deps, request, reply, request.method === 'GET', await target(request)),
  });
  app.delete('/jobs/:jobId/tasks/:taskId/files/*', async (request, reply) =>
    deleteNodeFile(deps, request, reply, await target(request)),
  );
}
