import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcessUsage } from '../port.ts';
import { holdEventLoop, onLines } from './child-io.ts';

/**
 * Runs host shell scripts through one small long-lived `/bin/sh`, so starting a process costs a fork of a 1 MB
 * shell instead of a fork of the server: Node's spawn forks the whole server process, whose cost grows with its
 * memory (measured here: 0.7 ms of CPU at 70 MB RSS, 9 ms at 470 MB), on the event loop.
 *
 * Protocol: each script is written to `<dir>/<id>` (a 0700 folder on /dev/shm when there is one) and its id
 * sent as a line on the launcher's stdin; the launcher runs it with `/bin/sh` from a background subshell (or, for
 * a line `.<id>`, sources it in that subshell: no exec of a new shell; `$$` there is the launcher's PID), with
 * stdin /dev/null and stderr to `<dir>/<id>.err`, and prints `<id> !exit <status>` when it ends. A script's stdout
 * is the launcher's stdout: scripts print their own `<id> <text>` lines (a boot reports its PID and `ready`)
 * and must not print anything else there. A script may outlive the launcher (node holders do); if the
 * launcher dies, waiting scripts fail and the next launch starts a new one. The launcher's environment is
 * only PATH: nothing of the server's (or a task's) environment reaches host processes. Script and stderr files are
 * tiny and (normally) on tmpfs: they are written, read and removed synchronously, cheaper than thread-pool calls.
 */

const LOOP = [
  'while IFS= read -r id; do case $id in',
  '.*) id=${id#.}; { . "$0/$id" </dev/null 2>"$0/$id.err"; echo "$id !exit $?"; } & ;;',
  '*) { /bin/sh "$0/$id" </dev/null 2>"$0/$id.err"; echo "$id !exit $?"; } & ;;',
  'esac; done',
].join('\n');

export interface LaunchResult {
  /** Exit status (128 + signal when killed); undefined when the caller detached before the end. */
  code?: number;
  stderr: string;
  /** What the run used (the node runner's `!usage` line), when it said. */
  usage?: ProcessUsage;
}

interface Pending {
  onLine: ((text: string) => boolean) | undefined;
  resolve: (r: LaunchResult) => void;
  reject: (e: Error) => void;
}

export class Launcher {
  private readonly path: string;
  private readonly fallbackDir: string;
  private dir: Promise<string> | undefined;
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;

  /** `fallbackDir`: where scripts go when the host has no /dev/shm. */
  constructor(fallbackDir: string, path: string) {
    this.fallbackDir = fallbackDir;
    this.path = path;
  }

  /** A fresh private folder for scripts (and files they read); leftovers of dead servers are removed. */
  folder(): Promise<string> {
    this.dir ??= (async () => {
      const base = existsSync('/dev/shm') ? '/dev/shm' : this.fallbackDir;
      await mkdir(base, { recursive: true });
      for (const name of await readdir(base)) {
        const pid = /^lazurite-(\d+)-/.exec(name)?.[1];
        if (pid !== undefined && !existsSync(`/proc/${pid}`))
          await rm(join(base, name), { recursive: true, force: true });
      }
      const dir = join(base, `lazurite-${process.pid}-${randomBytes(4).toString('hex')}`);
      await mkdir(dir, { mode: 0o700 });
      return dir;
    })();
    return this.dir;
  }

  private start(dir: string): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn('/bin/sh', ['-c', LOOP, dir], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: this.path },
    });
    onLines(child.stdout, (line) => {
      this.line(dir, line);
    });
    child.stderr.resume();
    child.stdin.on('error', () => undefined);
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
      const lost = [...this.pending.values()];
      this.pending.clear();
      for (const p of lost) p.reject(new Error('the process launcher exited'));
    });
    this.child = child;
    return child;
  }

  private line(dir: string, line: string): void {
    const space = line.indexOf(' ');
    const id = line.slice(0, space);
    const text = line.slice(space + 1);
    const p = this.pending.get(id);
    if (!p) return; // detached, or from before a restart
    const exit = /^!exit (\d+)$/.exec(text);
    if (exit) this.finish(dir, id, p, Number(exit[1]));
    else if (p.onLine?.(text) === true) this.finish(dir, id, p, undefined);
  }

  /** Settles a script's waiter with its stderr: on exit with the code, or when its line handler says done. */
  private finish(dir: string, id: string, p: Pending, code: number | undefined): void {
    this.pending.delete(id);
    this.refresh();
    let stderr = '';
    try {
      stderr = readFileSync(join(dir, `${id}.err`), 'utf8');
    } catch {
      // no stderr file
    }
    this.forget(dir, id);
    p.resolve(code === undefined ? { stderr } : { code, stderr });
  }

  private forget(dir: string, id: string): void {
    rmSync(join(dir, id), { force: true });
    rmSync(join(dir, `${id}.err`), { force: true });
  }

  /** Keeps the event loop alive only while someone waits for a script. */
  private refresh(): void {
    if (this.child) holdEventLoop(this.child, this.pending.size > 0);
  }

  /**
   * Runs the script `make(id)` builds (it prints `<id> <text>` lines to report); resolves when it exits, or
   * as soon as `onLine` returns true for one of its lines (then `code` is undefined and the script runs on).
   * `sourced`: the launcher's subshell reads the script itself instead of starting a `/bin/sh` for it (one exec
   * less; for a script that only starts one command, which it must not `exec`: the subshell reports its end).
   */
  async run(
    make: (id: string) => string,
    onLine?: (text: string) => boolean,
    sourced = false,
  ): Promise<LaunchResult> {
    const id = `r${++this.seq}`;
    const dir = await this.folder();
    writeFileSync(join(dir, id), make(id), { mode: 0o600 });
    const child = this.start(dir);
    const done = new Promise<LaunchResult>((resolve, reject) => {
      this.pending.set(id, { onLine, resolve, reject });
    });
    this.refresh();
    child.stdin.write(sourced ? `.${id}\n` : `${id}\n`);
    return done;
  }

  /** The launcher process's PID while one runs (for diagnostics and tests). */
  pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the launcher (scripts still running go on) and removes its folder. */
  async close(): Promise<void> {
    const c = this.child;
    if (c) {
      const gone = new Promise((r) => c.once('exit', r));
      c.ref();
      c.stdin.end();
      await gone;
    }
    if (this.dir) await rm(await this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
