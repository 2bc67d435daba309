import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A throw-away PostgreSQL cluster for tests (Debian's `postgresql` package): initdb in a fresh temp folder,
 * listening only on a Unix socket in that folder (no TCP), trust authentication for its one local user. PostgreSQL
 * refuses to run as root, so under root (`.ci/run`) the cluster runs as the `postgres` user the package creates
 * and the folder is handed to it. `stop()` shuts it down immediately and removes the folder; it also runs when
 * the process exits without calling it.
 */
export interface ThrowawayCluster {
  /** A fresh, empty database on the cluster; its connection URL. */
  newDatabase(): Promise<string>;
  stop(): void;
}

const USER = 'lazurite';

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) throw new Error('PostgreSQL is not installed (Debian package postgresql)');
  return join(root, newest, 'bin');
}

/** Who runs the cluster: this process's user, or `postgres` when this process is root. */
function owner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function run(cmd: string, args: string[], as: { uid: number; gid: number } | undefined): void {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    ...(as ?? {}),
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
  });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.stdout || String(r.error)}`);
}

/**
 * Starts the cluster. `durable: false` (tests) turns fsync off; benchmarks keep PostgreSQL's defaults.
 * The temp folder is made under /tmp, which the `postgres` user can reach.
 */
export function startThrowawayCluster(options: { durable?: boolean } = {}): ThrowawayCluster {
  const bin = binDir();
  const as = owner();
  const dir = mkdtempSync('/tmp/lzr-pg-');
  if (as) chownSync(dir, as.uid, as.gid);
  const data = join(dir, 'data');
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stop);
    if (existsSync(join(data, 'postmaster.pid')))
      spawnSync(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w'], { ...(as ?? {}) });
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  try {
    run(
      join(bin, 'initdb'),
      [
        '-D',
        data,
        '-U',
        USER,
        '--auth=trust',
        '-E',
        'UTF8',
        '--locale=C.UTF-8',
        '--locale-provider=icu',
        '--icu-locale=en',
        '--no-sync',
      ],
      as,
    );
    const settings = [`-c listen_addresses=''`, `-k ${dir}`, ...(options.durable ? [] : ['-c fsync=off'])];
    run(
      join(bin, 'pg_ctl'),
      ['start', '-D', data, '-w', '-l', join(dir, 'log'), '-o', settings.join(' ')],
      as,
    );
  } catch (err) {
    stop();
    throw err;
  }
  let n = 0;
  const url = (db: string) => `postgres://${USER}@/${db}?host=${encodeURIComponent(dir)}`;
  return {
    async newDatabase() {
      const name = `store_${String(++n)}`;
      const admin = new pg.Client({ connectionString: url('postgres') });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    stop,
  };
}
