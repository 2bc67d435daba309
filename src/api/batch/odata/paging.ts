import { QueryError } from './errors.ts';

/** `maxresults`: an integer in 1..max, default when absent. */
export function parseMaxResults(value: string | undefined, limits: { max: number; default: number }): number {
  if (value === undefined || value === '') return limits.default;
  if (!/^-?\d+$/.test(value))
    throw new QueryError('maxresults', `maxresults must be an integer between 1 and ${limits.max}.`);
  const n = Number(value);
  if (n < 1 || n > limits.max) {
    throw new QueryError('maxresults', `maxresults must be between 1 and ${limits.max}.`, 'out-of-range');
  }
  return n;
}

/** Opaque continuation token holding the sort key of the last returned item. */
export function encodeSkipToken(afterKey: string): string {
  return Buffer.from(JSON.stringify({ a: afterKey }), 'utf8').toString('base64url');
}

export function decodeSkipToken(token: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown };
    if (typeof parsed.a === 'string') return parsed.a;
  } catch {
    // fall through to the error below
  }
  throw new QueryError('$skiptoken', 'The continuation token is not valid.');
}

/** Items (sorted by key) after `afterKey`, at most `max`; `nextAfter` is set when more remain. */
export function pageOf<T>(
  items: readonly T[],
  keyOf: (t: T) => string,
  max: number,
  afterKey: string | undefined,
): { page: T[]; nextAfter?: string } {
  const rest = afterKey === undefined ? items : items.filter((i) => keyOf(i) > afterKey);
  const page = rest.slice(0, max);
  const last = page[page.length - 1];
  return rest.length > max && last !== undefined ? { page, nextAfter: keyOf(last) } : { page };
}

/** The request URL with `$skiptoken` set: absolute and complete, because the Python SDK fetches it as is. */
export function nextLink(requestUrl: URL, skipToken: string): string {
  const url = new URL(requestUrl.href);
  url.searchParams.set('$skiptoken', skipToken);
  return url.href;
}
