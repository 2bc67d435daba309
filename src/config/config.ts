import { resolve } from 'node:path';
import { QUOTA_NAMES, type QuotaOverrides } from '../domain/accounts/quotas.ts';
import type { LogLevel } from '../platform/logger.ts';
import { DEFAULT_NODE_NETWORK, parseNodeNetwork, type Cidr } from '../domain/pools/node-network.ts';

/** Everything the server can be told at start. Only this module reads process.env. */
export interface Config {
  host: string;
  /** 0 picks a free port; the port actually bound is reported in connection.json. */
  port: number;
  dataDir: string;
  /** Keep state in memory only (certificates and connection.json still go to dataDir). */
  inMemory: boolean;
  /**
   * PostgreSQL database the state lives in (--database-url, LAZURITE_DATABASE_URL: `postgres://…`); unset, the
   * embedded SQLite file `<dataDir>/state/lazurite.db` (ADR 0029). It may hold a password: never log it.
   */
  databaseUrl: string | undefined;
  /**
   * The origin clients use when several servers answer behind one address (--public-url, LAZURITE_PUBLIC_URL,
   * `https://host[:port]`): tokens are issued for it and accepted from it, links name it (ADR 0033).
   */
  publicUrl: string | undefined;
  /** The key that seals secrets at rest (--sealing-key-file; default `<dataDir>/identity/sealing.key`). */
  sealingKeyFile: string | undefined;
  logLevel: LogLevel;
  /** Largest accepted request body, bytes. */
  bodyLimit: number;
  /** Access-token lifetime, seconds. */
  tokenLifetimeSeconds: number;
  /** Batch account served at root-level data-plane paths to Entra ID callers (see ADR 0006). */
  defaultBatchAccount: string;
  /** Region whose content store holds base images (the well-known environment's region by default). */
  homeRegion: string;
  /** Content store folder per region that is not under `<dataDir>/regions/<name>` (LAZURITE_REGION_PATHS). */
  regionPaths: Record<string, string>;
  /** What runs compute nodes: real sandboxes on this machine, or the simulated backend. */
  /** What runs nodes in process; `remote`: nothing here, only host agents on other machines (`lazurite agent`). */
  nodeBackend: 'local' | 'simulated' | 'remote' | 'slurm';
  /** `slurm`: the cluster's slurm.conf (--slurm-conf, LAZURITE_SLURM_CONF) for sbatch, squeue and scancel (ADR 0030). */
  slurmConf: string | undefined;
  /**
   * Extra `sbatch` arguments for every node's job (--slurm-sbatch-args, LAZURITE_SLURM_SBATCH_ARGS, a JSON array:
   * partition, account, QOS, …) and for low-priority nodes' jobs (--slurm-low-priority-args, e.g. a preemptible QOS).
   */
  slurmSbatchArgs: string[];
  slurmLowPriorityArgs: string[];
  /**
   * The origin hosts elsewhere reach this server at (--advertise-url, LAZURITE_ADVERTISE_URL), e.g.
   * `https://10.251.0.1`; without a port, the port the server listens on. Its host is in the server certificate.
   */
  advertiseUrl: string | undefined;
  /** Concurrent node hydrations one image replica serves (R15/R16). */
  replicaCapacity: number;
  /** The private range node addresses come from (ADR 0021). */
  nodeNetwork: Cidr;
  /** The host's VM range (--vm-network, LAZURITE_VM_NETWORK, a private /16 or larger; ADR 0021). */
  vmNetwork: Cidr;
  /**
   * Caps every local node's own disk, MiB (--node-disk-mb, LAZURITE_NODE_DISK_MB; ADR 0025); unset, a node's disk
   * is its VM size's temporary disk.
   */
  nodeDiskMB: number | undefined;
  /** Bearer token `GET /metrics` wants (LAZURITE_METRICS_TOKEN); unset, the endpoint is open like /health. */
  metricsToken: string | undefined;
  /** Modelled durations of the simulated backend, ms. */
  /** Blob storage accounts Batch accounts may name as auto-storage (LAZURITE_STORAGE_ACCOUNTS, JSON). */
  storageAccounts: Record<string, { blobEndpoint: string; key: string }>;
  /** Batch account quotas that differ from the defaults, per account name or `*` (--account-quotas). */
  accountQuotas: QuotaOverrides;
  /** How long preempted low-priority capacity stays away (LAZURITE_PREEMPTION_RECOVERY_SECONDS). */
  preemptionRecoveryMs: number;
  /**
   * Failed authentications one client address may make per identity (client id, Batch account, ARM bearer) before
   * it is answered 429 with Retry-After (LAZURITE_AUTH_FAILURE_BURST), and how many more it gets per second after
   * that (LAZURITE_AUTH_FAILURES_PER_SECOND).
   */
  authFailures: { burst: number; perSecond: number };
  /** Event-loop delay (ms) past which requests other than /health and /metrics get 503 (LAZURITE_MAX_EVENT_LOOP_DELAY_MS, 0: off). */
  maxEventLoopDelayMs: number;
  /**
   * How long a disk, snapshot or image PUT waits for its I/O before answering Creating with an
   * Azure-AsyncOperation to poll (LAZURITE_WRITE_WAIT_MS; 0 answers at once).
   */
  writeWaitMs: number;
  /** How long a VM runCommand may run before every process of the VM is killed (LAZURITE_RUN_COMMAND_TIMEOUT_SECONDS). */
  runCommandTimeoutMs: number;
  /** Host ports nodes' remote login listens on when their pool names no range (LAZURITE_REMOTE_LOGIN_PORTS; ADR 0027). */
  remoteLoginPorts: { first: number; last: number };
  /**
   * Refuse pools whose node agent SKU is past the end of life Batch published (--strict-image-support,
   * LAZURITE_STRICT_IMAGE_SUPPORT), as Azure does today; off, such pools are created with a warning (ADR 0028).
   */
  strictImageSupport: boolean;
  /**
   * Test hook (LAZURITE_CHECK_RESPONSES, ADR 0032): check every answer against the swagger response schemas and
   * append what does not match to `<dataDir>/response-violations.jsonl`. Off in production.
   */
  checkResponses: boolean;
  /**
   * `lazurite agent`: the server's agent token and CA certificate (PEM) when its flags (`--token`, `--ca`) do not
   * give them (LAZURITE_AGENT_TOKEN, LAZURITE_AGENT_CA; an empty value is unset). A Slurm node job gets them so,
   * never on argv, which every user of the host can read (ADR 0030).
   */
  agentToken: string | undefined;
  agentCa: string | undefined;
  /** PATH the server's host commands are found on (the `slurm` backend's sbatch, squeue, scancel): the server's. */
  commandPath: string;
  simulatedDelays: { hydrateMs: number; copyMs: number; bootMs: number; execMs: number };
}

/** `name=path,name=path` → record; blank entries are ignored. */
function parseRegionPaths(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (value ?? '').split(',')) {
    if (part.trim() === '') continue;
    const [name, path] = part.split('=');
    if (!name || !path)
      throw new ConfigError(`invalid LAZURITE_REGION_PATHS entry '${part}' (expected region=path)`);
    out[name.trim().toLowerCase()] = resolve(path.trim());
  }
  return out;
}

export interface ConfigFlags {
  host?: string | undefined;
  port?: string | number | undefined;
  dataDir?: string | undefined;
  inMemory?: boolean | undefined;
  databaseUrl?: string | undefined;
  publicUrl?: string | undefined;
  sealingKeyFile?: string | undefined;
  logLevel?: string | undefined;
  nodeBackend?: string | undefined;
  slurmConf?: string | undefined;
  slurmSbatchArgs?: string | undefined;
  slurmLowPriorityArgs?: string | undefined;
  advertiseUrl?: string | undefined;
  replicaCapacity?: string | number | undefined;
  accountQuotas?: string | undefined;
  nodeNetwork?: string | undefined;
  vmNetwork?: string | undefined;
  nodeDiskMB?: string | number | undefined;
  strictImageSupport?: boolean | undefined;
}

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8443,
  dataDir: '.lazurite',
  logLevel: 'info' as LogLevel,
  bodyLimit: 4 * 1024 * 1024,
  tokenLifetimeSeconds: 3600,
  defaultBatchAccount: 'lazurite',
  homeRegion: 'westeurope',
};

export class ConfigError extends Error {}

function parsePort(value: string | number): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`invalid port '${String(value)}'`);
  return n;
}

function parsePositive(value: string | number, what: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigError(`invalid ${what} '${String(value)}' (a positive integer)`);
  return n;
}

/** The node disk cap: unset, or an integer of at least 32 MiB (the smallest node disk). */
function parseNodeDiskMB(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 32)
    throw new ConfigError(`invalid --node-disk-mb '${String(value)}' (an integer, at least 32)`);
  return n;
}

function parseNonNegative(value: string | number, what: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new ConfigError(`invalid ${what} '${String(value)}' (an integer, 0 or more)`);
  return n;
}

/** `{"name": {"blobEndpoint": "https://...", "key": "base64"}}` → record; unset = none. */
function parseStorageAccounts(
  value: string | undefined,
): Record<string, { blobEndpoint: string; key: string }> {
  if (value === undefined || value.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError(
      'LAZURITE_STORAGE_ACCOUNTS is not JSON ({"name": {"blobEndpoint": "...", "key": "..."}})',
    );
  }
  const out: Record<string, { blobEndpoint: string; key: string }> = {};
  for (const [name, v] of Object.entries((parsed ?? {}) as Record<string, unknown>)) {
    const a = v as { blobEndpoint?: unknown; key?: unknown } | null;
    if (typeof a?.blobEndpoint !== 'string' || typeof a.key !== 'string')
      throw new ConfigError(`LAZURITE_STORAGE_ACCOUNTS['${name}'] needs blobEndpoint and key strings`);
    out[name] = { blobEndpoint: a.blobEndpoint, key: a.key };
  }
  return out;
}

/**
 * `account.quota=n,...` → overrides: `lazurite.dedicatedCores=1000,*.pools=200` (quota names as in
 * AccountQuotas; `*` is every account not named). Blank entries are ignored.
 */
export function parseAccountQuotas(value: string | undefined): QuotaOverrides {
  const out: QuotaOverrides = {};
  for (const part of (value ?? '').split(',')) {
    if (part.trim() === '') continue;
    const m = /^\s*([A-Za-z0-9*]+)\.(\w+)\s*=\s*(\d+)\s*$/.exec(part);
    const quota = QUOTA_NAMES.find((q) => q.toLowerCase() === m?.[2]?.toLowerCase());
    if (!m?.[1] || !m[3] || quota === undefined)
      throw new ConfigError(
        `invalid account quota '${part}' (expected account.quota=n, quota one of ${QUOTA_NAMES.join(', ')})`,
      );
    const account = m[1].toLowerCase();
    out[account] = { ...out[account], [quota]: Number(m[3]) };
  }
  return out;
}

/** Real sandboxes need Linux and root; elsewhere the simulated backend is the default. */
function parseBackend(value: string | undefined): Config['nodeBackend'] {
  if (value === undefined || value === '') {
    return process.platform === 'linux' && process.getuid?.() === 0 ? 'local' : 'simulated';
  }
  if (value !== 'local' && value !== 'simulated' && value !== 'remote' && value !== 'slurm')
    throw new ConfigError(`invalid node backend '${value}' (local, simulated, remote or slurm)`);
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : resolve(value);
}

function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  return ['1', 'true', 'yes', 'on'].includes(value.toLowerCase());
}

/** The VMs' range by default (the local backend's `DEFAULT_VM_NETWORK`, ADR 0021). */
export const DEFAULT_VM_NETWORK = '10.215.0.0/16';

/** A private range of /16 or more (one VM address per host id slot) that does not overlap the node range. */
function vmNetworkOf(value: string, nodes: Cidr): Cidr {
  const c = nodeNetworkOf(value);
  if (c.prefix > 16) throw new ConfigError(`invalid --vm-network: '${value}' is smaller than a /16`);
  const end = (x: Cidr) => x.base + 2 ** (32 - x.prefix);
  if (c.base < end(nodes) && nodes.base < end(c))
    throw new ConfigError(`invalid --vm-network: '${value}' overlaps the node network`);
  return c;
}

function nodeNetworkOf(value: string): Cidr {
  try {
    return parseNodeNetwork(value);
  } catch (err) {
    throw new ConfigError(`invalid --node-network: ${(err as Error).message}`);
  }
}

/** A `postgres://` or `postgresql://` URL; anything else is refused (the URL itself is not echoed: a password). */
function parseDatabaseUrl(value: string | undefined, inMemory: boolean): string | undefined {
  if (value === undefined || value === '') return undefined;
  // Not WHATWG URL parsing: node-postgres also takes `postgres://user@/db?host=/socket/dir` (no host part).
  if (!/^postgres(ql)?:\/\/\S*$/.test(value))
    throw new ConfigError('invalid --database-url (expected postgres://user@host/database)');
  if (inMemory) throw new ConfigError('--database-url and --in-memory exclude each other');
  return value;
}

/** An `https://host[:port]` origin, nothing after it. */
function parsePublicUrl(value: string | undefined): string | undefined {
  return parseHttpsOrigin(value, '--public-url');
}

/** An `https://host[:port]` origin given as `flag`, nothing after it. */
function parseHttpsOrigin(value: string | undefined, flag: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`invalid ${flag} '${value}' (expected https://host[:port])`);
  }
  if (url.protocol !== 'https:' || url.pathname !== '/' || url.search !== '' || url.username !== '')
    throw new ConfigError(`invalid ${flag} '${value}' (expected https://host[:port], nothing after it)`);
  return url.origin;
}

/** sbatch options the backend sets itself: a node's job must keep them (ADR 0030). */
const OWN_SBATCH_OPTIONS = [
  '--job-name',
  '-J',
  '--export',
  '--requeue',
  '--no-requeue',
  '--output',
  '-o',
  '--parsable',
  '--wrap',
];

/** A JSON array of `sbatch` options (`["--partition=batch", "--qos=normal"]`); unset: none. */
function parseSbatchArgs(value: string | undefined, flag: string): string[] {
  if (value === undefined || value.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError(`${flag} is not a JSON array of sbatch options, e.g. ["--partition=batch"]`);
  }
  if (!Array.isArray(parsed) || !parsed.every((a): a is string => typeof a === 'string' && a.startsWith('-')))
    throw new ConfigError(`${flag} must be a JSON array of sbatch options, each starting with '-'`);
  const own = parsed.find((a) => OWN_SBATCH_OPTIONS.includes(a.split('=')[0] ?? ''));
  if (own !== undefined) throw new ConfigError(`${flag}: '${own}' is set by Lazurite for every node's job`);
  return parsed;
}

/** The slurm backend needs the cluster's slurm.conf and an address its hosts reach this server at. */
function checkSlurm(c: Config): Config {
  if (c.nodeBackend !== 'slurm') return c;
  if (c.slurmConf === undefined)
    throw new ConfigError('--node-backend slurm needs --slurm-conf (lazurite cluster up --json prints it)');
  if (c.advertiseUrl === undefined)
    throw new ConfigError(
      '--node-backend slurm needs --advertise-url, an address the Slurm hosts reach this server at',
    );
  return c;
}

/** `first-last`, both TCP ports, first ≤ last. */
function parsePortRange(text: string): { first: number; last: number } {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  const [first, last] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (!m || first < 1 || last > 65535 || first > last)
    throw new ConfigError(
      `invalid LAZURITE_REMOTE_LOGIN_PORTS '${text}' (expected first-last, e.g. 50000-55000)`,
    );
  return { first, last };
}

/** Flags win over environment variables (LAZURITE_*), which win over defaults. */
export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): Config {
  const level = flags.logLevel ?? env.LAZURITE_LOG_LEVEL ?? DEFAULTS.logLevel;
  const inMemory = flags.inMemory ?? parseBool(env.LAZURITE_IN_MEMORY) ?? false;
  if (!LEVELS.includes(level as LogLevel)) {
    throw new ConfigError(`invalid log level '${level}' (one of ${LEVELS.join(', ')})`);
  }
  const nodeNetwork = nodeNetworkOf(flags.nodeNetwork ?? env.LAZURITE_NODE_NETWORK ?? DEFAULT_NODE_NETWORK);
  const slurmConf = flags.slurmConf ?? env.LAZURITE_SLURM_CONF;
  return checkSlurm({
    host: flags.host ?? env.LAZURITE_HOST ?? DEFAULTS.host,
    port: parsePort(flags.port ?? env.LAZURITE_PORT ?? DEFAULTS.port),
    dataDir: resolve(flags.dataDir ?? env.LAZURITE_DATA_DIR ?? DEFAULTS.dataDir),
    inMemory,
    databaseUrl: parseDatabaseUrl(flags.databaseUrl ?? env.LAZURITE_DATABASE_URL, inMemory),
    publicUrl: parsePublicUrl(flags.publicUrl ?? env.LAZURITE_PUBLIC_URL),
    sealingKeyFile: emptyToUndefined(flags.sealingKeyFile ?? env.LAZURITE_SEALING_KEY_FILE),
    logLevel: level as LogLevel,
    bodyLimit: DEFAULTS.bodyLimit,
    tokenLifetimeSeconds: DEFAULTS.tokenLifetimeSeconds,
    defaultBatchAccount: env.LAZURITE_DEFAULT_BATCH_ACCOUNT ?? DEFAULTS.defaultBatchAccount,
    homeRegion: (env.LAZURITE_HOME_REGION ?? DEFAULTS.homeRegion).toLowerCase(),
    regionPaths: parseRegionPaths(env.LAZURITE_REGION_PATHS),
    nodeBackend: parseBackend(flags.nodeBackend ?? env.LAZURITE_NODE_BACKEND),
    slurmConf: slurmConf === undefined || slurmConf === '' ? undefined : resolve(slurmConf),
    slurmSbatchArgs: parseSbatchArgs(
      flags.slurmSbatchArgs ?? env.LAZURITE_SLURM_SBATCH_ARGS,
      '--slurm-sbatch-args',
    ),
    slurmLowPriorityArgs: parseSbatchArgs(
      flags.slurmLowPriorityArgs ?? env.LAZURITE_SLURM_LOW_PRIORITY_ARGS,
      '--slurm-low-priority-args',
    ),
    advertiseUrl: parseHttpsOrigin(flags.advertiseUrl ?? env.LAZURITE_ADVERTISE_URL, '--advertise-url'),
    replicaCapacity: parsePositive(
      flags.replicaCapacity ?? env.LAZURITE_REPLICA_CAPACITY ?? 25,
      'replica capacity',
    ),
    nodeNetwork,
    vmNetwork: vmNetworkOf(flags.vmNetwork ?? env.LAZURITE_VM_NETWORK ?? DEFAULT_VM_NETWORK, nodeNetwork),
    nodeDiskMB: parseNodeDiskMB(flags.nodeDiskMB ?? env.LAZURITE_NODE_DISK_MB),
    metricsToken: env.LAZURITE_METRICS_TOKEN === '' ? undefined : env.LAZURITE_METRICS_TOKEN,
    storageAccounts: parseStorageAccounts(env.LAZURITE_STORAGE_ACCOUNTS),
    accountQuotas: parseAccountQuotas(flags.accountQuotas ?? env.LAZURITE_ACCOUNT_QUOTAS),
    preemptionRecoveryMs:
      parsePositive(env.LAZURITE_PREEMPTION_RECOVERY_SECONDS ?? 60, 'preemption recovery seconds') * 1000,
    authFailures: {
      burst: parsePositive(env.LAZURITE_AUTH_FAILURE_BURST ?? 30, 'auth failure burst'),
      perSecond: parsePositive(env.LAZURITE_AUTH_FAILURES_PER_SECOND ?? 1, 'auth failures per second'),
    },
    maxEventLoopDelayMs: parseNonNegative(
      env.LAZURITE_MAX_EVENT_LOOP_DELAY_MS ?? 2000,
      'max event loop delay (ms)',
    ),
    writeWaitMs:
      env.LAZURITE_WRITE_WAIT_MS === '0'
        ? 0
        : parsePositive(env.LAZURITE_WRITE_WAIT_MS ?? 2000, 'write wait ms'),
    runCommandTimeoutMs:
      parsePositive(env.LAZURITE_RUN_COMMAND_TIMEOUT_SECONDS ?? 1800, 'run command timeout seconds') * 1000,
    remoteLoginPorts: parsePortRange(env.LAZURITE_REMOTE_LOGIN_PORTS ?? '50000-55000'),
    strictImageSupport: flags.strictImageSupport ?? parseBool(env.LAZURITE_STRICT_IMAGE_SUPPORT) ?? false,
    checkResponses: parseBool(env.LAZURITE_CHECK_RESPONSES) ?? false,
    agentToken: nonEmpty(env.LAZURITE_AGENT_TOKEN),
    agentCa: nonEmpty(env.LAZURITE_AGENT_CA),
    commandPath: nonEmpty(env.PATH) ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    simulatedDelays: { hydrateMs: 2000, copyMs: 1000, bootMs: 1000, execMs: 200 },
  });
}
