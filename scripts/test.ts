/**
 * `npm test`: everything CI checks, in order — prerequisites, type check, lint, format, then every unit,
 * conformance and compatibility test in one `node --test` run (so its summary counts them all).
 */
import { spawnSync } from 'node:child_process';

function run(cmd: string, args: string[], what: string): void {
  process.stdout.write(`\n== ${what}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    process.stderr.write(`\n${what} failed (exit ${String(r.status ?? r.signal)})\n`);
    process.exit(r.status ?? 1);
  }
}

/** The Debian packages the tests need (scripts/debian-packages): installed as root, else the apt-get line. */
function ensureDebianPackages(): void {
  run('scripts/ensure-debian-packages.sh', ['test', '--required'], 'Debian packages the tests need');
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
/**
 * Test files run one at a time, here and in `npm run test:compat` (which runs through this script): compat files
 * each start servers with nodes, and the same concurrency everywhere keeps their behaviour alike in both runs.
 */
const CONCURRENCY = '--test-concurrency=1';
run(
  process.execPath,
  ['--test', CONCURRENCY, '--test-reporter=spec', '--test-timeout=300000', ...patterns],
  'tests',
);
