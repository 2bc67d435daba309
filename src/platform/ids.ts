import { randomBytes, randomUUID } from 'node:crypto';

/** Source of identifiers and secrets. Injected so tests can make them predictable. */
export interface IdSource {
  uuid(): string;
  /** Random bytes as base64, e.g. a Batch account key (64 bytes) or a client secret. */
  secret(bytes: number): string;
}

export const randomIds: IdSource = {
  uuid: () => randomUUID(),
  secret: (bytes) => randomBytes(bytes).toString('base64'),
};

/** Deterministic ids for tests: uuids count up, secrets are derived from a counter. */
export function sequentialIds(prefix = '00000000-0000-4000-8000'): IdSource {
  let n = 0;
  return {
    uuid: () => `${prefix}-${(++n).toString(16).padStart(12, '0')}`,
    secret: (bytes) => Buffer.alloc(bytes, ++n).toString('base64'),
  };
}
