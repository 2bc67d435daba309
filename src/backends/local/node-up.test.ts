import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readWhole } from '../file-read.ts';
import { NODE_ROOT_DIR, type NodeImage, type NodeSpec, type ProcessSpec } from '../port.ts';
import { LocalNodeExecutor } from './node-executor.ts';
import { tinyNodeImage } from './tiny-image.fixture.ts';

/** Holder bring-up (node-up.c): PID 1, the marker, the node layer. */

async function fixture() {
  const dataDir = mkdtempSync(join(tmpdir(), 'lzr-nodeup-'));
  return { dataDir, ...(await tinyNodeImage(dataDir)) };
}

function executor(f: Awaited<ReturnType<typeof fixture>>): LocalNodeExecutor {
  return new LocalNodeExecutor({ dataDir: f.dataDir, regions: f.regions });
}

const spec = (nodeId: string, image: NodeImage): NodeSpec => ({
  accountName: 'acc',
  poolId: 'pool',
  nodeId,
  hostname: nodeId,
  image,
  size: { name: 'standard_a1_v2', cores: 1, memoryMB: 512, tempDiskGB: 10 },
  isDedicated: true,
});

const proc = (commandLine: string): ProcessSpec => ({
  commandLine,
  environment: { PATH: '/usr/bin:/bin' },
  elevation: 'admin',
  workingDir: `${NODE_ROOT_DIR}/workitems/job/task/wd`,
  stdoutFile: 'workitems/job/task/stdout.txt',
  stderrFile: 'workitems/job/task/stderr.txt',
});

/** Runs `commandLine` as root in the node and returns its stdout. */
async function output(x: LocalNodeExecutor, nodeId: string, commandLine: string): Promise<string> {
  const r = await x.exec(nodeId, proc(commandLine));
  assert.equal(r.exitCode, 0, commandLine);
  return (await readWhole(x, nodeId, 'workitems/job/task/stdout.txt')).content.toString();
}

const holderPid = (dataDir: string, nodeId: string) =>
  Number(readFileSync(join(dataDir, 'nodes', nodeId, 'holder.pid'), 'utf8').trim());

/** Lines of /proc/<pid>/status, by field. */
function status(pid: number): Map<string, string> {
  const lines = readFileSync(`/proc/${String(pid)}/status`, 'utf8').split('\n');
  return new Map(lines.map((l) => l.split(/:\s+/) as [string, string]));
}

if (process.getuid?.() !== 0) {
  test('node bring-up', { skip: 'needs root' }, () => undefined);
} else {
  test(`PID 1 reaps orphans, keeps no dropped capability and carries the node's marker`, async () => {
    const f = await fixture();
    const x = executor(f);
    try {
      await x.boot(spec('n1', f.image));
      const pid = holderPid(f.dataDir, 'n1');
      const argv = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').split('\0');
      assert.ok(argv.includes('lazurite-node=n1'), argv.join(' '));
      for (const field of ['CapBnd', 'CapPrm', 'CapEff']) {
        const caps = BigInt(`0x${status(pid).get(field) ?? ''}`);
        assert.equal(caps & (1n << 27n), 0n, `no mknod in ${field}`);
        assert.equal(caps & (1n << 19n), 0n, `no ptrace in ${field}`);
      }
      // An orphan (its parent shell exits at once) is handed to PID 1, which must reap it once it ends.
      await output(x, 'n1', '(sleep 0.2 &) ; echo started');
      const zombies = await output(
        x,
        'n1',
        'sleep 0.4; n=0; while [ $n -lt 50 ] && grep -q ") Z" /proc/[0-9]*/stat 2>/dev/null; do sleep 0.1; n=$((n+1)); done; grep -l ") Z" /proc/[0-9]*/stat 2>/dev/null | wc -l',
      );
      assert.equal(zombies.trim(), '0', 'no zombie left in the node');
      assert.equal(
        (await output(x, 'n1', 'cat /proc/1/cmdline | tr "\\0" " "')).includes('lazurite-node=n1'),
        true,
      );
    } finally {
      await x.close();
      rmSync(f.dataDir, { recursive: true, force: true });
    }
  });

  test(`a holder caught half-way by a crash is killed and the node boots afresh`, async () => {
    const f = await fixture();
    const x = executor(f);
    try {
      await x.boot(spec('n2', f.image));
      await x.stop('n2');
      // What a crash during a boot leaves: holder.pid naming a process whose marker is not final yet
      // (`lazurite-boot=<id>` until complete).
      const stale = spawn('sh', ['-c', 'sleep 600; :', 'lazurite-boot=n2'], { stdio: 'ignore' });
      const gone = new Promise((r) => stale.once('exit', r));
      writeFileSync(join(f.dataDir, 'nodes', 'n2', 'holder.pid'), `${String(stale.pid)}\n`);
      const y = executor(f);
      await y.boot(spec('n2', f.image));
      await gone;
      assert.notEqual(holderPid(f.dataDir, 'n2'), stale.pid);
      assert.equal(await output(y, 'n2', 'hostname'), 'n2\n');
      await y.close();
    } finally {
      await x.close();
      rmSync(f.dataDir, { recursive: true, force: true });
    }
  });

  test(`a fresh node gets the auto-user from the node layer (no /etc in its upper); a node that dropped it gets it back`, async () => {
    const f = await fixture();
    const x = executor(f);
    try {
      await x.boot(spec('n3', f.image));
      assert.equal(existsSync(join(f.dataDir, 'nodes', 'n3', 'upper', 'etc')), false, 'nothing copied up');
      assert.match(
        await output(x, 'n3', 'grep ^_azbatch: /etc/passwd /etc/group'),
        /passwd:_azbatch:x:1000:1000:/,
      );
      await output(
        x,
        'n3',
        'grep -v ^_azbatch: /etc/passwd > /tmp/p && cat /tmp/p > /etc/passwd && echo done',
      );
      await x.stop('n3');
      await x.boot(spec('n3', f.image));
      const passwd = await output(x, 'n3', 'cat /etc/passwd');
      assert.equal(passwd.split('\n').filter((l) => l.startsWith('_azbatch:')).length, 1, passwd);
      // A node without /etc/group gets one made by node-up, owned by the node's root (stored as uid 0).
      await output(x, 'n3', 'rm /etc/group && echo done');
      await x.stop('n3');
      await x.boot(spec('n3', f.image));
      assert.equal(
        await output(x, 'n3', 'cat /etc/group; stat -c %u:%g /etc/group'),
        '_azbatch:x:1000:\n0:0\n',
      );
      assert.equal(statSync(join(f.dataDir, 'nodes', 'n3', 'upper', 'etc', 'group')).uid, 0);
    } finally {
      await x.close();
      rmSync(f.dataDir, { recursive: true, force: true });
    }
  });

  test(`a node that deleted its Batch folders gets them back (0755; the shared one 3775, group _azbatchgrp) when it boots again`, async () => {
    const f = await fixture();
    const x = executor(f);
    try {
      await x.boot(spec('n4', f.image));
      await output(x, 'n4', 'echo kept > /mnt/kept; echo done');
      // The image has /mnt: deleting it leaves a whiteout in the node's upper.
      assert.equal((await x.exec('n4', proc('cd / && rm -rf /mnt'))).exitCode, 0);
      await x.stop('n4');
      await x.boot(spec('n4', f.image));
      const modes = await output(
        x,
        'n4',
        'stat -c %a /mnt/batch/tasks/startup; stat -c %a:%g /mnt/batch/tasks/shared; ls /mnt',
      );
      assert.equal(modes, '755\n3775:20000\nbatch\n');
      assert.deepEqual((await x.listFiles('n4', '', false)).map((e) => e.name).sort(), [
        'fsmounts',
        'shared',
        'startup',
        'workitems',
      ]);
    } finally {
      await x.close();
      rmSync(f.dataDir, { recursive: true, force: true });
    }
  });
}
