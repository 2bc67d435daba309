import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Conditions } from '../../domain/pools/conditions.ts';
import type { PoolCaller } from '../../domain/pools/image-rules.ts';
import { DomainError } from '../../domain/errors.ts';
import type { SpecValidator } from '../spec/validator.ts';
import { queryParameterError } from './listing.ts';
import { QueryError } from './odata/errors.ts';
import { applySelect, parseSelect } from './odata/select.ts';
import type { BatchRequestContext } from './surface.ts';

export const BATCH_SPEC = 'batch/data-plane/Microsoft.Batch/stable/2022-10-01.16.0/BatchService.json';
/** The newest BatchService.json in specs/: `$select` may name properties that only newer versions have. */
export const NEWEST_BATCH_SPEC = 'batch/data-plane/Microsoft.Batch/stable/2024-02-01.19.0/BatchService.json';

export function contextOf(request: FastifyRequest): BatchRequestContext {
  if (!request.batch)
    throw new DomainError('unauthenticated', 'AuthenticationFailed', 'The request was not authenticated.');
  return request.batch;
}

/** A JSON object body checked against a BatchService.json definition; errors name the property as Batch does. */
export function batchBody(
  specs: SpecValidator,
  definition: string,
  body: unknown,
  options: { optional?: boolean } = {},
): Record<string, unknown> {
  if ((body === undefined || body === null || body === '') && options.optional === true) return {};
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new DomainError(
      'invalid-input',
      'InvalidRequestBody',
      'The specified Request Body is not syntactically valid.',
      {
        values: { Reason: 'The request body must be a JSON object.' },
      },
    );
  }
  const v = specs.validate(BATCH_SPEC, definition, body);
  if (v?.kind === 'unknown-type') throw new Error(`spec definition ${definition} missing: ${v.message}`);
  if (v) {
    const missing = v.kind === 'missing';
    throw new DomainError(
      'invalid-input',
      missing ? 'MissingRequiredProperty' : 'InvalidPropertyValue',
      missing
        ? 'A required property was not specified in the request body.'
        : 'The value provided for one of the properties in the request body is invalid.',
      { target: v.path, values: { PropertyName: v.path, ...(missing ? {} : { Reason: v.message }) } },
    );
  }
  return body as Record<string, unknown>;
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export function conditionsOf(request: FastifyRequest): Conditions {
  const c: Conditions = {};
  const m = header(request, 'if-match');
  const nm = header(request, 'if-none-match');
  const ms = header(request, 'if-modified-since');
  const us = header(request, 'if-unmodified-since');
  const given = [m, nm, ms, us].filter((v) => v !== undefined);
  if (given.length > 1)
    throw new DomainError(
      'invalid-input',
      'MultipleConditionHeadersNotSupported',
      'Multiple condition headers are not supported: send one of If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since.',
    );
  if (m !== undefined) c.ifMatch = m;
  if (nm !== undefined) c.ifNoneMatch = nm;
  if (ms !== undefined) c.ifModifiedSince = ms;
  if (us !== undefined) c.ifUnmodifiedSince = us;
  return c;
}

/** ETag / Last-Modified / DataServiceId, as Batch sends on entity reads and writes. */
export function entityHeaders(
  reply: FastifyReply,
  e: { etag: string; lastModified: string },
  url?: string,
): void {
  void reply.header('ETag', e.etag);
  void reply.header('Last-Modified', new Date(e.lastModified).toUTCString());
  if (url !== undefined) void reply.header('DataServiceId', url);
}

/**
 * `$select=a,b`: only those top-level properties of the BatchService.json `definition` (CloudPool, CloudJob, …);
 * a name the entity does not have is Batch's 400 InvalidQueryParameterValue.
 */
export function selectOf(
  request: FastifyRequest,
  specs: SpecValidator,
  definition: string,
): ((wire: Record<string, unknown>) => Record<string, unknown>) | undefined {
  const raw = (request.query as Record<string, string | undefined>).$select;
  let selected: string[] | undefined;
  try {
    const names = [BATCH_SPEC, NEWEST_BATCH_SPEC].flatMap((f) => specs.propertyNames(f, definition));
    selected = parseSelect(raw, [...new Set(names)]);
  } catch (err) {
    if (err instanceof QueryError) throw queryParameterError(err, raw ?? '');
    throw err;
  }
  if (selected === undefined) return undefined;
  const keep = selected;
  return (wire) => applySelect(wire, keep);
}

/**
 * `$expand` on pools, jobs, job schedules and tasks: Batch expands `stats` only; anything else is the 400 the
 * service gives for a bad query parameter. Returns whether stats were asked for.
 */
export function expandsStats(request: FastifyRequest): boolean {
  const raw = (request.query as Record<string, string | undefined>).$expand;
  if (raw === undefined || raw.trim() === '') return false;
  for (const part of raw.split(',').map((s) => s.trim())) {
    if (part.toLowerCase() !== 'stats') {
      throw new DomainError(
        'invalid-input',
        'InvalidQueryParameterValue',
        'The value for one of the query parameters specified in the request URI is invalid.',
        {
          values: {
            QueryParameterName: '$expand',
            QueryParameterValue: raw,
            Reason: `'${part}' cannot be expanded; only stats can.`,
          },
        },
      );
    }
  }
  return true;
}

/** Who is asking, as the pool rules see it (gallery image access is checked against an AAD caller). */
export function callerOf(request: FastifyRequest): PoolCaller {
  const { auth } = contextOf(request);
  return auth.scheme === 'AAD' ? { scheme: 'AAD', caller: auth.caller } : { scheme: 'SharedKey' };
}
