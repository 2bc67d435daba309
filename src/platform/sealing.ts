import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { boundedMemo } from './memo.ts';

/**
 * Values kept sealed at rest (Batch account keys in the database): AES-256-GCM under a key of 32 random bytes
 * in a 0600 file beside the token signing key, so a copy of the database alone reveals no key. A sealed value
 * reads `sealed:v1:<iv>:<tag>:<ciphertext>` (base64); anything else is a value written before sealing, read
 * as it is until the store seals it.
 */
export interface Sealer {
  seal(plain: string): string;
  open(stored: string): string;
  isSealed(stored: string): boolean;
}

const PREFIX = 'sealed:v1:';

/** No sealing: for stores that live only in memory. */
export const NO_SEALING: Sealer = {
  seal: (plain) => plain,
  open: (stored) => stored,
  isSealed: () => true,
};

export class SealingError extends Error {}

/** AES-256-GCM with `key`; `purpose` is bound into every value (a value sealed for one use opens for no other). */
export function keySealer(key: Buffer, purpose: string): Sealer {
  if (key.length !== 32) throw new SealingError('the sealing key must be 32 bytes');
  const aad = Buffer.from(purpose, 'utf8');
  const secret = createSecretKey(key);
  // Every Batch request reads its account, so each sealed value is opened once and kept (the server holds the
  // keys in memory anyway to check signatures); at most 10,000 values, then it starts over.
  const opened = boundedMemo(10_000, (stored) => openValue(stored));
  const openValue = (stored: string): string => {
    const [iv, tag, body] = stored.slice(PREFIX.length).split(':');
    if (iv === undefined || tag === undefined || body === undefined)
      throw new SealingError('a sealed value is malformed');
    try {
      const decipher = createDecipheriv('aes-256-gcm', secret, Buffer.from(iv, 'base64')).setAAD(aad);
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new SealingError('a sealed value does not open with this data dir’s sealing key');
    }
  };
  return {
    seal(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', secret, iv).setAAD(aad);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return `${PREFIX}${[iv, cipher.getAuthTag(), body].map((b) => b.toString('base64')).join(':')}`;
    },
    open(stored) {
      return stored.startsWith(PREFIX) ? opened.get(stored) : stored;
    },
    isSealed: (stored) => stored.startsWith(PREFIX),
  };
}

/** The sealing key at `path` (32 random bytes, 0600 in a 0700 folder), made on first use. */
export function sealingKey(path: string): Buffer {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, randomBytes(32), { mode: 0o600, flag: 'wx' });
  }
  chmodSync(path, 0o600);
  const key = readFileSync(path);
  if (key.length !== 32) throw new SealingError(`${path} is not a 32-byte sealing key`);
  return key;
}
