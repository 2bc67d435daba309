import type { FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import type { FailureThrottle } from '../../platform/throttle.ts';

/** How each surface says "slow down" (the code) and what it keys failures by besides the client address. */
export interface ThrottleSurface {
  code: string;
  message: string;
  values?: Record<string, string>;
}

/** A failed authentication: a wrong secret, key signature or token (what the throttle counts). */
function isAuthFailure(err: unknown): boolean {
  return (
    err instanceof DomainError &&
    (err.category === 'unauthenticated' ||
      err.code === 'invalid_client' ||
      err.code === 'AuthenticationFailed')
  );
}

/**
 * Runs an authentication step for `identity` (a client id, an account, or '' for bearer tokens) from the request's
 * client address: refused with the surface's 429 and Retry-After while that pair has used up its failed tries,
 * and a failure is counted against it. Correct credentials are never counted.
 */
export async function throttledAuth<T>(
  throttle: FailureThrottle,
  request: FastifyRequest,
  identity: string,
  surface: ThrottleSurface,
  work: () => Promise<T>,
): Promise<T> {
  const key = `${request.ip}|${identity.toLowerCase()}`;
  const waitMs = throttle.retryAfterMs(key);
  if (waitMs > 0) {
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    throw new DomainError('throttled', surface.code, surface.message, {
      retryAfterSeconds,
      values: surface.values ?? {},
    });
  }
  try {
    return await work();
  } catch (err) {
    if (isAuthFailure(err)) throttle.fail(key);
    throw err;
  }
}
