import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readWhole } from '../file-read.ts';
import { NODE_ROOT_DIR, type NodeImage, type NodeSpec, type ProcessSpec } from '../port.ts';
import { LocalNodeExecutor } from './node-executor.ts';
import { MIN_NODE_DISK_MB, NodeOwnDisks } from './node-own-disk.ts';
import { tinyNodeImage } from './tiny-image.fixture.ts';

const CAP_MB = 64;
const size = { name: 'standard_d2s_v3', cores: 2, memoryMB: 512, tempDiskGB: 16 };
const spec = (nodeId: string, image: NodeImage): NodeSpec => ({
  accountName: 'acc',
  poolId: 'pool',
  nodeId,
  hostname: `host-${nodeId}`,
  image,
  size,
  isDedicated: true,
});
const proc = (commandLine: string, elevation: 'admin' | 'nonadmin' = 'nonadmin'): ProcessSpec => ({
  commandLine,
  environment: { PATH: '/usr/bin:/bin' },
  elevation,
  workingDir: `${NODE_ROOT_DIR}/workitems/job/task/wd`,
  stdoutFile: 'workitems/job/task/stdout.txt',
  stderrFile: 'workitems/job/task/stderr.txt',
});

/** Whether a loop device on the host is backed by `file`. */
const loopOf = (file: string): string => execFileSync('losetup', ['-j', file], { encoding: 'utf8' }).trim();
/** Host disk bytes a (sparse) file holds. */
const allocated = (file: string): number => statSync(file).blocks * 512;

test('a node disk is its size temporary disk, at most the cap', () => {
  const disks = new NodeOwnDisks({
    nodesDir: '/nonexistent/nodes',
    imagesDir: '/nonexistent/disks',
    helper: '',
  });
  assert.equal(disks.sizeMB(size), 16 * 1024);
  const capped = new NodeOwnDisks({ nodesDir: '/x', imagesDir: '/y', helper: '', capMB: 100 });
  assert.equal(capped.sizeMB(size), 100);
  assert.equal(capped.sizeMB({ ...size, tempDiskGB: 0 }), MIN_NODE_DISK_MB);
  assert.throws(
    () => new NodeOwnDisks({ nodesDir: '/x', imagesDir: '/y', helper: '', capMB: 8 }),
    /at least 32 MB/,
  );
});

if (process.getuid?.() !== 0) {
  test('node disks', { skip: 'needs root' }, () => undefined);
} else {
  describe('node disks', () => {
    let dataDir: string;
    let x: LocalNodeExecutor;
    let image: NodeImage;
    let executor: () => LocalNodeExecutor;
    const run = async (nodeId: string, commandLine: string, elevation?: 'admin' | 'nonadmin') => {
      const r = await x.exec(nodeId, proc(commandLine, elevation));
      const read = (file: string) => readWhole(x, nodeId, file).then((c) => c.content.toString());
      return {
        ...r,
        stdout: await read('workitems/job/task/stdout.txt'),
        stderr: await read('workitems/job/task/stderr.txt'),
      };
    };
    const imageFile = (nodeId: string) => join(dataDir, 'node-disks', `${nodeId}.ext4`);

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'lzr-node-disk-'));
      const tiny = await tinyNodeImage(dataDir);
      image = tiny.image;
      executor = () => new LocalNodeExecutor({ dataDir, regions: tiny.regions, nodeDiskMB: CAP_MB });
      x = executor();
      await x.boot(spec('a', image));
      await x.boot(spec('b', image));
    });
    after(async () => {
      for (const id of await x.list()) await x.destroy(id);
      await x.close();
      await x.detachDiskCaches();
      rmSync(dataDir, { recursive: true, force: true });
    });

    test("df in the node shows the node's own disk, of the capped size, sparse on the host", async () => {
      for (const path of ['/', NODE_ROOT_DIR]) {
        const r = await run('a', `df -k ${path} | tail -1`);
        const total = Number(r.stdout.trim().split(/\s+/)[1]);
        assert.ok(total > (CAP_MB - 8) * 1024 && total <= CAP_MB * 1024, `df ${path}: ${r.stdout}`);
      }
      assert.equal(statSync(imageFile('a')).size, CAP_MB * 1024 * 1024);
      assert.ok(allocated(imageFile('a')) < 8 * 1024 * 1024, 'a fresh disk holds little of the host disk');
    });

    test('a task filling the disk gets "No space left on device"; the host file stays within the size', async () => {
      const fill = `dd if=/dev/zero of=fill bs=1M count=${String(4 * CAP_MB)} 2>/dev/shm/dd.err; rc=$?; `;
      const filled = await run(
        'a',
        `${fill}ls -l fill >/dev/shm/ls; rm -f fill; cat /dev/shm/dd.err /dev/shm/ls >&2; exit $rc`,
      );
      assert.notEqual(filled.exitCode, 0);
      assert.match(filled.stderr, /No space left on device/);
      const written = Number(/\s(\d+)\s+\w{3}\s/.exec(filled.stderr)?.[1]);
      assert.ok(written > (CAP_MB / 2) * 1024 * 1024 && written <= CAP_MB * 1024 * 1024, filled.stderr);
      assert.ok(
        allocated(imageFile('a')) <= (CAP_MB + 1) * 1024 * 1024,
        'the image never grows past its size',
      );
      // The other node's disk was not touched, and this node runs tasks again once the file is gone.
      assert.ok(allocated(imageFile('b')) < 8 * 1024 * 1024);
      assert.equal((await run('a', 'echo again')).stdout, 'again\n');
      assert.equal((await run('b', 'echo other')).stdout, 'other\n');
    });

    test('a node whose disk is full still starts tasks and reboots', async () => {
      const fill = await run(
        'a',
        `dd if=/dev/zero of=${NODE_ROOT_DIR}/shared/fill bs=1M count=${String(4 * CAP_MB)}`,
      );
      assert.notEqual(fill.exitCode, 0);
      const full = await run('a', 'df -k / | tail -1');
      assert.equal(full.exitCode, 0);
      assert.ok(Number(full.stdout.trim().split(/\s+/)[3]) < 1024, `nearly nothing left: ${full.stdout}`);
      await x.stop('a');
      await x.boot(spec('a', image));
      assert.equal((await run('a', `rm ${NODE_ROOT_DIR}/shared/fill && echo freed`)).stdout, 'freed\n');
    });

    test('node root can neither unmount nor remount its disk, nor grow it', async () => {
      const r = await run(
        'a',
        [
          `umount -l ${NODE_ROOT_DIR} 2>/dev/null && echo unmounted`,
          'umount -l / 2>/dev/null && echo unmounted-root',
          'mount -o remount,rw / 2>/dev/null && echo remounted',
          `ls /dev/loop* 2>/dev/null && echo loop-visible`,
          'df -k / | tail -1',
        ].join('; '),
        'admin',
      );
      assert.doesNotMatch(r.stdout, /unmounted|remounted|loop-visible/);
      assert.ok(Number(r.stdout.trim().split(/\s+/)[1]) <= CAP_MB * 1024, r.stdout);
    });

    test('a stopped and closed node keeps its files; destroy removes the mount, loop device and image', async () => {
      await run('b', `echo kept > ${NODE_ROOT_DIR}/shared/kept`);
      await x.close();
      assert.equal(loopOf(imageFile('b')), '', 'close unmounts the disks (and their loop devices detach)');
      x = executor();
      await x.boot(spec('b', image));
      assert.equal((await run('b', `cat ${NODE_ROOT_DIR}/shared/kept`)).stdout, 'kept\n');
      assert.notEqual(loopOf(imageFile('b')), '');
      await x.destroy('b');
      assert.equal(existsSync(imageFile('b')), false);
      assert.equal(existsSync(join(dataDir, 'nodes', 'b')), false);
      assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(`${dataDir}/nodes/b `));
      await x.boot(spec('a', image));
    });

    test('after a crash (no close), a new executor destroys a node it never booted: holder, mount, image', async () => {
      await x.boot(spec('c', image));
      assert.notEqual(loopOf(imageFile('c')), '');
      // The old executor is dropped as a killed server would be: its holders and mounts stay behind.
      x = executor();
      assert.deepEqual((await x.list()).sort(), ['a', 'c']);
      await x.destroy('c');
      assert.equal(existsSync(imageFile('c')), false);
      assert.equal(existsSync(join(dataDir, 'nodes', 'c')), false);
      assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(`${dataDir}/nodes/c `));
    });

    test('images whose node folder is gone (a crash in between) are deleted at the next listing', async () => {
      mkdirSync(join(dataDir, 'node-disks'), { recursive: true });
      writeFileSync(imageFile('ghost'), '');
      writeFileSync(join(dataDir, 'node-disks', 'half.ext4.partial'), '');
      assert.deepEqual(await x.list(), ['a']);
      assert.equal(existsSync(imageFile('ghost')), false);
      assert.equal(existsSync(join(dataDir, 'node-disks', 'half.ext4.partial')), false);
      assert.equal(existsSync(imageFile('a')), true);
    });
  });
}
