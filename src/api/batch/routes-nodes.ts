import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NodeFileInfo, NodeFileRange } from '../../backends/port.ts';
import { DomainError } from '../../domain/errors.ts';
import type { ApiDeps } from '../http/context.ts';
import { listPage } from './listing.ts';
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

/** `ocp-range: bytes=a-b` (also `Range`), as Batch accepts for file downloads. */
function rangeOf(request: FastifyRequest): NodeFileRange | undefined {
  const raw = request.headers['ocp-range'] ?? request.headers.range;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value === '') return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(value.trim());
  if (!m) {
    throw new DomainError(
      'invalid-input',
      'InvalidHeaderValue',
      'The value for one of the HTTP headers is not in the correct format.',
      {
        values: { HeaderName: 'ocp-range', HeaderValue: value },
      },
    );
  }
  return { start: Number(m[1]), ...(m[2] === '' ? {} : { end: Number(m[2]) }) };
}

function fileHeaders(reply: FastifyReply, info: NodeFileInfo, url: string, length: number): void {
  void reply.header('ocp-creation-time', info.creationTime.toUTCString());
  void reply.header('ocp-batch-file-isdirectory', String(info.isDirectory));
  void reply.header('ocp-batch-file-url', url);
  void reply.header('ocp-batch-file-mode', info.fileMode);
  void reply.header('Content-Type', 'application/octet-stream');
  void reply.header('Content-Length', String(length));
  void reply.header('Last-Modified', info.lastModified.toUTCString());
  void reply.header('ETag', `0x${info.lastModified.getTime().toString(16).toUpperCase()}`);
}

/**
 * GET (with `ocp-range`) or HEAD of a file on a node, answered with Batch's file headers; `url` is the file's
 * URL as the client addressed it (node or task file API).
 */
export async function sendNodeFile(
  deps: ApiDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  withBody: boolean,
  file: { poolId: string; nodeId: string; path: string; url: string },
) {
  const ctx = contextOf(request);
  const range = withBody ? rangeOf(request) : undefined;
  const { content, info } = await deps.nodes.readFile(
    ctx.account,
    file.poolId,
    file.nodeId,
    file.path,
    range,
  );
  fileHeaders(reply, info, file.url, withBody ? content.length : info.size);
  return reply.status(200).send(withBody ? content : undefined);
}

/** Compute nodes: list, get, reboot, reimage; node files: list, get (with ocp-range), HEAD. */
export function registerNodeRoutes(app: FastifyInstance, deps: ApiDeps): void {
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
}

/** disablescheduling (requeue, terminate or taskcompletion) and enablescheduling. */
function registerNodeScheduling(app: FastifyInstance, deps: ApiDeps): void {
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
