import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { ConnectionInfo } from '../app/main.ts';
import { CliError, readConnection } from './client.ts';

/**
 * The az CLI cloud definition for a running server: ARM at the root, the AD FS-style authority at /adfs
 * (MSAL skips its public-cloud authority check only for AD FS), the resource ids tokens are issued for, and the
 * Key Vault DNS suffix of vault URIs.
 */
export function azCloudConfig(c: ConnectionInfo) {
  return {
    endpoints: {
      resourceManager: `${c.armEndpoint}/`,
      activeDirectory: `${c.authorityHost}/adfs`,
      activeDirectoryResourceId: 'https://management.core.windows.net/',
      activeDirectoryGraphResourceId: `${c.armEndpoint}/graph/`,
      microsoftGraphResourceId: `${c.armEndpoint}/graph/`,
      management: 'https://management.core.windows.net/',
      batchResourceId: 'https://batch.core.windows.net/',
      gallery: `${c.armEndpoint}/`,
    },
    // Vault URIs (ADR 0035): `az keyvault create` needs the suffix even though no vault data plane answers there.
    suffixes: { keyvaultDns: `.vault.${new URL(c.armEndpoint).host}` },
  };
}

/** Shell commands that register the server as a cloud, log in as the well-known principal and use it. */
export function azSetupCommands(c: ConnectionInfo, cloudConfigPath: string): string[] {
  return [
    `export REQUESTS_CA_BUNDLE=${c.caCertPath}`,
    `export AZURE_CONFIG_DIR=$HOME/.azure-lazurite`,
    `az cloud register -n Lazurite --cloud-config @${cloudConfigPath}`,
    `az cloud set -n Lazurite`,
    `az login --service-principal -u ${c.clientId} -p ${c.clientSecret} --tenant ${c.tenantId}`,
    `az group list -o table`,
    `az batch account list -o table`,
    `az batch pool supported-images list --account-name ${c.batchAccountName} --account-endpoint ${c.batchUrl} --account-key ${c.batchAccountKey} -o table`,
    `az batch account login -g ${c.resourceGroup} -n ${c.batchAccountName}   # Entra ID for the data plane`,
    `az batch pool supported-images list -o table`,
    '# az vm / az image on Debian: its azure-mgmt-compute lacks API 2022-11-01, so switch to the hybrid profile',
    `az cloud update -n Lazurite --profile 2020-09-01-hybrid   # and back: --profile latest (az batch needs latest)`,
  ];
}

function writeCloudConfig(config: Config, connection: ConnectionInfo): string {
  const cloudPath = join(config.dataDir, 'az-cloud.json');
  writeFileSync(cloudPath, `${JSON.stringify(azCloudConfig(connection), null, 2)}\n`);
  return cloudPath;
}

/** `lazurite az-setup`: writes `<data-dir>/az-cloud.json` and prints the commands (or them as JSON). */
export function printAzSetup(config: Config, json: boolean): void {
  const connection = readConnection(config);
  const cloudPath = writeCloudConfig(config, connection);
  const commands = azSetupCommands(connection, cloudPath);
  process.stdout.write(
    json ? `${JSON.stringify({ cloudConfig: cloudPath, commands }, null, 2)}\n` : `${commands.join('\n')}\n`,
  );
}

const CA_DIR = '/usr/local/share/ca-certificates';

/**
 * Trusts the server's CA machine-wide, where Debian's az (python3-requests → /etc/ssl/certs) looks: as root
 * with update-ca-certificates. Returns false where that is not possible (then REQUESTS_CA_BUNDLE is needed).
 */
function trustCaMachineWide(caPath: string): boolean {
  const has = spawnSync('sh', ['-c', 'command -v update-ca-certificates'], { stdio: 'ignore' }).status === 0;
  if (process.getuid?.() !== 0 || !has || !existsSync(CA_DIR)) return false;
  const pem = readFileSync(caPath);
  const name = `lazurite-${createHash('sha256').update(pem).digest('hex').slice(0, 12)}.crt`;
  if (existsSync(join(CA_DIR, name))) return true;
  copyFileSync(caPath, join(CA_DIR, name));
  return spawnSync('update-ca-certificates', [], { stdio: 'ignore' }).status === 0;
}

export interface AppliedStep {
  command: string;
  ok: boolean;
}

/**
 * `lazurite az-setup --apply`: trusts the CA, registers (or updates) the `Lazurite` cloud in the user's az
 * configuration, makes it current, logs in as the well-known service principal and selects the Batch account
 * with Entra ID — so the seeds' `az batch pool create ... --image <gallery image>` works as written.
 */
export function applyAzSetup(
  config: Config,
  progress: (line: string) => void,
): { caTrusted: boolean; steps: AppliedStep[] } {
  const c = readConnection(config);
  const cloudPath = writeCloudConfig(config, c);
  if (spawnSync('sh', ['-c', 'command -v az'], { stdio: 'ignore' }).status !== 0) {
    throw new CliError('the az CLI is not installed', 'on Debian: apt-get install azure-cli');
  }
  const caTrusted = trustCaMachineWide(c.caCertPath);
  const env = {
    ...process.env,
    AZURE_CORE_COLLECT_TELEMETRY: 'false',
    AZURE_CORE_ONLY_SHOW_ERRORS: 'true',
    ...(caTrusted ? {} : { REQUESTS_CA_BUNDLE: c.caCertPath }),
  };
  const az = (args: string[]) => spawnSync('az', args, { env, encoding: 'utf8', timeout: 180_000 });
  const exists = az(['cloud', 'show', '-n', 'Lazurite']).status === 0;
  const plan: [string, string[]][] = [
    [
      exists ? 'update the Lazurite cloud' : 'register the Lazurite cloud',
      [
        'cloud',
        exists ? 'update' : 'register',
        '-n',
        'Lazurite',
        '--cloud-config',
        `@${cloudPath}`,
        '--profile',
        'latest',
      ],
    ],
    ['make it the current cloud', ['cloud', 'set', '-n', 'Lazurite']],
    [
      'log in as the well-known service principal',
      [
        'login',
        '--service-principal',
        '-u',
        c.clientId,
        '-p',
        c.clientSecret,
        '--tenant',
        c.tenantId,
        '-o',
        'none',
      ],
    ],
    [
      `use Batch account '${c.batchAccountName}' with Entra ID`,
      ['batch', 'account', 'login', '-g', c.resourceGroup, '-n', c.batchAccountName],
    ],
  ];
  progress(
    caTrusted
      ? `[0/${String(plan.length)}] CA trusted machine-wide (${CA_DIR})`
      : `[0/${String(plan.length)}] CA not trusted machine-wide (not root): az needs REQUESTS_CA_BUNDLE`,
  );
  const steps: AppliedStep[] = [];
  for (const [i, [what, args]] of plan.entries()) {
    const shown = `az ${args.map((a) => (a === c.clientSecret ? '***' : a)).join(' ')}`;
    const r = az(args);
    steps.push({ command: shown, ok: r.status === 0 });
    if (r.status !== 0) {
      const reason = (r.stderr || r.error?.message || '').trim().split('\n').at(-1) ?? '';
      throw new CliError(`${what} failed: ${reason}`, `run it yourself to see more: ${shown}`);
    }
    progress(`[${String(i + 1)}/${String(plan.length)}] ${what}: ok`);
  }
  if (!caTrusted) progress(`export REQUESTS_CA_BUNDLE=${c.caCertPath}   # in your shell, for az`);
  progress('done: az now talks to Lazurite (back to Azure: az cloud set -n AzureCloud)');
  return { caTrusted, steps };
}
