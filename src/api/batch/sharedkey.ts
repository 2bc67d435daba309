import { createHmac, createSecretKey } from 'node:crypto';
import { boundedMemo } from '../../platform/memo.ts';
import { constantTimeEqual } from '../../platform/secrets.ts';

/** The parts of a received request that a Batch SharedKey signature covers. */
export interface SignedRequest {
  method: string;
  /** Path exactly as received, still percent-encoded, without the query. */
  rawPath: string;
  /** Raw query string without the leading '?'. */
  rawQuery: string;
  /** Header values by lower-case name. */
  headers: Record<string, string | string[] | undefined>;
}

const SIGNED_HEADERS = [
  'content-encoding',
  'content-language',
  'content-length',
  'content-md5',
  'content-type',
  'date',
  'if-modified-since',
  'if-match',
  'if-none-match',
  'if-unmodified-since',
  'range',
] as const;

function header(req: SignedRequest, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

function decodeQueryPart(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/**
 * Query parameter lines of the canonicalized resource. `style` follows the two official signers:
 * 'js' keeps blank values and sorts names as given; 'python' drops blank values and keeps the first value.
 */
function canonicalQuery(rawQuery: string, style: 'js' | 'python'): string {
  const byName = new Map<string, string[]>();
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeQueryPart(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decodeQueryPart(part.slice(eq + 1));
    if (style === 'python' && value === '') continue;
    const key = style === 'python' ? name.toLowerCase() : name;
    const list = byName.get(key) ?? [];
    if (style === 'python' && list.length > 0) continue;
    list.push(value);
    byName.set(key, list);
  }
  return [...byName.keys()]
    .sort()
    .map((name) => `\n${name}:${(byName.get(name) ?? []).sort().join(',')}`)
    .join('');
}

/** Builds the string-to-sign as the Batch service defines it, for one Content-Length and query style. */
export function stringToSign(
  req: SignedRequest,
  account: string,
  contentLength: string,
  style: 'js' | 'python',
): string {
  const hasOcpDate = header(req, 'ocp-date') !== '';
  const lines = SIGNED_HEADERS.map((h) => {
    if (h === 'content-length') return contentLength;
    if (h === 'date' && hasOcpDate) return '';
    return header(req, h);
  });
  const ocp = Object.keys(req.headers)
    .map((n) => n.toLowerCase())
    .filter((n) => n.startsWith('ocp-'))
    .sort()
    .map((n) => `${n}:${header(req, n).replace(/\s+/g, ' ').trim()}\n`)
    .join('');
  return `${req.method.toUpperCase()}\n${lines.join('\n')}\n${ocp}/${account}${req.rawPath}${canonicalQuery(req.rawQuery, style)}`;
}

/** Account keys as key objects, made once per key (decoding and importing a key costs more than the HMAC). */
const keyObjects = boundedMemo(64, (key) => createSecretKey(Buffer.from(key, 'base64')));

export function sign(key: string, toSign: string): string {
  return createHmac('sha256', keyObjects.get(key)).update(toSign, 'utf8').digest('base64');
}

/**
 * Whether `signature` is valid for the request under any of `keys`. The variants cover the official
 * clients' differences (api-reference §1.2.1): Content-Length as received or blank, and JS- or Python-style
 * query canonicalization. Every comparison runs in constant time.
 */
export function signatureMatches(
  req: SignedRequest,
  account: string,
  signature: string,
  keys: readonly string[],
): boolean {
  const received = header(req, 'content-length');
  const lengths = [
    ...new Set([received, received === '0' ? '' : received, received === '' ? '0' : received]),
  ];
  // Variants that give the same string (the usual case: a simple query) are signed once.
  const variants = new Set<string>();
  for (const style of ['js', 'python'] as const)
    for (const length of lengths) variants.add(stringToSign(req, account, length, style));
  let ok = false;
  for (const toSign of variants)
    for (const key of keys) ok = constantTimeEqual(sign(key, toSign), signature) || ok;
  return ok;
}
