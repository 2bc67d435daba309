import type { FastifyRequest } from 'fastify';
import type { Caller } from '../../domain/authorization/access.ts';
import { DomainError } from '../../domain/errors.ts';
import type { ArmResponse } from './router.ts';

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

const preconditionFailed = (message: string) =>
  new DomainError('precondition-failed', 'PreconditionFailed', message);

/** The ETag a resource answered with: its `etag` property, else an ETag header. */
function etagOf(res: ArmResponse): string | undefined {
  const body = res.body as { etag?: unknown } | undefined;
  if (typeof body?.etag === 'string') return body.etag;
  return res.headers?.etag;
}

/**
 * ARM's conditional writes: on PUT, PATCH and DELETE, `If-Match: *` needs the resource to exist, `If-Match: <etag>`
 * needs it to carry that ETag (a resource without one never matches), and `If-None-Match: *` needs it absent;
 * otherwise 412 PreconditionFailed before anything is written. `read` answers the resource's current GET.
 */
export async function checkArmConditions(
  request: FastifyRequest,
  caller: Caller,
  read: (caller: Caller) => Promise<ArmResponse | undefined>,
): Promise<void> {
  if (!['PUT', 'PATCH', 'DELETE'].includes(request.method)) return;
  const ifMatch = header(request, 'if-match');
  const ifNoneMatch = header(request, 'if-none-match');
  if (ifMatch === undefined && ifNoneMatch === undefined) return;
  const current = await read(caller).catch((err: unknown) => {
    if (err instanceof DomainError && err.category === 'not-found') return undefined;
    throw err;
  });
  const exists = current !== undefined && current.status < 300;
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() === '*' && exists)
    throw preconditionFailed("The resource exists, and the request's If-None-Match: * wants it absent.");
  if (ifMatch === undefined) return;
  if (!exists)
    throw preconditionFailed("The resource does not exist, and the request's If-Match wants it to.");
  if (ifMatch.trim() === '*') return;
  const etag = etagOf(current);
  const wanted = ifMatch.split(',').map((t) => t.trim());
  if (etag === undefined || !wanted.includes(etag))
    throw preconditionFailed(
      `The resource's ETag ${etag ?? '(none)'} does not match the request's If-Match ${ifMatch}.`,
    );
}
