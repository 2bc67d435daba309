import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Launcher } from './launcher.ts';

const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

test('the launcher runs scripts, reports exit status, stderr and lines, and cleans up', async () => {
  const fallback = mkdtempSync(join(tmpdir(), 'lzr-launcher-'));
  const l = new Launcher(fallback, PATH);
  try {
    assert.deepEqual(await l.run(() => 'exit 3'), { code: 3, stderr: '' });
    const r = await l.run(
      () => 'echo oops >&2; [ -z "$HOME" ] && [ "$PATH" = ' + `'${PATH}'` + ' ] || exit 9',
    );
    assert.deepEqual(r, { code: 0, stderr: 'oops\n' }, 'only PATH reaches scripts');
    const lines: string[] = [];
    const many = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        l.run(
          (id) => `echo "${id} line ${i}"; exit ${i}`,
          (text) => {
            lines.push(text);
            return false;
          },
        ),
      ),
    );
    assert.deepEqual(
      many.map((m) => m.code),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.deepEqual(lines.sort(), Array.from({ length: 20 }, (_, i) => `line ${i}`).sort());
    // Sourced in the launcher's subshell: a command's status, stderr and lines; a killed command is reported.
    const seen: string[] = [];
    const sourced = await l.run(
      (id) => `sh -c 'echo "${id} hello"; echo err >&2; exit 4'`,
      (text) => {
        seen.push(text);
        return false;
      },
      true,
    );
    assert.deepEqual(sourced, { code: 4, stderr: 'err\n' });
    assert.deepEqual(seen, ['hello']);
    assert.equal((await l.run(() => `sh -c 'kill -9 $$'`, undefined, true)).code, 137);
    const folder = await l.folder();
    assert.deepEqual(readdirSync(folder), [], 'scripts and stderr files are removed');
  } finally {
    await l.close();
    rmSync(fallback, { recursive: true, force: true });
  }
});

test('a script can be left running once it reports; a dead launcher fails waiters and is replaced', async () => {
  const fallback = mkdtempSync(join(tmpdir(), 'lzr-launcher-'));
  const l = new Launcher(fallback, PATH);
  const pids: number[] = [];
  const pidOf = (text: string) => {
    const m = /^pid (\d+)$/.exec(text);
    if (m) pids.push(Number(m[1]));
    return m;
  };
  const me = 'cd -P /proc/self && me=${PWD#/proc/}';
  try {
    const started = await l.run(
      (id) => `${me}; echo "${id} pid $me"; echo "${id} up"; exec sleep 30`,
      (text) => !pidOf(text) && text === 'up',
    );
    assert.deepEqual(started, { stderr: '' }, 'detached: no exit code');
    let reported: () => void = () => undefined;
    const pidSeen = new Promise<void>((r) => (reported = r));
    const waiting = l.run(
      (id) => `${me}; echo "${id} pid $me"; exec sleep 30`,
      (text) => {
        if (pidOf(text)) reported();
        return false;
      },
    );
    await pidSeen;
    const launcher = l.pid();
    assert.ok(launcher !== undefined);
    process.kill(launcher, 'SIGKILL');
    await assert.rejects(waiting, /launcher exited/);
    assert.deepEqual(await l.run(() => 'exit 4'), { code: 4, stderr: '' }, 'a new launcher takes over');
    assert.notEqual(l.pid(), launcher);
    assert.equal(pids.length, 2);
    for (const pid of pids) assert.ok(existsSync(`/proc/${pid}`), 'scripts outlive their launcher');
  } finally {
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await l.close();
    rmSync(fallback, { recursive: true, force: true });
  }
});
