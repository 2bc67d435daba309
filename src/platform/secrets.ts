import { createHash, timingSafeEqual } from 'node:crypto';

/** Compares two strings in time that depends only on their lengths (hashes first, so lengths never leak). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

/** Stored form of a client secret: we keep only a salted hash. */
export function hashSecret(secret: string, salt: string): string {
  return createHash('sha256').update(`${salt}:${secret}`, 'utf8').digest('base64');
}
