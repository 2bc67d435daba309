/**
 * `npm test`: everything CI checks, in order — prerequisites, type check, lint, format, then every unit,
 * conformance and compatibility test in one `node --test` run (so its summary counts them all).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

function run(cmd: string, args: string[], what: string): void {
  process.stdout.write(`\n== ${what}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    process.stderr.write(`\n${what} failed (exit ${String(r.status ?? r.signal)})\n`);
    process.exit(r.status ?? 1);
  }
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Debian packages the tests need: azure-cli (az compatibility), busybox-static and debootstrap (base images),
 * chromium (the portal's browser tests), nftables (the local nodes' outbound NAT, ADR 0021).
 * Installed when we can (root with apt), else the message says how.
 */
function ensureDebianPackages(): void {
  const missing = [
    has('az') ? undefined : 'azure-cli',
    existsSync('/bin/busybox') ? undefined : 'busybox-static',
    has('debootstrap') ? undefined : 'debootstrap',
    has('chromium') ? undefined : 'chromium',
    has('nft') || existsSync('/usr/sbin/nft') ? undefined : 'nftables',
  ].filter((p) => p !== undefined);
  if (missing.length === 0) return;
  if (process.getuid?.() === 0 && has('apt-get')) {
    const list = missing.join(' ');
    const install = `DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${list}`;
    run(
      'sh',
      ['-c', `${install} || (apt-get update -qq && ${install})`],
      `installing ${list} (Debian packages)`,
    );
    return;
  }
  process.stderr.write(`The tests need these Debian packages: sudo apt-get install ${missing.join(' ')}\n`);
  process.exit(1);
}

const bin = (name: string) => `node_modules/.bin/${name}`;
const only = process.argv.slice(2);

ensureDebianPackages();
if (only.length === 0) {
  run(bin('tsc'), ['--noEmit', '-p', '.'], 'type check');
  run(bin('tsc'), ['--noEmit', '-p', 'portal'], 'type check (portal, browser code)');
  run(bin('eslint'), ['.'], 'lint');
  run(bin('prettier'), ['--check', '.'], 'format check');
}
const patterns = only.length > 0 ? only : ['src/**/*.test.ts', 'tests/**/*.test.ts'];
run(process.execPath, ['--test', '--test-reporter=spec', '--test-timeout=300000', ...patterns], 'tests');
