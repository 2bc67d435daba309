import type { Caller } from '../../domain/authorization/access.ts';
import { DomainError } from '../../domain/errors.ts';
import { TokenRejected, type TokenSigner } from '../../platform/tokens.ts';

const ISSUER_PATH = /^\/(?:([0-9a-f-]{36})\/(?:v2\.0)?|adfs)$/i;

/** Accepts issuers of this server's own forms: {origin}/{tid}/, {origin}/{tid}/v2.0 and {origin}/adfs. */
export function issuerAccepted(origins: readonly string[], iss: string, tid: string): boolean {
  let url: URL;
  try {
    url = new URL(iss);
  } catch {
    return false;
  }
  if (!origins.includes(url.origin)) return false;
  const m = ISSUER_PATH.exec(url.pathname);
  return m !== null && (m[1] === undefined || m[1].toLowerCase() === tid.toLowerCase());
}

function unauthenticated(code: string, message: string): DomainError {
  return new DomainError('unauthenticated', code, message);
}

/** Verifies an `Authorization: Bearer` header for one of `audiences` and returns who is calling. */
export async function callerFromBearer(
  header: string | undefined,
  audiences: readonly string[],
  signer: TokenSigner,
  origins: readonly string[],
  now: Date,
): Promise<Caller> {
  if (header === undefined || header.trim() === '') {
    throw unauthenticated(
      'AuthenticationFailed',
      "Authentication failed. The 'Authorization' header is missing.",
    );
  }
  const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!m?.[1]) {
    throw unauthenticated(
      'InvalidAuthenticationToken',
      "Authentication failed. The 'Authorization' header is provided in an invalid format.",
    );
  }
  try {
    const claims = await signer.verify(m[1], audiences, (iss, tid) => issuerAccepted(origins, iss, tid));
    return { objectId: claims.oid, tenantId: claims.tid, appId: claims.appid };
  } catch (err) {
    if (!(err instanceof TokenRejected)) throw err;
    switch (err.reason) {
      case 'expired':
        return Promise.reject(
          unauthenticated(
            'ExpiredAuthenticationToken',
            `The access token expiry UTC time is earlier than current UTC time '${now.toISOString()}'.`,
          ),
        );
      case 'audience':
        return Promise.reject(
          unauthenticated(
            'InvalidAuthenticationTokenAudience',
            `The access token has been obtained for wrong audience or resource. It should exactly match with one of the allowed audiences '${audiences.join("','")}'.`,
          ),
        );
      case 'issuer':
        return Promise.reject(
          unauthenticated(
            'InvalidAuthenticationTokenTenant',
            `The access token is from the wrong issuer. ${err.message}`,
          ),
        );
      case 'signature':
      case 'malformed':
      case 'not-yet-valid':
        return Promise.reject(
          unauthenticated('InvalidAuthenticationToken', `The access token is invalid. ${err.message}`),
        );
    }
  }
}
