import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chunkRawFile, packDirectory, putManifest } from '../../content/manifests.ts';
import { regionPaths, RegionStores } from '../../content/regions.ts';
import { buildTinyRootfs } from '../../content/rootfs/tiny.ts';
import { executorConformance } from '../conformance.ts';
import { readWhole } from '../file-read.ts';
import { NODE_ROOT_DIR, NodeFileNotFound, type NodeImage, type NodeSpec, type ProcessSpec } from '../port.ts';
import { LocalNodeExecutor } from './node-executor.ts';
import { pidsMax } from './cgroups.ts';
import { attackNames, attackScript, hostFacts } from './node-attacks.fixture.ts';

const REGION = 'westeurope';

/** A data disk file: ext4 (made from `files`, optionally labelled) or all zeros. */
function diskFile(
  dir: string,
  name: string,
  files?: Record<string, string>,
  label?: string,
  type = 'ext4',
): string {
  const file = join(dir, `${name}.raw`);
  if (!files) {
    writeFileSync(file, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '8M', file]);
    return file;
  }
  const content = join(dir, `${name}-content`);
  mkdirSync(content);
  for (const [path, text] of Object.entries(files)) writeFileSync(join(content, path), text);
  execFileSync('mke2fs', [
    '-q',
    '-F',
    '-t',
    type,
    ...(label ? ['-L', label] : []),
    '-d',
    content,
    file,
    '16M',
  ]);
  return file;
}

/** A data dir with a region holding two images: tiny alone, and tiny with four data disks and an fstab. */
async function fixture() {
  const dataDir = mkdtempSync(join(tmpdir(), 'lzr-nodes-'));
  const regions = new RegionStores(regionPaths(dataDir, [REGION], {}));
  const store = await regions.get(REGION);
  const build = join(dataDir, 'build');
  const root = join(build, 'root');
  mkdirSync(root, { recursive: true });
  await buildTinyRootfs(root);
  writeFileSync(join(root, 'etc', 'baked'), 'from the image\n');
  const os = await putManifest(store, {
    kind: 'filesystem',
    sizeGB: 1,
    layers: [await packDirectory(store, root)],
  });
  writeFileSync(
    join(root, 'etc', 'fstab'),
    [
      '/dev/disk/azure/scsi1/lun0 /data ext4 defaults 0 2',
      'LABEL=extra /extra ext4 defaults,nofail 0 2',
      '',
    ].join('\n'),
  );
  const osWithFstab = await putManifest(store, {
    kind: 'filesystem',
    sizeGB: 1,
    layers: [await packDirectory(store, root)],
  });
  const disks = [
    diskFile(build, 'lun0', { 'on-data': 'lun0\n' }),
    diskFile(build, 'lun1', { 'on-extra': 'lun1\n' }, 'extra'),
    // ext2, as the VM tests' busybox mke2fs makes: mounted through the ext4 driver, which can be idmapped.
    diskFile(build, 'lun2', { 'on-default': 'lun2\n' }, undefined, 'ext2'),
    diskFile(build, 'lun3'),
  ];
  const dataDisks = [];
  for (const [lun, file] of disks.entries())
    dataDisks.push({ lun, manifest: await chunkRawFile(store, file) });
  rmSync(build, { recursive: true, force: true });
  return {
    dataDir,
    regions,
    tiny: { region: REGION, osManifest: os, dataDisks: [] } as NodeImage,
    withDisks: { region: REGION, osManifest: osWithFstab, dataDisks } as NodeImage,
  };
}

const size = { name: 'standard_d2s_v3', cores: 2, memoryMB: 768, tempDiskGB: 16 };
const spec = (nodeId: string, image: NodeImage): NodeSpec => ({
  accountName: 'acc',
  poolId: 'pool',
  nodeId,
  hostname: `host-${nodeId}`,
  image,
  size,
  isDedicated: true,
});
const proc = (commandLine: string, extra: Partial<ProcessSpec> = {}): ProcessSpec => ({
  commandLine,
  environment: { PATH: '/usr/bin:/bin' },
  elevation: 'admin',
  workingDir: `${NODE_ROOT_DIR}/workitems/job/task/wd`,
  stdoutFile: 'workitems/job/task/stdout.txt',
  stderrFile: 'workitems/job/task/stderr.txt',
  ...extra,
});

/** Host processes whose argv contains `needle` as one argument (or joined with spaces, `joined`). */
function processesWith(needle: string, joined = false): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (joined ? argv.join(' ').includes(needle) : argv.includes(needle)) out.push(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}

if (process.getuid?.() !== 0) {
  test('local node executor', { skip: 'needs root' }, () => undefined);
} else {
  executorConformance('local', async () => {
    const f = await fixture();
    const executor = new LocalNodeExecutor({ dataDir: f.dataDir, regions: f.regions });
    return {
      executor,
      image: f.tiny,
      executes: true,
      cleanup: async () => {
        await executor.detachDiskCaches();
        rmSync(f.dataDir, { recursive: true, force: true });
      },
    };
  });
  localOnly();
  processProperties();
  plantedLinks();
}

/** The exe of the host processes whose argv has `needle`. */
function exesWith(needle: string): string[] {
  return processesWith(needle).map((pid) => readlinkSync(`/proc/${String(pid)}/exe`));
}

/** What a process in a node gets, and what starts it: the compiled helpers, no other way. */
function processProperties(): void {
  test('processes start through the compiled helpers, with default signals, a reduced bounding set and (user) no new privileges', async () => {
    const f = await fixture();
    const x = new LocalNodeExecutor({ dataDir: f.dataDir, regions: f.regions });
    try {
      for (const helper of Object.values(x.helpers))
        assert.ok(helper.startsWith(join(f.dataDir, 'bin', '')), helper);
      await x.boot(spec('props', f.tiny));
      for (const elevation of ['admin', 'nonadmin'] as const) {
        const r = await x.exec(
          'props',
          proc('grep -E "^(SigIgn|CapBnd|NoNewPrivs|Uid)" /proc/self/status', { elevation }),
        );
        assert.equal(r.exitCode, 0);
        const status = (await readWhole(x, 'props', 'workitems/job/task/stdout.txt')).content.toString();
        const field = (name: string) =>
          /^(\S+):\s+(\S+)/m.exec(status.split('\n').find((l) => l.startsWith(name)) ?? '')?.[2] ?? '';
        // SIGINT back at its default. SIGQUIT is not checked: the tiny image's busybox ash ignores it itself when
        // it execs a `-c` command.
        assert.equal(BigInt(`0x${field('SigIgn')}`) & 2n, 0n, `${elevation}: SIGINT at default`);
        const bounding = BigInt(`0x${field('CapBnd')}`);
        assert.equal(bounding & (1n << 27n), 0n, `${elevation}: no mknod`);
        assert.equal(bounding & (1n << 19n), 0n, `${elevation}: no ptrace`);
        assert.equal(field('NoNewPrivs'), elevation === 'admin' ? '0' : '1', elevation);
        assert.equal(field('Uid'), elevation === 'admin' ? '0' : '1000', elevation);
      }
      // The node's PID 1 is the node-up binary and its runner the enter-node binary, both built here.
      assert.deepEqual(exesWith('lazurite-node=props'), [x.helpers.nodeUp]);
      assert.deepEqual(exesWith('props'), [x.helpers.enterNode], 'the runner is the compiled enter-node');
      await x.destroy('props');
    } finally {
      await x.close();
      rmSync(f.dataDir, { recursive: true, force: true });
    }
  });
}

/** Links a task planted where a later run's files go are replaced or refused, never followed. */
function plantedLinks(): void {
  test('links planted at output files or the working directory are replaced or refused, never followed', async () => {
    const f = await fixture();
    const x = new LocalNodeExecutor({ dataDir: f.dataDir, regions: f.regions });
    try {
      await x.boot(spec('links', f.tiny));
      for (const elevation of ['admin', 'nonadmin'] as const) {
        const t = `${NODE_ROOT_DIR}/workitems/job/${elevation}`;
        const plant = `mkdir -p ${t} && ln -sf /etc/baked ${t}/stdout.txt && ln -sfn /etc ${t}/wd`;
        assert.equal((await x.exec('links', proc(plant))).exitCode, 0);
        const files = {
          elevation,
          stdoutFile: `workitems/job/${elevation}/stdout.txt`,
          stderrFile: `workitems/job/${elevation}/stderr.txt`,
        };
        const wd = { ...files, workingDir: `${t}/wd` };
        await assert.rejects(x.exec('links', proc('echo wd', wd)), /is not a folder of the node/);
        const r = await x.exec('links', proc('echo hi', { ...files, workingDir: `${t}/real` }));
        assert.equal(r.exitCode, 0, elevation);
        assert.equal((await readWhole(x, 'links', files.stdoutFile)).content.toString(), 'hi\n');
        await x.exec('links', proc('cat /etc/baked'));
        const baked = (await readWhole(x, 'links', 'workitems/job/task/stdout.txt')).content.toString();
        assert.equal(baked, 'from the image\n', `${elevation}: the link's target is untouched`);
      }
      await x.destroy('links');
    } finally {
      await x.close();
      rmSync(f.dataDir, { recursive: true, force: true });
    }
  });
}

function localOnly(): void {
  describe('local node executor', () => {
    let f: Awaited<ReturnType<typeof fixture>>;
    let x: LocalNodeExecutor;
    const out = async (nodeId: string, commandLine: string, extra: Partial<ProcessSpec> = {}) => {
      const r = await x.exec(nodeId, proc(commandLine, extra));
      const read = (file: string) => readWhole(x, nodeId, file).then((c) => c.content.toString());
      return {
        ...r,
        stdout: await read(extra.stdoutFile ?? 'workitems/job/task/stdout.txt'),
        stderr: await read(extra.stderrFile ?? 'workitems/job/task/stderr.txt'),
      };
    };
    before(async () => {
      f = await fixture();
      x = new LocalNodeExecutor({ dataDir: f.dataDir, regions: f.regions });
      await x.boot(spec('a', f.withDisks));
      await x.boot(spec('b', f.withDisks));
    });
    after(async () => {
      for (const id of await x.list()) await x.destroy(id);
      await x.close();
      await x.detachDiskCaches();
      rmSync(f.dataDir, { recursive: true, force: true });
    });

    test('an image file is in every node; a node write stays in that node', async () => {
      for (const id of ['a', 'b']) assert.equal((await out(id, 'cat /etc/baked')).stdout, 'from the image\n');
      assert.equal((await out('a', 'echo mine > /etc/baked && cat /etc/baked')).stdout, 'mine\n');
      assert.equal((await out('b', 'cat /etc/baked')).stdout, 'from the image\n');
      const cache = join(f.dataDir, 'cache', 'rootfs', f.withDisks.osManifest.slice(7), 'root', 'etc');
      assert.equal(readFileSync(join(cache, 'baked'), 'utf8'), 'from the image\n');
      assert.doesNotMatch(
        readFileSync(join(cache, 'passwd'), 'utf8'),
        /_azbatch/,
        'the auto-user is in the upper only',
      );
    });

    test('admin is uid 0; nonadmin is uid 1000 (_azbatch), without capabilities, cannot write /etc', async () => {
      assert.equal((await out('a', 'id -u')).stdout, '0\n');
      const nonadmin = {
        elevation: 'nonadmin' as const,
        workingDir: `${NODE_ROOT_DIR}/workitems/job/t2/wd`,
        stdoutFile: 'workitems/job/t2/stdout.txt',
        stderrFile: 'workitems/job/t2/stderr.txt',
      };
      const r = await out(
        'a',
        'id -u; id -un; grep CapEff /proc/self/status; stat -c %u .; touch /etc/x || echo refused',
        nonadmin,
      );
      assert.equal(r.stdout, '1000\n_azbatch\nCapEff:\t0000000000000000\n1000\nrefused\n');
      assert.equal((await out('a', 'exit 7', nonadmin)).exitCode, 7);
      // Every task may write the node's shared folder (AZ_BATCH_NODE_SHARED_DIR), as in Batch: its group (ADR 0026).
      const shared = await out(
        'a',
        `echo from-task > ${NODE_ROOT_DIR}/shared/by-nonadmin && cat ${NODE_ROOT_DIR}/shared/by-nonadmin && stat -c %a:%G ${NODE_ROOT_DIR}/shared`,
        nonadmin,
      );
      assert.equal(shared.stdout, 'from-task\n3775:_azbatchgrp\n');
    });

    test("the node's ids are its own host range; its disk stores them unshifted", async () => {
      const base = Number(readFileSync(join(f.dataDir, 'nodes', 'a', 'idmap'), 'utf8'));
      assert.ok(base >= 0x40000000, String(base));
      const other = Number(readFileSync(join(f.dataDir, 'nodes', 'b', 'idmap'), 'utf8'));
      assert.notEqual(other, base, 'each node its own range');
      const user = {
        elevation: 'nonadmin' as const,
        workingDir: `${NODE_ROOT_DIR}/workitems/job/ids/wd`,
        stdoutFile: 'workitems/job/ids/stdout.txt',
        stderrFile: 'workitems/job/ids/stderr.txt',
      };
      const map = (await out('a', 'echo u > /tmp/by-user; cat /proc/self/uid_map', user)).stdout;
      assert.equal(map.trim().split(/\s+/).join(' '), `0 ${String(base)} 65536`);
      await out('a', 'echo r > /tmp/by-root');
      const upper = join(f.dataDir, 'nodes', 'a', 'upper', 'tmp');
      assert.equal(statSync(join(upper, 'by-user')).uid, 1000);
      assert.equal(statSync(join(upper, 'by-root')).uid, 0);
      const holder = readFileSync(join(f.dataDir, 'nodes', 'a', 'holder.pid'), 'utf8').trim();
      const hostView = readFileSync(`/proc/${holder}/status`, 'utf8');
      assert.match(
        hostView,
        new RegExp(`^Uid:\\s+${String(base)}\\s`, 'm'),
        "PID 1 is the node's root, not host root",
      );
    });

    // Not checked: ping. ping_group_range allows ICMP datagram sockets (iputils' ping), but busybox's ping only uses
    // raw sockets, which need CAP_NET_RAW over the host-owned network namespace.
    test('in its own network namespace the node has lo up and binds ports below 1024, as root or user', async () => {
      const check =
        'mkdir -p /tmp/www-$(id -u) && httpd -p 127.0.0.1:$((80 + $(id -u) % 900)) -h /tmp/www-$(id -u) && echo bound';
      const user = {
        elevation: 'nonadmin' as const,
        workingDir: `${NODE_ROOT_DIR}/workitems/job/net/wd`,
        stdoutFile: 'workitems/job/net/stdout.txt',
        stderrFile: 'workitems/job/net/stderr.txt',
      };
      const root = await out('b', check);
      assert.equal(root.stdout, 'bound\n', root.stderr);
      const other = await out('b', check, user);
      assert.equal(other.stdout, 'bound\n', other.stderr);
      assert.equal((await out('b', 'killall httpd; echo done')).stdout, 'done\n');
    });

    test('the hostname is the one given', async () => {
      assert.equal((await out('b', 'hostname')).stdout, 'host-b\n');
    });

    test('links planted in the node cannot be read or listed through the file API', async () => {
      const plant = [
        'cd /mnt/batch/tasks/shared',
        'ln -sf /etc/passwd pw',
        'ln -sf ../../../../../../../../../../etc/passwd pw2',
        'ln -sfn /etc dir',
        'mkfifo fifo',
        'rm -rf /mnt/batch/tasks/fsmounts && ln -s /etc /mnt/batch/tasks/fsmounts',
      ].join(' && ');
      assert.equal((await out('a', plant)).exitCode, 0);
      for (const p of ['shared/pw', 'shared/pw2', 'shared/dir/passwd', 'fsmounts/passwd', 'shared/fifo'])
        await assert.rejects(readWhole(x, 'a', p), NodeFileNotFound, p);
      await assert.rejects(x.listFiles('a', 'fsmounts', true), NodeFileNotFound);
      const names = (await x.listFiles('a', '', true)).map((e) => e.name);
      assert.ok(!names.some((n) => n.includes('passwd')), names.join());
      // Deletes go through the links' folders never: what is behind a link stays, the link itself goes.
      for (const p of ['shared/dir/passwd', 'fsmounts/passwd', 'fsmounts/hostname'])
        await assert.rejects(x.deleteFile('a', p, true), NodeFileNotFound, p);
      for (const p of ['shared/dir', 'shared/pw', 'fsmounts']) await x.deleteFile('a', p, true);
      assert.ok(readFileSync('/etc/passwd', 'utf8').length > 0, "the host's /etc/passwd is still there");
      assert.equal((await out('a', 'test -s /etc/passwd && test -d /etc && echo kept')).stdout, 'kept\n');
      const gone =
        'for l in shared/dir shared/pw fsmounts; do test -L /mnt/batch/tasks/$l && echo $l; done; echo done';
      assert.equal((await out('a', gone)).stdout, 'done\n', 'the links themselves are gone');
    });

    test('a timeout kills the whole process tree, setsid included', async () => {
      // exec returns at all only because the tree was killed: the sleeps would take 100 minutes.
      const r = await x.exec('b', proc('sleep 6001 & setsid sleep 6002 & sleep 6003', { timeoutMs: 1000 }));
      assert.equal(r.timedOut, true);
      assert.equal(r.exitCode, 137);
      for (const n of ['6001', '6002', '6003']) assert.deepEqual(processesWith(`sleep ${n}`, true), [], n);
    });

    test("the node's limits come from its size (memory, CPU, processes); devices: only the node's /dev", async () => {
      assert.equal(await x.memoryLimit('a'), size.memoryMB * 1024 * 1024);
      const own = (controller: string) =>
        /^\d+:([^:]*):(.*)$/m.exec(
          readFileSync('/proc/self/cgroup', 'utf8')
            .split('\n')
            .filter((l) => l.split(':')[1]?.split(',').includes(controller))
            .join('\n'),
        )?.[2] ?? '/';
      const file = (controller: string, name: string) =>
        readFileSync(
          join('/sys/fs/cgroup', controller, own(controller), 'lazurite', 'a', name),
          'utf8',
        ).trim();
      assert.equal(file('pids', 'pids.max'), String(pidsMax(size)));
      assert.equal(pidsMax(size), size.memoryMB * 8);
      const period = Number(file('cpu', 'cpu.cfs_period_us'));
      assert.equal(file('cpu', 'cpu.cfs_quota_us'), String(size.cores * period));
      assert.deepEqual(file('devices', 'devices.list').split('\n').sort(), [
        'c 136:* rwm',
        'c 1:3 rwm',
        'c 1:5 rwm',
        'c 1:7 rwm',
        'c 1:8 rwm',
        'c 1:9 rwm',
        'c 5:0 rwm',
        'c 5:2 rwm',
      ]);
      assert.equal(
        readFileSync(
          `/proc/${readFileSync(join(f.dataDir, 'nodes', 'a', 'holder.pid'), 'utf8').trim()}/cgroup`,
          'utf8',
        ).includes(`devices:${own('devices').replace(/\/$/, '')}/lazurite/a`),
        true,
      );
    });

    test('data disks: mounted where fstab says (lun or LABEL), else /mnt/disks/lun<N>; writes stay in the node', async () => {
      const r = await out('a', 'cat /data/on-data /extra/on-extra /mnt/disks/lun2/on-default; ls /mnt/disks');
      assert.equal(r.stdout, 'lun0\nlun1\nlun2\nlun2\n');
      await out('a', 'echo changed > /data/on-data');
      assert.equal((await out('b', 'cat /data/on-data')).stdout, 'lun0\n');
      const mnt = readdirSync(join(f.dataDir, 'cache', 'disks')).filter((n) => n.endsWith('.mnt'));
      assert.equal(mnt.length, 3, 'three disks with a file system mounted once per host');
    });

    test('stdin bytes reach the process through the runner (binary, larger than a pipe), none on a host argv or file', async () => {
      const bytes = Buffer.alloc(200_000, 'abc\0');
      const r = await x.exec('a', proc('wc -c; echo more', { stdin: bytes, elevation: 'nonadmin' }));
      assert.equal(r.exitCode, 0);
      assert.equal(
        (await readWhole(x, 'a', 'workitems/job/task/stdout.txt')).content.toString().replace(/ +/g, ''),
        '200000\nmore\n',
      );
      const early = await x.exec('a', proc('exit 4', { stdin: bytes }));
      assert.equal(early.exitCode, 4, 'a process that reads nothing still ends with its own status');
    });

    test("attacks from the node's root are refused or see only the node", async () => {
      const facts = hostFacts(f.dataDir, 'node-executor.test.ts');
      const r = await out('a', attackScript(facts));
      assert.equal(r.exitCode, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(
        lines,
        attackNames(facts).map((n) => `${n}: refused`),
        r.stdout,
      );
      assert.match((await out('a', 'cat /proc/self/uid_map')).stdout, /^\s*0\s+(\d+)\s+65536\n$/);
    });

    test("the task's environment never reaches a host binary", async () => {
      const r = await out('a', 'echo ok', {
        environment: { LD_PRELOAD: '/nonexistent/lib.so', PATH: '/bin' },
      });
      assert.equal(r.stdout, 'ok\n');
    });

    test('a named run leaves its status in the journal: a restarted executor answers from it, not running it again', async () => {
      const named = proc('echo ran >> /tmp/named.log; exit 3', { runId: 'job/named/1' });
      const first = await x.exec('a', named);
      assert.equal(first.exitCode, 3);
      assert.ok(first.usage && first.usage.writeBytes > 0, 'the run was measured (ADR 0031)');
      const y = new LocalNodeExecutor({ dataDir: f.dataDir, regions: f.regions });
      const again = await y.exec('a', named);
      assert.equal(again.exitCode, 3);
      assert.deepEqual(again.usage, first.usage, 'its figures are kept in the journal too');
      assert.equal((await out('a', 'cat /tmp/named.log')).stdout, 'ran\n');
      await x.forgetRun('a', 'job/named/1');
    });

    test('a restarted executor adopts running holders; stop and close leave no holder and no mount behind', async () => {
      const before = processesWith('lazurite-node=b');
      assert.equal(before.length, 1);
      const y = new LocalNodeExecutor({ dataDir: f.dataDir, regions: f.regions });
      await y.boot(spec('b', f.withDisks));
      assert.deepEqual(processesWith('lazurite-node=b'), before, 'adopted, not started again');
      assert.equal((await y.exec('b', proc('hostname'))).exitCode, 0);
      await y.stop('b');
      assert.deepEqual(processesWith('lazurite-node=b'), []);
      const upper = join(f.dataDir, 'nodes', 'b', 'upper');
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        let table = '';
        try {
          table = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
        } catch {
          // gone
        }
        assert.ok(!table.includes(upper), `pid ${pid} still sees the node's overlay`);
      }
      await x.boot(spec('b', f.withDisks));
      assert.equal((await out('b', 'cat /etc/baked')).stdout, 'from the image\n');
      // A server shutting down stops every holder of its data dir, adopted yet or not.
      await new LocalNodeExecutor({ dataDir: f.dataDir, regions: f.regions }).close();
      assert.deepEqual([...processesWith('lazurite-node=a'), ...processesWith('lazurite-node=b')], []);
    });
  });
}
