import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { Clock } from '../platform/clock.ts';
import { SealingError } from '../platform/sealing.ts';
import { ensureTlsMaterial, type TlsMaterial } from '../platform/tls.ts';
import { TokenSigner } from '../platform/tokens.ts';
import type { Store } from '../storage/port.ts';

/**
 * The data dir files every server on one database must share (ADR 0033): the CA that signs each server's own
 * certificate, the token signing key (a token from one server works on all), and the host agents' token. They
 * live sealed in the database's shared secrets and are mirrored into each data dir, where the code that uses them
 * reads them as before. With SQLite there is one server and nothing is mirrored.
 */
const SHARED_FILES: readonly { name: string; path: string }[] = [
  { name: 'tls-ca-cert', path: 'tls/ca.pem' },
  { name: 'tls-ca-key', path: 'tls/ca-key.pem' },
  { name: 'token-signing-key', path: 'identity/signing-key.pem' },
  { name: 'agent-token', path: 'agent-token' },
];

export interface ServerMaterial {
  tls: TlsMaterial;
  signer: TokenSigner;
  /** This server's id, stable per data dir (lease holder, ADR 0033). */
  serverId: string;
}

function readIfThere(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/** Writes the database's copy of each shared file where the data dir's differs; true when one changed. */
async function pullShared(store: Store, dataDir: string): Promise<boolean> {
  let changed = false;
  for (const f of SHARED_FILES) {
    let value: string | undefined;
    try {
      value = await store.transaction((tx) => tx.cluster.findSharedSecret(f.name));
    } catch (err) {
      if (!(err instanceof SealingError)) throw err;
      throw new SealingError(
        `the database's shared secrets were sealed with another sealing key: every server on one database needs ` +
          `the same key (copy the first server's <data-dir>/identity/sealing.key, or pass --sealing-key-file)`,
      );
    }
    const path = join(dataDir, f.path);
    if (value === undefined || readIfThere(path) === value) continue;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, value, { mode: 0o600 });
    changed = true;
  }
  return changed;
}

/** Offers the data dir's shared files to the database; true when another server's were there first. */
async function publishShared(store: Store, dataDir: string): Promise<boolean> {
  let differs = false;
  for (const f of SHARED_FILES) {
    const local = readIfThere(join(dataDir, f.path));
    if (local === undefined) continue;
    const stored = await store.transaction((tx) => tx.cluster.putSharedSecretOnce(f.name, local));
    if (stored !== local) differs = true;
  }
  return differs;
}

/** `<data-dir>/server-id`, made once. */
function serverIdOf(dataDir: string): string {
  const file = join(dataDir, 'server-id');
  const existing = readIfThere(file)?.trim();
  if (existing) return existing;
  const id = randomUUID();
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}

/**
 * The server's TLS material and token signer. On PostgreSQL the CA, signing key and agent token are the
 * database's (the first server to start puts its own there); `ensureAgentToken` makes the agent token file.
 */
export async function openServerMaterial(
  config: Config,
  store: Store,
  clock: Clock,
  ensureAgentToken: () => void,
): Promise<ServerMaterial> {
  const shared = config.databaseUrl !== undefined;
  const keyPath = join(config.dataDir, 'identity', 'signing-key.pem');
  const open = async () => {
    // The address Slurm hosts' agents reach this server at (--advertise-url, ADR 0030) is in its certificate too.
    const advertised =
      config.advertiseUrl === undefined
        ? []
        : [new URL(config.advertiseUrl).hostname.replace(/^\[|\]$/g, '')];
    const tls = ensureTlsMaterial(join(config.dataDir, 'tls'), [config.host, ...advertised], clock.now());
    ensureAgentToken();
    return { tls, signer: await TokenSigner.open(keyPath, clock) };
  };
  if (shared) await pullShared(store, config.dataDir);
  let material = await open();
  // Two servers starting on a fresh database at once: the later one takes the first one's material.
  if (shared && (await publishShared(store, config.dataDir))) {
    await pullShared(store, config.dataDir);
    material = await open();
  }
  return { ...material, serverId: serverIdOf(config.dataDir) };
}
