import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidProperty } from '../../domain/pools/pool-spec.ts';
import { uploadLogsRequest } from '../../domain/pools/service-logs.ts';
import type { BatchDeps } from '../http/context.ts';
import { deleteNodeFile, sendNodeFile } from './files.ts';
import { listPage } from './listing.ts';
import { registerNodeUserRoutes } from './routes-node-users.ts';
import { batchBody, contextOf, selectOf } from './request.ts';
import { nodeFileToWire, nodeToWire } from './wire-pools.ts';

const NODE_FILTER = {
  state: 'enum',
  stateTransitionTime: 'date',
  lastBootTime: 'date',
  allocationTime: 'date',
  isDedicated: 'boolean',
  'startTaskInfo/state': 'enum',
  'startTaskInfo/result': 'enum',
  'startTaskInfo/exitCode': 'number',
  'startTaskInfo/startTime': 'date',
  'startTaskInfo/endTime': 'date',
} as const;

type NodeParams = { poolId: string; nodeId: string; '*'?: string };
const params = (request: FastifyRequest): NodeParams => request.params as NodeParams;

/** Compute nodes: list, get, reboot, reimage; node files: list, get (with ocp-range), HEAD, delete. */
export function registerNodeRoutes(app: FastifyInstance, deps: BatchDeps): void {
  app.get('/pools/:poolId/nodes', async (request) => {
    const ctx = contextOf(request);
    const { pool, nodes, tasks } = await deps.nodes.list(ctx.account, params(request).poolId);
    const page = listPage(request, ctx, {
      entries: nodes.map((n) => ({
        key: n.id.toLowerCase(),
        wire: nodeToWire(n, pool, ctx.accountUrl, deps.nodeBackendKind, tasks),
      })),
      metadata: 'nodes',
      maxResults: 1000,
      filterSchema: NODE_FILTER,
    });
    const select = selectOf(request, deps.specs, 'ComputeNode');
    return select ? { ...page, value: page.value.map(select) } : page;
  });

  app.get('/pools/:poolId/nodes/:nodeId', async (request) => {
    const ctx = contextOf(request);
    const { pool, node, tasks } = await deps.nodes.get(
      ctx.account,
      params(request).poolId,
      params(request).nodeId,
    );
    const wire = {
      'odata.metadata': `${ctx.accountUrl}/$metadata#nodes/@Element`,
      ...nodeToWire(node, pool, ctx.accountUrl, deps.nodeBackendKind, tasks),
    } as Record<string, unknown>;
    const select = selectOf(request, deps.specs, 'ComputeNode');
    return select ? select(wire) : wire;
  });

  for (const action of ['reboot', 'reimage'] as const) {
    app.post(`/pools/:poolId/nodes/:nodeId/${action}`, async (request, reply) => {
      const ctx = contextOf(request);
      batchBody(
        deps.specs,
        action === 'reboot' ? 'NodeRebootParameter' : 'NodeReimageParameter',
        request.body,
        {
          optional: true,
        },
      );
      const { poolId, nodeId } = params(request);
      await deps.nodes[action](ctx.account, poolId, nodeId);
      void reply.header('DataServiceId', `${ctx.accountUrl}/pools/${poolId}/nodes/${nodeId}`);
      return reply.status(202).send();
    });
  }

  registerNodeScheduling(app, deps);
  registerNodeFiles(app, deps);
  registerNodeUserRoutes(app, deps);
  registerServiceLogUpload(app, deps);
}

/**
 * ComputeNode_UploadBatchServiceLogs (ADR 0031): the node's service log files that hold lines of the window go to
 * the container under `<pool>/<node>/<unique id>/`, before the answer; a container that refuses them is a 400
 * naming containerUrl.
 */
function registerServiceLogUpload(app: FastifyInstance, deps: BatchDeps): void {
  app.post('/pools/:poolId/nodes/:nodeId/uploadbatchservicelogs', async (request) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'UploadBatchServiceLogsConfiguration', request.body);
    const upload = uploadLogsRequest(body, deps.clock.now());
    const { node } = await deps.nodes.get(ctx.account, params(request).poolId, params(request).nodeId);
    const key = { accountName: ctx.account.name, poolId: node.poolId, nodeId: node.id };
    try {
      return await deps.serviceLogs.upload(key, upload.containerUrl, upload);
    } catch (err) {
      // The storage error's status or code only: its message may carry the URL, SAS included.
      const { statusCode, code } = err as { statusCode?: unknown; code?: unknown };
      const why =
        typeof statusCode === 'number'
          ? `the storage service answered ${String(statusCode)}`
          : `it could not be reached (${typeof code === 'string' ? code : 'no answer'})`;
      throw invalidProperty('containerUrl', `The log files could not be written to the container: ${why}.`);
    }
  });
}

/** A node's files: list, get (with ocp-range), HEAD, delete. */
function registerNodeFiles(app: FastifyInstance, deps: BatchDeps): void {
  app.get('/pools/:poolId/nodes/:nodeId/files', async (request) => {
    const ctx = contextOf(request);
    const { poolId, nodeId } = params(request);
    const recursive = String((request.query as Record<string, unknown>).recursive).toLowerCase() === 'true';
    const { files } = await deps.nodes.listFiles(ctx.account, poolId, nodeId, '', recursive);
    const nodeUrl = `${ctx.accountUrl}/pools/${poolId}/nodes/${nodeId}`;
    return listPage(request, ctx, {
      entries: files.map((f) => ({ key: f.name, wire: nodeFileToWire(f, nodeUrl) })),
      metadata: 'files',
      maxResults: 1000,
      filterSchema: { name: 'string' },
    });
  });

  const file = (request: FastifyRequest, reply: FastifyReply, withBody: boolean) => {
    const ctx = contextOf(request);
    const { poolId, nodeId } = params(request);
    const path = decodeURIComponent(params(request)['*'] ?? '');
    return sendNodeFile(deps, request, reply, withBody, {
      poolId,
      nodeId,
      path,
      url: `${ctx.accountUrl}/pools/${poolId}/nodes/${nodeId}/files/${path}`,
    });
  };
  app.route({
    method: ['GET', 'HEAD'],
    url: '/pools/:poolId/nodes/:nodeId/files/*',
    handler: (request, reply) => file(request, reply, request.method === 'GET'),
  });
  app.delete('/pools/:poolId/nodes/:nodeId/files/*', (request, reply) => {
    const { poolId, nodeId } = params(request);
    const path = decodeURIComponent(params(request)['*'] ?? '');
    return deleteNodeFile(deps, request, reply, { poolId, nodeId, path });
  });
}

/** disablescheduling (requeue, terminate or taskcompletion) and enablescheduling. */
function registerNodeScheduling(app: FastifyInstance, deps: BatchDeps): void {
  app.post('/pools/:poolId/nodes/:nodeId/disablescheduling', async (request, reply) => {
    const ctx = contextOf(request);
    const body = batchBody(deps.specs, 'NodeDisableSchedulingParameter', request.body, { optional: true });
    const { poolId, nodeId } = params(request);
    const option =
      typeof body.nodeDisableSchedulingOption === 'string' ? body.nodeDisableSchedulingOption : 'requeue';
    await deps.nodes.disableScheduling(ctx.account, poolId, nodeId, option);
    void reply.header('DataServiceId', `${ctx.accountUrl}/pools/${poolId}/nodes/${nodeId}`);
    return reply.status(200).send();
  });

  app.post('/pools/:poolId/nodes/:nodeId/enablescheduling', async (request, reply) => {
    const ctx = contextOf(request);
    const { poolId, nodeId } = params(request);
    await deps.nodes.enableScheduling(ctx.account, poolId, nodeId);
    void reply.header('DataServiceId', `${ctx.accountUrl}/pools/${poolId}/nodes/${nodeId}`);
    return reply.status(200).send();
  });
}
