import { DomainError } from '../../domain/errors.ts';
import { CATEGORY_STATUS, type WireError } from '../http/errors.ts';

/** ARM's error envelope: {error:{code,message,target,details}}. */
export function toArmError(err: unknown): WireError {
  if (err instanceof DomainError) {
    const status = CATEGORY_STATUS[err.category];
    const headers: Record<string, string> = {};
    if (status === 401)
      headers['www-authenticate'] =
        `Bearer error="invalid_token", error_description="${err.message.replace(/"/g, "'")}"`;
    return {
      status,
      headers,
      body: {
        error: {
          code: err.code,
          message: err.message,
          ...(err.target === undefined ? {} : { target: err.target }),
          ...(err.details.length === 0 ? {} : { details: err.details }),
        },
      },
    };
  }
  return {
    status: 500,
    body: {
      error: {
        code: 'InternalServerError',
        message: 'The server encountered an internal error. Please retry the request.',
      },
    },
  };
}
