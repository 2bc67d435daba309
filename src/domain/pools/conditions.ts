import { DomainError } from '../errors.ts';

/** Batch's conditional headers (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since). */
export interface Conditions {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  ifUnmodifiedSince?: string;
}

const unquote = (s: string): string =>
  s
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
const matches = (header: string, etag: string): boolean =>
  header.split(',').some((h) => h.trim() === '*' || unquote(h) === etag);

/**
 * Evaluates the conditions against an entity: a failed write condition is 412 ConditionNotMet, a failed read
 * condition 304 (as the Batch service answers).
 */
export function checkConditions(
  entity: { etag: string; lastModified: string },
  cond: Conditions,
  kind: 'read' | 'write',
): void {
  const modified = Math.floor(Date.parse(entity.lastModified) / 1000);
  const since = (h: string | undefined) => (h === undefined ? undefined : Math.floor(Date.parse(h) / 1000));
  const failed =
    (cond.ifMatch !== undefined && !matches(cond.ifMatch, entity.etag)) ||
    (cond.ifNoneMatch !== undefined && matches(cond.ifNoneMatch, entity.etag)) ||
    (since(cond.ifModifiedSince) !== undefined && modified <= (since(cond.ifModifiedSince) ?? 0)) ||
    (since(cond.ifUnmodifiedSince) !== undefined && modified > (since(cond.ifUnmodifiedSince) ?? 0));
  if (!failed) return;
  throw new DomainError(
    kind === 'read' ? 'not-modified' : 'precondition-failed',
    'ConditionNotMet',
    'The condition specified using HTTP conditional header(s) is not met.',
  );
}

/**
 * The time conditions of a file read (the only ones Batch's file operations take), compared in whole seconds
 * as HTTP dates carry them: a file not modified since If-Modified-Since answers 304, one modified since
 * If-Unmodified-Since 412, both ConditionNotMet. A date that does not parse is ignored, as HTTP says.
 */
export function checkFileConditions(
  lastModified: Date,
  cond: Pick<Conditions, 'ifModifiedSince' | 'ifUnmodifiedSince'>,
): void {
  const modified = Math.floor(lastModified.getTime() / 1000);
  const since = (h: string | undefined) => (h === undefined ? NaN : Math.floor(Date.parse(h) / 1000));
  const notMet = (category: 'not-modified' | 'precondition-failed') =>
    new DomainError(
      category,
      'ConditionNotMet',
      'The condition specified using HTTP conditional header(s) is not met.',
    );
  if (modified <= since(cond.ifModifiedSince)) throw notMet('not-modified');
  if (modified > since(cond.ifUnmodifiedSince)) throw notMet('precondition-failed');
}

/** A new opaque ETag in Batch's style (`0x8D...`). */
export function newEtag(now: Date, salt: number): string {
  const ticks = BigInt(now.getTime()) * 10000n + 621355968000000000n + BigInt(salt % 10000);
  return `0x${ticks.toString(16).toUpperCase()}`;
}

let serviceWrites = 0;

/** The ETag of a write the service makes itself (a job it ends, a schedule its runner moves): a fresh one each time. */
export function serviceEtag(now: Date): string {
  return newEtag(now, ++serviceWrites);
}

/** ETags for one service: `newEtag` at the clock's time with a counter, so two writes in one millisecond differ. */
export function etagSource(clock: { now(): Date }): () => string {
  let salt = 0;
  return () => newEtag(clock.now(), ++salt);
}
