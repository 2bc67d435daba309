import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ComputeManagementClient } from '@azure/arm-compute';
import { ClientSecretCredential } from '@azure/identity';
import { DatabaseSync } from 'node:sqlite';
import { after } from 'node:test';
import { RESPONSE_VIOLATIONS_FILE, startLazurite, type ConnectionInfo } from '../../src/app/main.ts';
import { loadConfig, type ConfigFlags } from '../../src/config/config.ts';
import type { Clock } from '../../src/platform/clock.ts';
import type { ResponseViolation } from '../../src/api/spec/responses.ts';
import { ALLOWED_RESPONSE_MISMATCHES } from './response-allow-list.ts';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO_ROOT, 'src', 'cli', 'main.ts');

export interface TestServer {
  connection: ConnectionInfo;
  dataDir: string;
  process: ChildProcess;
  /** Output the server printed so far (for diagnosing failures). */
  output(): string;
  stop(): Promise<void>;
}

/** Lets this process's HTTPS clients (Node's tls defaults: core-rest-pipeline, node-fetch) trust the server's CA. */
export function trustCa(caCertPath: string): void {
  const pem = readFileSync(caCertPath, 'utf8');
  const current = getCACertificates('default');
  if (!current.includes(pem)) setDefaultCACertificates([...current, pem]);
}

/** How `lazurite <args>` ended: exit code and everything it printed. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `lazurite <args>` to completion, through `bin/lazurite` (the binary users run) when `viaBin`; an env value
 * of undefined removes that variable.
 */
export function runCliResult(args: string[], env: NodeJS.ProcessEnv = {}, viaBin = false): Promise<CliRun> {
  const merged = Object.fromEntries(
    Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined),
  );
  const [cmd, argv] = viaBin
    ? [join(REPO_ROOT, 'bin', 'lazurite'), args]
    : [process.execPath, [CLI, ...args]];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `lazurite <args>` to completion and returns its stdout; rejects with stderr on a non-zero exit. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await runCliResult(args, env);
  if (r.code !== 0)
    throw new Error(`lazurite ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const NETWORKS = join(tmpdir(), 'lazurite-test-networks');

/**
 * A node network of its own for a test server (`10.214.<16k>.0/20`, ADR 0021), so test servers running at once on
 * this machine never share a bridge or an address. Claimed by creating `<tmp>/lazurite-test-networks/<k>` holding
 * the data dir (a restart with the same data dir gets the same one); a claim whose data dir is gone is free again.
 */
const SLOTS = 16;

export function testNodeNetwork(dataDir: string): string {
  mkdirSync(NETWORKS, { recursive: true });
  const owner = (k: number) => {
    try {
      return readFileSync(join(NETWORKS, String(k)), 'utf8');
    } catch {
      return undefined;
    }
  };
  const claim = (k: number) => {
    try {
      writeFileSync(join(NETWORKS, String(k)), dataDir, { flag: 'wx' });
      return true;
    } catch {
      return false;
    }
  };
  // A /20 each (four /22 host subnets, 4,084 nodes): the largest test pools (hundreds of nodes) fit.
  const range = (k: number) => `10.214.${String(k * 16)}.0/20`;
  for (let k = 0; k < SLOTS; k++) if (owner(k) === dataDir) return range(k);
  for (let k = 0; k < SLOTS; k++) {
    if (claim(k)) return range(k);
    const held = owner(k);
    if (held === undefined || held === '' || existsSync(held)) continue;
    try {
      renameSync(join(NETWORKS, String(k)), join(NETWORKS, `${String(k)}.stale.${String(process.pid)}`));
      rmSync(join(NETWORKS, `${String(k)}.stale.${String(process.pid)}`), { force: true });
    } catch {
      continue; // another test took it first
    }
    if (claim(k)) return range(k);
  }
  throw new Error(`no free test node network left in ${NETWORKS}`);
}

/**
 * What the server's response check (ADR 0032) found in `dataDir` and the allow-list does not excuse, one line
 * each: operation, method, path, status and ajv's finding.
 */
export function responseViolations(dataDir: string): string[] {
  let text: string;
  try {
    text = readFileSync(join(dataDir, RESPONSE_VIOLATIONS_FILE), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ResponseViolation)
    .filter(
      (v) =>
        !ALLOWED_RESPONSE_MISMATCHES.some(
          (a) => a.operation === v.operation && v.message.includes(a.message),
        ),
    )
    .map((v) => `${v.operation} ${v.method} ${v.path} → ${String(v.status)}: ${v.message} (${v.specFile})`);
}

/** Unless the environment says LAZURITE_CHECK_RESPONSES=0, test servers check every answer against the spec. */
const CHECK_RESPONSES = process.env.LAZURITE_CHECK_RESPONSES !== '0';

/** Findings of the servers this test file stopped, not yet reported. */
const unreported: string[] = [];

/** The findings collected so far, which are then no longer reported at the end of the file. */
export function takeResponseViolations(): string[] {
  return unreported.splice(0);
}

// Reported once the file's own tests and hooks (and their cleanup) have run, so a finding never skips a cleanup.
after(() => {
  const found = takeResponseViolations();
  if (found.length > 0) throw new Error(`responses that do not match the spec:\n${found.join('\n')}`);
});

/**
 * Starts the real server (`lazurite start --port 0`) in a child process with a fresh data dir, as a user would,
 * and resolves once it reports ready. The CA it creates is trusted by this test process. Its nodes get a network
 * of their own (testNodeNetwork) unless `extraArgs` names one. The server checks its answers against the spec
 * (ADR 0032); what `stop()` finds that does not match fails the test file at its end, listing each finding.
 */
export async function startServer(extraArgs: string[] = [], dataDir?: string): Promise<TestServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'lazurite-test-'));
  const network = extraArgs.includes('--node-network') ? [] : ['--node-network', testNodeNetwork(dir)];
  const child = spawn(
    process.execPath,
    [CLI, 'start', '--port', '0', '--data-dir', dir, '--log-level', 'warn', ...network, ...extraArgs],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LAZURITE_CHECK_RESPONSES: CHECK_RESPONSES ? '1' : '0' },
    },
  );
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (output.includes('Lazurite is listening on')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => {
      reject(new Error(`server exited early (${String(code)}):\n${output}`));
    });
  });
  await ready;
  const connection = JSON.parse(readFileSync(join(dir, 'connection.json'), 'utf8')) as ConnectionInfo;
  trustCa(connection.caCertPath);
  return {
    connection,
    dataDir: dir,
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (CHECK_RESPONSES) unreported.push(...responseViolations(dir));
      rmSync(join(dir, RESPONSE_VIOLATIONS_FILE), { force: true });
      if (dataDir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A server in this test process, for tests that inject its clock: its connection and how to stop it. */
export interface InProcessServer {
  connection: ConnectionInfo;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * The real server started in this process (`startLazurite`) with an injected clock, from the same `--flag value`
 * arguments `lazurite start` takes (e.g. `cluster up`'s serverArgs) and extra environment settings. Like
 * startServer: a fresh data dir, a node network of its own, the answers checked against the spec (what `stop()`
 * finds fails the test file at its end), and its CA trusted by this process.
 */
export async function startInProcessServer(
  args: string[],
  clock: Clock,
  env: NodeJS.ProcessEnv = {},
): Promise<InProcessServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-test-'));
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i] ?? '';
    if (!name.startsWith('--') || args[i + 1] === undefined)
      throw new Error(`not a --flag value pair: ${name}`);
    flags[name.slice(2).replace(/-(\w)/g, (_m, c: string) => c.toUpperCase())] = args[i + 1] ?? '';
  }
  const config = loadConfig(
    { nodeNetwork: testNodeNetwork(dir), ...(flags as ConfigFlags), port: 0, dataDir: dir, logLevel: 'warn' },
    { ...process.env, ...env, LAZURITE_CHECK_RESPONSES: CHECK_RESPONSES ? '1' : '0' },
  );
  const server = await startLazurite(config, { clock });
  trustCa(server.connection.caCertPath);
  return {
    connection: server.connection,
    dataDir: dir,
    stop: async () => {
      await server.close();
      if (CHECK_RESPONSES) unreported.push(...responseViolations(dir));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The well-known service principal's credential against a test server (what every SDK client here uses). */
export function credentialFor(c: ConnectionInfo): ClientSecretCredential {
  return new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret, {
    authorityHost: c.authorityHost,
    disableInstanceDiscovery: true,
  });
}

/** A new service principal made by `lazurite sp create` (with a role at a scope if given), and its credential. */
export async function newPrincipalCredential(
  server: TestServer,
  name: string,
  role?: { role: string; scope: string },
): Promise<ClientSecretCredential> {
  const roleArgs = role === undefined ? [] : ['--role', role.role, '--scope', role.scope];
  const sp = JSON.parse(
    await runCli([
      'sp',
      'create',
      '--json',
      '--name',
      name,
      ...roleArgs,
      '--data-dir',
      server.dataDir,
      '--log-level',
      'silent',
    ]),
  ) as { clientId: string; clientSecret: string };
  const c = server.connection;
  return new ClientSecretCredential(c.tenantId, sp.clientId, sp.clientSecret, {
    authorityHost: c.authorityHost,
    disableInstanceDiscovery: true,
  });
}

export function computeClient(c: ConnectionInfo): ComputeManagementClient {
  return new ComputeManagementClient(credentialFor(c), c.subscriptionId, { endpoint: c.armEndpoint });
}

/** Where a region's content store keeps a blob, for checks on disk. */
export function blobPath(dataDir: string, region: string, digest: string): string {
  const hex = digest.replace('sha256:', '');
  return join(dataDir, 'regions', region, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/** The content manifest digest the server recorded for a compute resource (internal state, read from its store). */
export function storedContent(dataDir: string, type: string, name: string): string {
  const db = new DatabaseSync(join(dataDir, 'state', 'lazurite.db'), { readOnly: true });
  try {
    const row = db
      .prepare('select content from compute_resources where type = ? and name = ?')
      .get(type, name) as { content: string };
    return (JSON.parse(row.content) as { manifest: string }).manifest;
  } finally {
    db.close();
  }
}
