import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** Compares two strings in time that depends only on their lengths (hashes first, so lengths never leak). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

/*
 * Stored client secrets: `scrypt$N$r$p$<salt>$<key>` (base64 salt of 16 random bytes, 32-byte key) — a memory-hard
 * hash with a salt of its own per secret. Rows written before it held one round of sha256(`<row salt>:<secret>`);
 * the start-up upgrade wraps those as `scrypt-sha256$N$r$p$<salt>$<key>`, scrypt over the old hash, so they are
 * as costly to attack as new ones without anyone having to know the secret.
 */
const COST = { N: 16384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const PLAIN = 'scrypt';
const WRAPPED = 'scrypt-sha256';

function derive(input: string, salt: Buffer, cost: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(input, salt, KEY_BYTES, { ...cost, maxmem: 64 * 1024 * 1024 }, (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

async function encode(kind: string, input: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(input, salt, COST);
  return [kind, COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** The single-round hash rows held before scrypt (the input of a wrapped hash). */
function legacyHash(secret: string, rowSalt: string): string {
  return createHash('sha256').update(`${rowSalt}:${secret}`, 'utf8').digest('base64');
}

/** The stored form of a new client secret. */
export function hashSecret(secret: string): Promise<string> {
  return encode(PLAIN, secret);
}

/** True when `stored` is not yet a scrypt hash (a row from before it, to be wrapped by upgradeSecretHash). */
export function isLegacySecretHash(stored: string): boolean {
  return !stored.startsWith(`${PLAIN}$`) && !stored.startsWith(`${WRAPPED}$`);
}

/** A legacy single-round hash wrapped in scrypt (no secret needed). */
export function upgradeSecretHash(legacy: string): Promise<string> {
  return encode(WRAPPED, legacy);
}

/**
 * Whether `secret` matches `stored` (a scrypt hash, a wrapped legacy hash, or a legacy one with its row salt).
 * The comparison is constant-time; a malformed stored value never matches.
 */
export async function verifySecret(secret: string, stored: string, rowSalt: string): Promise<boolean> {
  if (isLegacySecretHash(stored)) return constantTimeEqual(legacyHash(secret, rowSalt), stored);
  const [kind, n, r, p, salt, key] = stored.split('$');
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  if (
    salt === undefined ||
    key === undefined ||
    !Object.values(cost).every((v) => Number.isInteger(v) && v > 0)
  )
    return false;
  const want = Buffer.from(key, 'base64');
  const input = kind === WRAPPED ? legacyHash(secret, rowSalt) : secret;
  const got = await derive(input, Buffer.from(salt, 'base64'), cost);
  return got.length === want.length && timingSafeEqual(got, want);
}
