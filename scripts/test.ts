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

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The az CLI tests need Debian's azure-cli; install it when we can (root with apt), else say how. */
function ensureAzCli(): void {
  if (has('az')) return;
  if (process.getuid?.() === 0 && has('apt-get')) {
    run(
      'sh',
      [
        '-c',
        'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq azure-cli || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq azure-cli)',
      ],
      'installing azure-cli (Debian package)',
    );
    return;
  }
  process.stderr.write('The az CLI compatibility tests need the az CLI: sudo apt-get install azure-cli\n');
  process.exit(1);
}

const bin = (name: string) => `node_modules/.bin/${name}`;
const only = process.argv.slice(2);

ensureAzCli();
if (only.length === 0) {
  run(bin('tsc'), ['--noEmit', '-p', '.'], 'type check');
  run(bin('eslint'), ['.'], 'lint');
  run(bin('prettier'), ['--check', '.'], 'format check');
}
const patterns = only.length > 0 ? only : ['src/**/*.test.ts', 'tests/**/*.test.ts'];
run(process.execPath, ['--test', '--test-reporter=spec', '--test-timeout=300000', ...patterns], 'tests');
