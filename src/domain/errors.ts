/**
 * Domain errors carry a category (what went wrong, in HTTP-free terms), Azure's error code where one exists,
 * and the field or resource they are about. Each wire surface maps them once (api/<surface>/errors.ts).
 */
export type ErrorCategory =
  | 'invalid-input'
  | 'not-found'
  | 'conflict'
  | 'unauthenticated'
  | 'forbidden'
  | 'precondition-failed'
  | 'not-modified'
  | 'not-implemented'
  | 'too-large'
  | 'throttled'
  | 'unavailable'
  | 'range-not-satisfiable'
  | 'method-not-allowed';

export interface ErrorDetail {
  code: string;
  message: string;
  target?: string;
}

export class DomainError extends Error {
  readonly category: ErrorCategory;
  readonly code: string;
  readonly target: string | undefined;
  readonly details: ErrorDetail[];
  /** Extra key/value facts (rendered as Batch `values`). */
  readonly values: Record<string, string>;
  /** For `throttled` and `unavailable`: when the client may try again (the wire's Retry-After). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    category: ErrorCategory,
    code: string,
    message: string,
    options: {
      target?: string;
      details?: ErrorDetail[];
      values?: Record<string, string>;
      retryAfterSeconds?: number;
    } = {},
  ) {
    super(message);
    this.name = 'DomainError';
    this.category = category;
    this.code = code;
    this.target = options.target;
    this.details = options.details ?? [];
    this.values = options.values ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export const invalidInput = (code: string, message: string, target?: string): DomainError =>
  new DomainError('invalid-input', code, message, target === undefined ? {} : { target });

export const notFound = (code: string, message: string, target?: string): DomainError =>
  new DomainError('not-found', code, message, target === undefined ? {} : { target });

export const conflict = (code: string, message: string, target?: string): DomainError =>
  new DomainError('conflict', code, message, target === undefined ? {} : { target });

export const forbidden = (code: string, message: string): DomainError =>
  new DomainError('forbidden', code, message);

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}

/** A transaction the store could not serialize after its retries: the surfaces answer it as "busy, retry". */
export { StoreContention } from '../storage/port.ts';
