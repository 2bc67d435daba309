import type { FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import { evaluateFilter, parseFilter, type FilterSchema } from './odata/filter.ts';
import { QueryError } from './odata/errors.ts';
import { decodeSkipToken, encodeSkipToken, nextLink, pageOf, parseMaxResults } from './odata/paging.ts';
import type { BatchRequestContext } from './surface.ts';

export interface ListSpec<T> {
  /** Entries sorted by `key` (the paging order). */
  entries: { key: string; wire: T }[];
  /** OData entity set name for `odata.metadata`. */
  metadata: string;
  maxResults: number;
  filterSchema: FilterSchema;
}

/** Batch's 400 for a bad query parameter, with the values the real service reports. */
export function queryParameterError(err: QueryError, value: string): DomainError {
  const code = err.kind === 'out-of-range' ? 'OutOfRangeQueryParameterValue' : 'InvalidQueryParameterValue';
  return new DomainError(
    'invalid-input',
    code,
    `The value for one of the query parameters specified in the request URI is invalid.`,
    {
      values: { QueryParameterName: err.parameter, QueryParameterValue: value, Reason: err.reason },
    },
  );
}

/** One page of a Batch list: `$filter`, `maxresults`, `$skiptoken` and an absolute `odata.nextLink`. */
export function listPage<T>(request: FastifyRequest, ctx: BatchRequestContext, spec: ListSpec<T>) {
  const query = request.query as Record<string, string | undefined>;
  const current = (name: string) => query[name] ?? '';
  try {
    const max = parseMaxResults(query.maxresults, { max: spec.maxResults, default: spec.maxResults });
    const filterText = query.$filter;
    const filter =
      filterText === undefined || filterText.trim() === ''
        ? undefined
        : parseFilter(filterText, spec.filterSchema);
    const after = query.$skiptoken === undefined ? undefined : decodeSkipToken(query.$skiptoken);
    const matching =
      filter === undefined ? spec.entries : spec.entries.filter((e) => evaluateFilter(filter, e.wire));
    const { page, nextAfter } = pageOf(matching, (e) => e.key, max, after);
    const url = new URL(request.url, ctx.accountUrl);
    const absolute = new URL(`${ctx.accountUrl}${url.pathname.replace(/^\/batch\/[^/]+/, '')}${url.search}`);
    return {
      'odata.metadata': `${ctx.accountUrl}/$metadata#${spec.metadata}`,
      value: page.map((e) => e.wire),
      ...(nextAfter === undefined
        ? {}
        : { 'odata.nextLink': nextLink(absolute, encodeSkipToken(nextAfter)) }),
    };
  } catch (err) {
    if (err instanceof QueryError) throw queryParameterError(err, current(err.parameter));
    throw err;
  }
}

/**
 * A Batch list read page by page from the store (`fetch(after, limit)` returns entries in key order after `after`),
 * so a job with 100,000 tasks is not loaded for each page. With `$filter` every entry is read and filtered.
 */
export async function listPageFrom<T>(
  request: FastifyRequest,
  ctx: BatchRequestContext,
  spec: Omit<ListSpec<T>, 'entries'> & {
    fetch: (after: string | undefined, limit: number | undefined) => Promise<{ key: string; wire: T }[]>;
  },
) {
  const query = request.query as Record<string, string | undefined>;
  if (query.$filter !== undefined && query.$filter.trim() !== '')
    return listPage(request, ctx, { ...spec, entries: await spec.fetch(undefined, undefined) });
  let max: number;
  let after: string | undefined;
  try {
    max = parseMaxResults(query.maxresults, { max: spec.maxResults, default: spec.maxResults });
    after = query.$skiptoken === undefined ? undefined : decodeSkipToken(query.$skiptoken);
  } catch (err) {
    if (err instanceof QueryError) throw queryParameterError(err, query[err.parameter] ?? '');
    throw err;
  }
  const rows = await spec.fetch(after, max + 1);
  const page = rows.slice(0, max);
  const last = page[page.length - 1];
  const url = new URL(request.url, ctx.accountUrl);
  const absolute = new URL(`${ctx.accountUrl}${url.pathname.replace(/^\/batch\/[^/]+/, '')}${url.search}`);
  return {
    'odata.metadata': `${ctx.accountUrl}/$metadata#${spec.metadata}`,
    value: page.map((e) => e.wire),
    ...(rows.length > max && last ? { 'odata.nextLink': nextLink(absolute, encodeSkipToken(last.key)) } : {}),
  };
}
