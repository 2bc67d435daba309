import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packDirectory, putManifest } from '../../content/manifests.ts';
import { readWhole } from '../file-read.ts';
import { NODE_ROOT_DIR, type NodeSpec, type ProcessSpec } from '../port.ts';
import { LocalNodeExecutor } from './node-executor.ts';
import { tinyNodeImage } from './tiny-image.fixture.ts';

/** Container runs in a local node (ADR 0039): the image's root, the node's task folders, the node's isolation. */
if (process.getuid?.() !== 0) {
  test('container runs in local nodes', { skip: 'needs root' }, () => undefined);
} else {
  describe('container runs in local nodes', () => {
    let dataDir: string;
    let x: LocalNodeExecutor;
    let container: { region: string; filesystem: string };

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'lzr-container-'));
      const { regions, image } = await tinyNodeImage(dataDir);
      // The container image: busybox as /bin/sh, a program the node image lacks, a root-owned folder.
      const root = join(dataDir, 'container');
      mkdirSync(join(root, 'bin'), { recursive: true });
      mkdirSync(join(root, 'opt', 'app'), { recursive: true });
      mkdirSync(join(root, 'tmp'), { mode: 0o1777 });
      copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
      for (const applet of ['sh', 'cat', 'id', 'stat', 'touch', 'hostname', 'ls'])
        symlinkSync('busybox', join(root, 'bin', applet));
      writeFileSync(join(root, 'opt', 'app', 'container-hello'), '#!/bin/sh\necho "hello $1"\n', {
        mode: 0o755,
      });
      const store = await regions.get(image.region);
      const layers = [await packDirectory(store, root)];
      container = {
        region: image.region,
        filesystem: await putManifest(store, { kind: 'filesystem', sizeGB: 1, layers }),
      };
      x = new LocalNodeExecutor({ dataDir, regions });
      const spec: NodeSpec = {
        accountName: 'acc',
        poolId: 'pool',
        nodeId: 'c',
        hostname: 'cnode',
        image,
        size: { name: 'standard_d2s_v3', cores: 2, memoryMB: 768, tempDiskGB: 16 },
        isDedicated: true,
      };
      await x.boot(spec);
    });
    after(async () => {
      await x.destroy('c');
      await x.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const proc = (commandLine: string, dir: string, extra: Partial<ProcessSpec> = {}): ProcessSpec => ({
      commandLine,
      environment: {
        PATH: '/opt/app:/bin',
        AZ_BATCH_TASK_WORKING_DIR: `${NODE_ROOT_DIR}/workitems/j/${dir}/wd`,
      },
      elevation: 'nonadmin',
      workingDir: `${NODE_ROOT_DIR}/workitems/j/${dir}/wd`,
      stdoutFile: `workitems/j/${dir}/stdout.txt`,
      stderrFile: `workitems/j/${dir}/stderr.txt`,
      container,
      ...extra,
    });
    const run = async (commandLine: string, dir: string, extra: Partial<ProcessSpec> = {}) => {
      const r = await x.exec('c', proc(commandLine, dir, extra));
      const out = await readWhole(x, 'c', `workitems/j/${dir}/stdout.txt`);
      const err = await readWhole(x, 'c', `workitems/j/${dir}/stderr.txt`);
      return { exitCode: r.exitCode, stdout: out.content.toString(), stderr: err.content.toString() };
    };

    test("a program only the image has runs, in the task's working directory, writing to the node's task folder", async () => {
      const r = await run('container-hello world; pwd; echo kept > out.txt', 'a');
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, `hello world\n${NODE_ROOT_DIR}/workitems/j/a/wd\n`);
      const kept = await readWhole(x, 'c', 'workitems/j/a/wd/out.txt');
      assert.equal(kept.content.toString(), 'kept\n', 'the working directory is the node one');
      const plainSpec = proc('container-hello', 'b');
      delete plainSpec.container;
      const plain = await x.exec('c', plainSpec);
      assert.notEqual(plain.exitCode, 0, 'the node image itself lacks the program');
    });

    test("inside the node's isolation: its hostname, its users (image files are the node's root's), no mounts", async () => {
      const r = await run('hostname; id -u; stat -c %u /opt/app/container-hello; touch /opt/x; echo $?', 'c');
      assert.equal(r.exitCode, 0, r.stderr);
      const [hostname, uid, owner, touched] = r.stdout.trim().split('\n');
      assert.deepEqual([hostname, uid, owner], ['cnode', '1000', '0']);
      assert.notEqual(touched, '0', 'the auto-user cannot write a root folder of the image');
      const admin = await run('touch /opt/x && echo ok; busybox mount -t tmpfs t /tmp; echo $?', 'd', {
        elevation: 'admin',
      });
      const [ok, mounted] = admin.stdout.trim().split('\n');
      assert.equal(ok, 'ok', 'node root writes the container root (its own upper)');
      assert.notEqual(mounted, '0', 'mounting stays refused in a container');
      const again = await run('ls /opt', 'e', { elevation: 'admin' });
      assert.equal(again.stdout, 'app\n', "each run starts from the image: the last run's write is gone");
    });
  });
}
