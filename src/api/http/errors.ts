import { DomainError, StoreContention, type ErrorCategory } from '../../domain/errors.ts';

/** An error already shaped for the wire by a surface's mapper. */
export interface WireError {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export const CATEGORY_STATUS: Record<ErrorCategory, number> = {
  'invalid-input': 400,
  'not-found': 404,
  conflict: 409,
  unauthenticated: 401,
  forbidden: 403,
  'precondition-failed': 412,
  'not-modified': 304,
  'not-implemented': 501,
  'method-not-allowed': 405,
  'too-large': 413,
  throttled: 429,
  unavailable: 503,
  'range-not-satisfiable': 416,
};

/**
 * Turns framework-level failures (body too large, bad JSON, bad media type) into domain errors so each surface
 * maps them like any other. Anything else unexpected stays as is, for the surface's internal-error path.
 */
export function normalizeError(err: unknown): unknown {
  if (err instanceof DomainError) return err;
  if (err instanceof StoreContention)
    // Concurrent writers kept conflicting (PostgreSQL, ADR 0029): nothing was written; the clients retry a 503.
    return new DomainError(
      'unavailable',
      'ServerBusy',
      'The server is busy. Retry after the time in Retry-After.',
      {
        retryAfterSeconds: 1,
      },
    );
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new DomainError(
        'too-large',
        'RequestBodyTooLarge',
        'The request body is too large and exceeds the maximum permissible limit.',
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new DomainError('invalid-input', 'InvalidRequestContent', (err as Error).message);
    case 'FST_ERR_BAD_URL':
      // Batch's code for a URL that cannot be parsed (Batch Status and Error Codes).
      return new DomainError(
        'invalid-input',
        'RequestUrlFailedToParse',
        'The url in the request could not be parsed.',
      );
    case 'FST_ERR_MAX_PARAM_LENGTH':
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return new DomainError('invalid-input', 'InvalidUri', 'The request URI is invalid.');
    default:
      return err;
  }
}

export function malformedJson(detail: string): DomainError {
  return new DomainError(
    'invalid-input',
    'InvalidRequestContent',
    `The request content was invalid and could not be deserialized: '${detail}'.`,
  );
}
