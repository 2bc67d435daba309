import { randomUUID } from 'node:crypto';
import { DomainError } from '../../domain/errors.ts';
import { CATEGORY_STATUS, type WireError } from '../http/errors.ts';

/** OAuth2 error responses as Entra ID writes them: {error, error_description, error_codes, ...}. */
export function toOAuthError(err: unknown, requestId: string, now: Date): WireError {
  const timestamp = now.toISOString().replace('T', ' ');
  if (err instanceof DomainError) {
    const aadsts = Number(err.values.aadsts ?? 0);
    const isOauthCode = /^[a-z_]+$/.test(err.code);
    const error = isOauthCode
      ? err.code
      : err.category === 'unauthenticated'
        ? 'invalid_client'
        : err.category === 'unavailable' || err.category === 'throttled'
          ? 'temporarily_unavailable'
          : 'invalid_request';
    return {
      status:
        err.code === 'invalid_client'
          ? 401
          : err.category === 'throttled' || err.category === 'unavailable'
            ? CATEGORY_STATUS[err.category]
            : Math.min(CATEGORY_STATUS[err.category], 400),
      body: {
        error,
        error_description: `${err.message}\r\nTrace ID: ${requestId}\r\nCorrelation ID: ${randomUUID()}\r\nTimestamp: ${timestamp}`,
        error_codes: aadsts ? [aadsts] : [],
        timestamp,
        trace_id: requestId,
        correlation_id: requestId,
      },
    };
  }
  return {
    status: 500,
    body: {
      error: 'server_error',
      error_description: `An internal error occurred.\r\nTrace ID: ${requestId}`,
      error_codes: [],
      trace_id: requestId,
    },
  };
}
