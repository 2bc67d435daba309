import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BatchDeps } from '../http/context.ts';
import { batchBody, contextOf } from './request.ts';

type UserParams = { poolId: string; nodeId: string; userName?: string };
const params = (request: FastifyRequest): UserParams => request.params as UserParams;

/** Node users (add 201, update 200, delete 200) and remote login settings (ADR 0027). */
export function registerNodeUserRoutes(app: FastifyInstance, deps: BatchDeps): void {
  app.post('/pools/:poolId/nodes/:nodeId/users', async (request, reply) => {
    const ctx = contextOf(request);
    const { poolId, nodeId } = params(request);
    const body = batchBody(deps.specs, 'ComputeNodeUser', request.body);
    await deps.nodeUsers.add(ctx.account, poolId, nodeId, body);
    const name = typeof body.name === 'string' ? body.name : '';
    void reply.header('DataServiceId', `${ctx.accountUrl}/pools/${poolId}/nodes/${nodeId}/users/${name}`);
    return reply.status(201).send();
  });

  app.put('/pools/:poolId/nodes/:nodeId/users/:userName', async (request, reply) => {
    const ctx = contextOf(request);
    const { poolId, nodeId, userName = '' } = params(request);
    const body = batchBody(deps.specs, 'NodeUpdateUserParameter', request.body);
    await deps.nodeUsers.update(ctx.account, poolId, nodeId, userName, body);
    void reply.header('DataServiceId', `${ctx.accountUrl}/pools/${poolId}/nodes/${nodeId}/users/${userName}`);
    return reply.status(200).send();
  });

  app.delete('/pools/:poolId/nodes/:nodeId/users/:userName', async (request, reply) => {
    const ctx = contextOf(request);
    const { poolId, nodeId, userName = '' } = params(request);
    await deps.nodeUsers.delete(ctx.account, poolId, nodeId, userName);
    return reply.status(200).send();
  });

  app.get('/pools/:poolId/nodes/:nodeId/remoteloginsettings', async (request) => {
    const ctx = contextOf(request);
    const { poolId, nodeId } = params(request);
    const gateway = deps.remoteLogin;
    const { pool, node } = await deps.nodeUsers.remoteLoginTarget(ctx.account, poolId, nodeId, (n) => {
      if (gateway === undefined)
        return `Remote login needs nodes of the local backend; this server's nodes are ${deps.nodeBackendKind} and have no shell to log in to.`;
      return gateway.runsHere(n)
        ? undefined
        : 'Remote login reaches only nodes of this server’s own host; the node runs on a remote host agent.';
    });
    if (gateway === undefined) throw new Error('unreachable: no remote login gateway');
    const { address, port } = await gateway.endpoint(pool, node);
    return { remoteLoginIPAddress: address, remoteLoginPort: port };
  });
}
