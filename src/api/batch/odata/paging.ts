// Batch list paging: `maxresults`, opaque `$skiptoken` and the absolute `odata.nextLink`.
import { QueryError } from './errors.ts';

/**
 * `maxresults`: an integer in 1..max; `default` when absent. A non-integer is kind 'invalid'
 * (InvalidQueryParameterValue), an integer outside the range kind 'out-of-range' (OutOfRangeQueryParameterValue).
 */
export function parseMaxResults(value: string | undefined, limits: { max: number; default: number }): number {
  if (value === undefined) return limits.default;
  if (!/^[+-]?\d+$/.test(value)) {
    throw new QueryError('maxresults', `The value '${value}' is not a valid integer.`);
  }
  const n = Number(value);
  if (n < 1 || n > limits.max) {
    throw new QueryError('maxresults', `The value must be between 1 and ${limits.max}.`, 'out-of-range');
  }
  return n;
}

const TOKEN_VERSION = 1;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Opaque continuation token: base64url of a JSON object holding the sort key of the last returned item. */
export function encodeSkipToken(afterKey: string): string {
  return Buffer.from(JSON.stringify({ v: TOKEN_VERSION, after: afterKey }), 'utf8').toString('base64url');
}

/** The sort key an `encodeSkipToken` token carries; anything else throws QueryError for `$skiptoken`. */
export function decodeSkipToken(token: string): string {
  if (BASE64URL.test(token) && token.length <= 8192) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null) {
        const { v, after } = parsed as { v?: unknown; after?: unknown };
        if (v === TOKEN_VERSION && typeof after === 'string') return after;
      }
    } catch {
      // not JSON: reported below
    }
  }
  throw new QueryError('$skiptoken', 'The continuation token is not valid.');
}

/**
 * One page of `items`, which must already be sorted ascending by `keyOf` in plain string order
 * (UTF-16 code units, as `<` and the default `Array.prototype.sort` compare — not localeCompare).
 * Returns the items whose key is strictly greater than `afterKey` (the decoded `$skiptoken`; undefined for
 * the first page), at most `maxResults` of them; `nextAfter` is the last item's key when more remain.
 */
export function pageOf<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  maxResults: number,
  afterKey: string | undefined,
): { page: T[]; nextAfter?: string } {
  let start = 0;
  if (afterKey !== undefined) {
    // Binary search for the first key > afterKey.
    let hi = items.length;
    while (start < hi) {
      const mid = (start + hi) >>> 1;
      if (keyOf(items[mid] as T) > afterKey) hi = mid;
      else start = mid + 1;
    }
  }
  const page = items.slice(start, start + maxResults);
  const last = page[page.length - 1];
  return start + maxResults < items.length && last !== undefined
    ? { page, nextAfter: keyOf(last) }
    : { page };
}

const SKIPTOKEN = '$skiptoken';

function isSkipToken(pair: string): boolean {
  const name = pair.split('=', 1)[0] ?? '';
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).toLowerCase() === SKIPTOKEN;
  } catch {
    return false;
  }
}

/**
 * The absolute request URL with `$skiptoken` set (any previous one removed), every other parameter —
 * `api-version`, `$filter`, `$select`, `maxresults`, … — kept byte for byte: the Python SDK fetches the
 * link verbatim and the JS SDK only re-adds `api-version`.
 */
export function nextLink(requestUrl: URL, skipToken: string): string {
  const kept = requestUrl.search
    .slice(1)
    .split('&')
    .filter((pair) => pair !== '' && !isSkipToken(pair));
  kept.push(`${SKIPTOKEN}=${encodeURIComponent(skipToken)}`);
  return `${requestUrl.origin}${requestUrl.pathname}?${kept.join('&')}`;
}
