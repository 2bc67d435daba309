import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isDigest } from '../../content/blob-store.ts';
import { PullGate } from './pull-gate.ts';
import { FILE_BODY_TYPE, FILE_INFO_HEADER, type SyncRequest } from '../../protocol/agent-protocol.ts';
import type { NodeFileInfo } from '../../protocol/agent-protocol.ts';
import { DomainError } from '../../domain/errors.ts';
import { constantTimeEqual } from '../../platform/secrets.ts';
import type { AgentDeps } from '../http/context.ts';

/**
 * The host agent endpoint: `POST /agent/v1/sync` with `Authorization: Bearer <agent token>` (the data dir's
 * `agent-token`, compared in constant time). Body and answer are the SyncRequest/SyncResponse of
 * src/backends/agent-protocol.ts.
 */
function requireAgentToken(request: FastifyRequest, deps: AgentDeps): void {
  const header = request.headers.authorization ?? '';
  const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? '';
  if (token === '' || !constantTimeEqual(token, deps.agentToken))
    throw new DomainError('unauthenticated', 'InvalidAgentToken', 'The agent token is missing or wrong.');
}

export function registerAgentRoutes(app: FastifyInstance, deps: AgentDeps): void {
  const pulls = new PullGate(deps.config.replicaCapacity);
  app.post('/agent/v1/sync', async (request) => {
    requireAgentToken(request, deps);
    const body = request.body as Partial<SyncRequest> | undefined;
    if (typeof body?.hostId !== 'string' || body.hostId === '' || !Array.isArray(body.reports))
      throw new DomainError('invalid-input', 'InvalidRequestContent', 'A sync needs hostId and reports[].', {
        target: typeof body?.hostId === 'string' ? 'reports' : 'hostId',
      });
    const nodeIds = Array.isArray(body.nodeIds)
      ? body.nodeIds.filter((id): id is string => typeof id === 'string')
      : undefined;
    const answer = await deps.agents.sync({
      hostId: body.hostId,
      kind: typeof body.kind === 'string' ? body.kind : 'unknown',
      reports: body.reports,
      ...(Array.isArray(body.taskReports) ? { taskReports: body.taskReports } : {}),
      ...(nodeIds === undefined ? {} : { nodeIds }),
    });
    const fileRequests = deps.remoteFiles.take(body.hostId, nodeIds);
    return fileRequests.length === 0 ? answer : { ...answer, fileRequests };
  });

  /**
   * One content-addressed blob of a region's store (a manifest, layer or chunk), for a host agent that pulls an
   * image into its own cache (ADR 0030); the agent checks it against its digest.
   */
  app.get<{ Params: { region: string; digest: string } }>(
    '/agent/v1/blobs/:region/:digest',
    async (request, reply) => {
      requireAgentToken(request, deps);
      const { region, digest } = request.params;
      const stores = deps.contentStores;
      if (stores === undefined || !stores.has(region) || !isDigest(digest))
        throw new DomainError('not-found', 'BlobNotFound', `No blob '${digest}' in region '${region}'.`);
      const path = (await stores.get(region)).path(digest);
      const size = await stat(path).then(
        (s) => s.size,
        () => undefined,
      );
      if (size === undefined)
        throw new DomainError('not-found', 'BlobNotFound', `No blob '${digest}' in region '${region}'.`);
      const release = pulls.enter(region);
      if (release === undefined)
        return reply
          .code(503)
          .header('retry-after', '1')
          .send({
            code: 'ServerBusy',
            message: `Region '${region}' serves its most downloads at once; retry.`,
          });
      reply.raw.once('close', release);
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-length', String(size))
        .send(createReadStream(path));
    },
  );

  /** A remote agent's answer to a file request its sync answer carried. */
  app.post<{ Params: { id: string } }>('/agent/v1/files/:id', (request) => {
    requireAgentToken(request, deps);
    const body: unknown = request.body;
    if (typeof body !== 'object' || body === null)
      throw new DomainError('invalid-input', 'InvalidRequestContent', 'A file result is a JSON object.');
    if (!deps.remoteFiles.complete(request.params.id, body)) throw noSuchRequest();
    return {};
  });

  registerFileBodies(app, deps);
}

const noSuchRequest = () =>
  new DomainError('not-found', 'FileRequestNotFound', 'No file request is waiting with this id.');

/**
 * A remote agent's answer to a read: the file's info in a header and its bytes as the request body, handed on
 * as a stream to the API call waiting for them; the agent's request stays open until the client has them all.
 */
function registerFileBodies(app: FastifyInstance, deps: AgentDeps): void {
  app.addContentTypeParser(FILE_BODY_TYPE, (_request, payload, done) => {
    done(null, payload);
  });
  app.post<{ Params: { id: string } }>('/agent/v1/files/:id/body', async (request) => {
    requireAgentToken(request, deps);
    const header = request.headers[FILE_INFO_HEADER];
    const body = request.body as Readable | undefined;
    if (typeof header !== 'string' || request.headers['content-type'] !== FILE_BODY_TYPE || !body)
      throw new DomainError('invalid-input', 'InvalidRequestContent', 'A file body needs its info header.');
    let info: NodeFileInfo;
    try {
      info = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as NodeFileInfo;
    } catch {
      throw new DomainError('invalid-input', 'InvalidRequestContent', 'The file info header is not JSON.');
    }
    const done = finished(body).catch(() => undefined);
    if (!deps.remoteFiles.complete(request.params.id, { info }, body)) {
      body.resume();
      throw noSuchRequest();
    }
    await done;
    return {};
  });
}
