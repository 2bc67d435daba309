import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readWhole } from '../file-read.ts';
import { NODE_ROOT_DIR, type NodeSpec, type NodeUserAccount, type ProcessSpec } from '../port.ts';
import { LocalNodeExecutor } from './node-executor.ts';
import { userLines } from './node-users.ts';
import { tinyNodeImage } from './tiny-image.fixture.ts';

/** Users inside a node (ADR 0026), attacked from the node: task-scope users, pool accounts, the shared folder. */

/** Tries PTRACE_ATTACH on the pid given; prints `attached`, `EPERM` or the error. */
const PTRACE_PROBE = `#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  if (ptrace(PTRACE_ATTACH, atoi(argv[1]), 0, 0) == 0) { puts("attached"); return 0; }
  puts(errno == EPERM ? "EPERM" : strerror(errno));
  return 1;
}
`;

const accounts: NodeUserAccount[] = [
  // "correct horse", SHA-512 crypt (as unixcrypt and `openssl passwd -6` make it).
  {
    name: 'alice',
    uid: 1234,
    gid: 1234,
    passwordHash:
      '$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0',
    admin: false,
  },
  { name: 'boss', uid: 30001, gid: 30001, passwordHash: '$6$x$y', admin: true },
];

test('the users a node layer adds: auto-users, 512 task users, the shared group, accounts; none the image has', () => {
  const lines = userLines(accounts, (file, name) => file === 'passwd' && name === 'boss');
  assert.equal(lines.passwd.length, 1 + 512 + 1);
  assert.ok(lines.passwd.includes('_azbatch:x:1000:1000::/home/_azbatch:/bin/sh'));
  assert.ok(lines.passwd.includes('_azbatchtask_1:x:20001:20001::/nonexistent:/bin/sh'));
  assert.ok(lines.passwd.includes('_azbatchtask_512:x:20512:20512::/nonexistent:/bin/sh'));
  assert.ok(lines.passwd.includes('alice:x:1234:1234::/home/alice:/bin/sh'));
  assert.ok(!lines.passwd.some((l) => l.startsWith('boss:')), 'the image has boss already');
  const shared = lines.group.find((l) => l.startsWith('_azbatchgrp:'));
  assert.match(shared ?? '', /^_azbatchgrp:x:20000:_azbatch,_azbatchtask_1,.*,_azbatchtask_512,alice,boss$/);
  assert.ok(lines.shadow.includes(`alice:${accounts[0]?.passwordHash ?? ''}:19000:0:99999:7:::`));
  assert.deepEqual(lines.sudoers, ['boss ALL=(ALL) NOPASSWD:ALL']);
  for (const l of [...lines.passwd, ...lines.group]) assert.ok(!/4[0-9]{4}/.test(l.split(':')[2] ?? ''), l);
});

if (process.getuid?.() !== 0) {
  test('users inside local nodes', { skip: 'needs root' }, () => undefined);
} else {
  attacks();
}

function attacks(): void {
  describe('users inside local nodes', () => {
    let dataDir: string;
    let x: LocalNodeExecutor;
    const proc = (commandLine: string, dir: string, extra: Partial<ProcessSpec> = {}): ProcessSpec => ({
      commandLine,
      environment: { PATH: '/usr/bin:/bin', AZ_BATCH_TASK_USER: '_azbatch' },
      elevation: 'nonadmin',
      workingDir: `${NODE_ROOT_DIR}/workitems/job/${dir}/wd`,
      stdoutFile: `workitems/job/${dir}/stdout.txt`,
      stderrFile: `workitems/job/${dir}/stderr.txt`,
      ...extra,
    });
    const run = async (commandLine: string, dir: string, extra: Partial<ProcessSpec> = {}) => {
      const r = await x.exec('u', proc(commandLine, dir, extra));
      const stdout = (await readWhole(x, 'u', `workitems/job/${dir}/stdout.txt`)).content.toString();
      return { exitCode: r.exitCode, stdout };
    };
    const task = (key: string): Partial<ProcessSpec> => ({ user: { kind: 'task', key } });
    const account = (name: string): Partial<ProcessSpec> => {
      const a = accounts.find((b) => b.name === name);
      assert.ok(a);
      return {
        elevation: a.admin ? 'admin' : 'nonadmin',
        user: { kind: 'account', name, uid: a.uid, gid: a.gid, admin: a.admin },
      };
    };
    const shared = `${NODE_ROOT_DIR}/shared`;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'lzr-users-'));
      const { regions, image } = await tinyNodeImage(dataDir);
      x = new LocalNodeExecutor({ dataDir, regions });
      const spec: NodeSpec = {
        accountName: 'acc',
        poolId: 'pool',
        nodeId: 'u',
        hostname: 'u',
        image,
        size: { name: 'standard_d2s_v3', cores: 2, memoryMB: 768, tempDiskGB: 16 },
        isDedicated: true,
        userAccounts: accounts,
      };
      await x.boot(spec);
      // A static ptrace(PTRACE_ATTACH) probe (the tiny image has no tool for it), put in the node by its root.
      const source = join(dataDir, 'ptrace-probe.c');
      writeFileSync(source, PTRACE_PROBE);
      execFileSync('cc', ['-static', '-O1', '-o', `${source}.bin`, source]);
      const install = proc('cat > /ptrace-probe && chmod 755 /ptrace-probe', 'install', {
        elevation: 'admin',
        stdin: readFileSync(`${source}.bin`),
      });
      assert.equal((await x.exec('u', install)).exitCode, 0);
    });
    after(async () => {
      await x.destroy('u');
      await x.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test('each task-scope task has a user of its own (all its processes), in the shared group; freed when forgotten', async () => {
      const a = await run('id -u; id -un; id -G; echo $AZ_BATCH_TASK_USER', 'a', task('job/a/1'));
      const [uid, name, groups, env] = a.stdout.trim().split('\n');
      assert.match(uid ?? '', /^20[0-5]\d\d$/);
      assert.equal(name, `_azbatchtask_${String(Number(uid) - 20000)}`);
      assert.deepEqual((groups ?? '').split(' ').sort(), [uid, '20000'].sort());
      assert.equal(env, name, 'AZ_BATCH_TASK_USER names the task user');
      assert.equal(
        (await run('id -u', 'a', task('job/a/1'))).stdout,
        `${uid ?? ''}\n`,
        'same run, same user',
      );
      const b = await run('id -u', 'b', task('job/b/1'));
      assert.notEqual(b.stdout, `${uid ?? ''}\n`);
      await x.forgetRun('u', 'job/a/1');
      const table = readFileSync(join(dataDir, 'nodes', 'u', 'task-users'), 'utf8');
      assert.doesNotMatch(table, /job\/a\/1/);
      assert.match(table, /job\/b\/1/);
      await x.forgetRun('u', 'job/b/1');
    });

    test("a task-scope task cannot read another's 0600 file, nor signal, ptrace or inspect its processes", async () => {
      const writer = await run(
        `echo secret > ${shared}/a-secret && chmod 600 ${shared}/a-secret && cat ${shared}/a-secret && stat -c %G ${shared}/a-secret`,
        'w',
        task('job/w/1'),
      );
      assert.equal(
        writer.stdout,
        'secret\n_azbatchgrp\n',
        'the shared folder is writable; files take its group',
      );
      const abort = new AbortController();
      const sleeper = x.exec(
        'u',
        proc(`echo $$ > ${shared}/sleeper.pid; exec sleep 60`, 's', {
          ...task('job/s/1'),
          signal: abort.signal,
        }),
      );
      try {
        let pid = '';
        for (let i = 0; i < 200 && pid === ''; i++) {
          pid = (
            await run(`cat ${shared}/sleeper.pid 2>/dev/null || true`, 'poll', { elevation: 'admin' })
          ).stdout.trim();
          if (pid === '') await new Promise((r) => setTimeout(r, 25));
        }
        assert.match(pid, /^\d+$/);
        const probe = [
          `cat ${shared}/a-secret 2>/dev/null || echo read-refused`,
          `kill -0 ${pid} 2>&1 || echo kill-refused`,
          `kill -9 ${pid} 2>&1 || echo kill9-refused`,
          `cat /proc/${pid}/environ 2>/dev/null || echo ptrace-read-refused`,
          `ls /proc/${pid}/fd 2>/dev/null || echo fd-refused`,
          `/ptrace-probe ${pid}`,
        ].join('; ');
        for (const who of [task('job/r/1'), {}, account('alice')]) {
          const lines = (await run(probe, 'r', who)).stdout.trim().split('\n');
          assert.deepEqual(
            lines.filter((l) => /refused$|^EPERM$|^attached$/.test(l)),
            ['read-refused', 'kill-refused', 'kill9-refused', 'ptrace-read-refused', 'fd-refused', 'EPERM'],
            JSON.stringify(who),
          );
          assert.equal(lines.filter((l) => l.endsWith('Operation not permitted')).length, 2, lines.join('|'));
        }
        const alive = await run(`kill -0 ${pid} && echo alive`, 'k', { elevation: 'admin' });
        assert.equal(alive.stdout, 'alive\n', 'the sleeper survived the attempts');
        // The probe is real: the sleeper's own user (same run) may trace it.
        assert.equal((await run(`/ptrace-probe ${pid}`, 'own', task('job/s/1'))).stdout, 'attached\n');
      } finally {
        abort.abort();
        await sleeper;
      }
    });

    test('no non-admin user can write /etc or read /etc/shadow; the shared folder is writable by each', async () => {
      for (const who of [task('job/e/1'), {}, account('alice')]) {
        const r = await run(
          `touch /etc/x 2>/dev/null || echo etc-refused; cat /etc/shadow >/dev/null 2>&1 || echo shadow-refused; echo hi > ${shared}/w-$(id -u) && echo shared-ok`,
          'e',
          who,
        );
        assert.equal(r.stdout, 'etc-refused\nshadow-refused\nshared-ok\n', JSON.stringify(who));
      }
    });

    test('a pool account runs as its uid and gid, its password hash in /etc/shadow; an admin account has sudo', async () => {
      const alice = await run(
        'id -u; id -g; id -un; grep NoNewPrivs /proc/self/status',
        'al',
        account('alice'),
      );
      assert.equal(alice.stdout, '1234\n1234\nalice\nNoNewPrivs:\t1\n');
      const root = await run(
        'grep ^alice: /etc/shadow | cut -d: -f2; stat -c %a /etc/shadow; cat /etc/sudoers.d/lazurite-accounts',
        'sh',
        { elevation: 'admin' },
      );
      // The image's own /etc/shadow keeps its mode (tiny's is 0640, group root); never world-readable.
      assert.match(root.stdout, /^\$6\$saltsalt\$\S+\n6[04]0\nboss ALL=\(ALL\) NOPASSWD:ALL\n$/);
      assert.ok(root.stdout.startsWith(`${accounts[0]?.passwordHash ?? ''}\n`));
      const boss = await run('id -u; grep NoNewPrivs /proc/self/status', 'bo', account('boss'));
      assert.equal(boss.stdout, '30001\nNoNewPrivs:\t0\n', 'an admin account may gain privileges (sudo)');
    });

    test('a user the server could not resolve (uid 0 for a non-root account) is refused by the node', async () => {
      await assert.rejects(
        x.exec(
          'u',
          proc('id -u', 'z', { user: { kind: 'account', name: 'ghost', uid: 0, gid: 0, admin: false } }),
        ),
        /malformed/,
      );
    });
  });
}
