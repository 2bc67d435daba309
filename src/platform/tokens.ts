import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  SignJWT,
  createLocalJWKSet,
  errors as joseErrors,
  exportJWK,
  importPKCS8,
  jwtVerify,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from 'jose';
import type { webcrypto } from 'node:crypto';
import type { Clock } from './clock.ts';

type CryptoKey = webcrypto.CryptoKey;

/** Claims Lazurite puts in (and reads from) every access token. */
export interface AccessClaims {
  aud: string;
  iss: string;
  tid: string;
  oid: string;
  appid: string;
  sub: string;
  ver: '1.0' | '2.0';
}

export type TokenRejection = 'malformed' | 'signature' | 'expired' | 'not-yet-valid' | 'audience' | 'issuer';

export class TokenRejected extends Error {
  readonly reason: TokenRejection;
  constructor(reason: TokenRejection, message: string) {
    super(message);
    this.reason = reason;
  }
}

const ALG = 'RS256';

/** RS256 issuer and verifier with one signing key kept in the data dir (or only in memory). */
export class TokenSigner {
  readonly jwks: JSONWebKeySet;
  private readonly key: CryptoKey;
  private readonly kid: string;
  private readonly clock: Clock;
  private readonly keySet: ReturnType<typeof createLocalJWKSet>;

  private constructor(key: CryptoKey, publicJwk: JWK, kid: string, clock: Clock) {
    this.key = key;
    this.kid = kid;
    this.clock = clock;
    this.jwks = { keys: [{ ...publicJwk, kid, use: 'sig', alg: ALG }] };
    this.keySet = createLocalJWKSet(this.jwks);
  }

  /** Loads the PKCS#8 signing key at `keyPath`, creating it first if absent; `undefined` keeps it in memory. */
  static async open(keyPath: string | undefined, clock: Clock): Promise<TokenSigner> {
    let pem: string;
    if (keyPath !== undefined && existsSync(keyPath)) {
      pem = readFileSync(keyPath, 'utf8');
    } else {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      if (keyPath !== undefined) {
        mkdirSync(dirname(keyPath), { recursive: true, mode: 0o700 });
        writeFileSync(keyPath, pem, { mode: 0o600 });
      }
    }
    const key = await importPKCS8(pem, ALG, { extractable: true });
    const jwk = await exportJWK(key);
    const publicJwk: JWK = { kty: jwk.kty, n: jwk.n, e: jwk.e };
    const kid = createHash('sha256').update(String(publicJwk.n)).digest('base64url').slice(0, 27);
    return new TokenSigner(key, publicJwk, kid, clock);
  }

  async issue(claims: AccessClaims, lifetimeSeconds: number): Promise<{ token: string; expiresOn: number }> {
    const now = Math.floor(this.clock.now().getTime() / 1000);
    const exp = now + lifetimeSeconds;
    const token = await new SignJWT({
      tid: claims.tid,
      oid: claims.oid,
      appid: claims.appid,
      azp: claims.appid,
      ver: claims.ver,
      idtyp: 'app',
    })
      .setProtectedHeader({ alg: ALG, typ: 'JWT', kid: this.kid, x5t: this.kid })
      .setIssuer(claims.iss)
      .setAudience(claims.aud)
      .setSubject(claims.sub)
      .setIssuedAt(now)
      .setNotBefore(now - 300)
      .setExpirationTime(exp)
      .setJti(
        createHash('sha256').update(`${claims.oid}:${now}:${Math.random()}`).digest('base64url').slice(0, 22),
      )
      .sign(this.key);
    return { token, expiresOn: exp };
  }

  /**
   * Verifies signature, expiry, audience (one of `audiences`) and issuer (checked by `issuerOk` against the
   * token's tenant). Throws TokenRejected naming what failed.
   */
  async verify(
    token: string,
    audiences: readonly string[],
    issuerOk: (iss: string, tid: string) => boolean,
  ): Promise<AccessClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keySet, {
        algorithms: [ALG],
        currentDate: this.clock.now(),
        clockTolerance: 60,
        requiredClaims: ['exp', 'nbf', 'iat'],
      }));
    } catch (err) {
      throw mapJoseError(err);
    }
    checkLifetime(payload);
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!aud.some((a) => a !== undefined && audiences.some((want) => sameAudience(a, want)))) {
      throw new TokenRejected('audience', `The audience '${aud.join(',')}' is invalid.`);
    }
    const { tid, oid, appid, ver } = payload as Record<string, unknown>;
    if (typeof tid !== 'string' || typeof oid !== 'string' || typeof appid !== 'string') {
      throw new TokenRejected('malformed', 'The access token is missing the tid, oid or appid claim.');
    }
    if (typeof payload.iss !== 'string' || !issuerOk(payload.iss, tid)) {
      throw new TokenRejected('issuer', `The access token has an invalid issuer '${String(payload.iss)}'.`);
    }
    return {
      aud: String(aud[0]),
      iss: payload.iss,
      tid,
      oid,
      appid,
      sub: payload.sub ?? oid,
      ver: ver === '2.0' ? '2.0' : '1.0',
    };
  }
}

/** Entra ID's longest configurable access token lifetime: a token valid for longer was not issued by it. */
const MAX_LIFETIME_SECONDS = 24 * 3600;

/** `iat` ≤ `exp`, `nbf` < `exp`, and a lifetime Entra ID could have issued. */
function checkLifetime(payload: JWTPayload): void {
  const { exp, nbf, iat } = payload as { exp: number; nbf: number; iat: number };
  if (nbf >= exp || iat > exp || exp - Math.min(iat, nbf) > MAX_LIFETIME_SECONDS + 600) {
    throw new TokenRejected('malformed', 'The access token has an invalid lifetime (exp, nbf, iat).');
  }
}

function sameAudience(a: string, b: string): boolean {
  return a.replace(/\/+$/, '').toLowerCase() === b.replace(/\/+$/, '').toLowerCase();
}

function mapJoseError(err: unknown): TokenRejected {
  if (err instanceof joseErrors.JWTExpired)
    return new TokenRejected('expired', 'The access token has expired.');
  if (err instanceof joseErrors.JWTClaimValidationFailed && err.reason === 'missing') {
    return new TokenRejected('malformed', `The access token is missing the ${err.claim} claim.`);
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'nbf') {
    return new TokenRejected('not-yet-valid', 'The access token is not yet valid.');
  }
  if (
    err instanceof joseErrors.JWSSignatureVerificationFailed ||
    err instanceof joseErrors.JWKSNoMatchingKey
  ) {
    return new TokenRejected('signature', 'The access token signature is invalid.');
  }
  return new TokenRejected('malformed', 'The access token is malformed.');
}
