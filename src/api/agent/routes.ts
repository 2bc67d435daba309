import type { FastifyInstance } from 'fastify';
import type { SyncRequest } from '../../backends/agent-protocol.ts';
import { DomainError } from '../../domain/errors.ts';
import { constantTimeEqual } from '../../platform/secrets.ts';
import type { ApiDeps } from '../http/context.ts';

/**
 * The host agent endpoint: `POST /agent/v1/sync` with `Authorization: Bearer <agent token>` (the data dir's
 * `agent-token`, compared in constant time). Body and answer are the SyncRequest/SyncResponse of
 * src/backends/agent-protocol.ts.
 */
export function registerAgentRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post('/agent/v1/sync', async (request) => {
    const header = request.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? '';
    if (token === '' || !constantTimeEqual(token, deps.agentToken))
      throw new DomainError('unauthenticated', 'InvalidAgentToken', 'The agent token is missing or wrong.');
    const body = request.body as Partial<SyncRequest> | undefined;
    if (typeof body?.hostId !== 'string' || body.hostId === '' || !Array.isArray(body.reports))
      throw new DomainError('invalid-input', 'InvalidRequestContent', 'A sync needs hostId and reports[].', {
        target: typeof body?.hostId === 'string' ? 'reports' : 'hostId',
      });
    return deps.agents.sync({
      hostId: body.hostId,
      kind: typeof body.kind === 'string' ? body.kind : 'unknown',
      reports: body.reports,
    });
  });
}
