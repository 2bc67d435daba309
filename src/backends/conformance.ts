import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readWhole } from './file-read.ts';
import {
  NODE_ROOT_DIR,
  NodeDirectoryNotEmpty,
  NodeFileNotFound,
  type NodeExecutor,
  type NodeImage,
  type NodeSpec,
  type ProcessSpec,
} from './port.ts';

export interface ConformanceSetup {
  executor: NodeExecutor;
  image: NodeImage;
  /** Whether commands really run (then output and environment are checked too). */
  executes: boolean;
  cleanup(): Promise<void>;
}

const SIZE = { name: 'standard_d2s_v3', cores: 2, memoryMB: 1024, tempDiskGB: 16 };

/** Registers the tests every NodeExecutor must pass (node:test), against what `setup` gives. */
export function executorConformance(name: string, setup: () => Promise<ConformanceSetup>): void {
  describe(`NodeExecutor conformance: ${name}`, () => {
    let s: ConformanceSetup;
    let x: NodeExecutor;
    let seq = 0;
    before(async () => {
      s = await setup();
      x = s.executor;
    });
    after(async () => {
      for (const id of await x.list()) await x.destroy(id);
      await x.close();
      await s.cleanup();
    });

    const node = (): NodeSpec => {
      const nodeId = `conf-${process.pid}-${++seq}`;
      return {
        accountName: 'acc',
        poolId: 'pool',
        nodeId,
        hostname: nodeId,
        image: s.image,
        size: SIZE,
        isDedicated: true,
      };
    };
    const proc = (commandLine: string, extra: Partial<ProcessSpec> = {}): ProcessSpec => ({
      commandLine,
      environment: { LAZURITE_CONFORMANCE: '1' },
      elevation: 'admin',
      workingDir: `${NODE_ROOT_DIR}/startup/wd`,
      stdoutFile: 'startup/stdout.txt',
      stderrFile: 'startup/stderr.txt',
      ...extra,
    });
    const notFound = async (p: Promise<unknown>, what: string) =>
      assert.rejects(p, (err) => err instanceof NodeFileNotFound, what);

    test('boot is idempotent and the node appears in list()', async () => {
      const n = node();
      await x.hydrate(s.image);
      await Promise.all([x.boot(n), x.boot(n)]);
      await x.boot(n);
      assert.ok((await x.list()).includes(n.nodeId));
      assert.equal((await x.exec(n.nodeId, proc('exit 0'))).exitCode, 0);
      await x.destroy(n.nodeId);
    });

    test('exec writes stdout and stderr files that listFiles and readFile see, with sizes', async () => {
      const n = node();
      await x.boot(n);
      const r = await x.exec(n.nodeId, proc('echo hello; echo oops >&2'));
      assert.deepEqual({ exitCode: r.exitCode, timedOut: r.timedOut }, { exitCode: 0, timedOut: false });
      const all = await x.listFiles(n.nodeId, '', true);
      const names = all.map((f) => f.name);
      for (const f of ['startup', 'startup/stdout.txt', 'startup/stderr.txt'])
        assert.ok(names.includes(f), f);
      assert.equal(all.find((f) => f.name === 'startup')?.isDirectory, true);
      const top = (await x.listFiles(n.nodeId, '', false)).map((f) => f.name);
      assert.ok(top.includes('startup') && !top.includes('startup/stdout.txt'), top.join());
      const startup = await x.listFiles(n.nodeId, 'startup', false);
      for (const file of ['startup/stdout.txt', 'startup/stderr.txt']) {
        const listed = startup.find((f) => f.name === file);
        assert.ok(listed, file);
        assert.equal(listed.isDirectory, false);
        assert.match(listed.fileMode, /^0o100[0-7]{3}$/);
        const read = await readWhole(x, n.nodeId, file);
        assert.equal(read.info.size, read.content.length);
        assert.equal(listed.size, read.content.length);
        assert.equal(read.info.name, file);
      }
      const out = (await readWhole(x, n.nodeId, 'startup/stdout.txt')).content.toString();
      if (s.executes) {
        assert.equal(out, 'hello\n');
        assert.equal((await readWhole(x, n.nodeId, 'startup/stderr.txt')).content.toString(), 'oops\n');
      } else assert.ok(out.length > 0);
      await notFound(x.listFiles(n.nodeId, 'no-such-folder', false), 'missing folder');
      await notFound(readWhole(x, n.nodeId, 'startup/no-such-file'), 'missing file');
      await notFound(readWhole(x, n.nodeId, 'startup'), 'a folder is not a file');
      await x.destroy(n.nodeId);
    });

    test('readFile with a range returns the inclusive byte range', async () => {
      const n = node();
      await x.boot(n);
      await x.exec(n.nodeId, proc('echo 0123456789abcdef'));
      const full = (await readWhole(x, n.nodeId, 'startup/stdout.txt')).content;
      assert.ok(full.length > 6);
      const part = await readWhole(x, n.nodeId, 'startup/stdout.txt', { start: 2, end: 5 });
      assert.deepEqual(part.content, full.subarray(2, 6));
      assert.equal(part.info.size, full.length, 'info is the whole file');
      const tail = await readWhole(x, n.nodeId, 'startup/stdout.txt', { start: 3 });
      assert.deepEqual(tail.content, full.subarray(3));
      await x.destroy(n.nodeId);
    });

    test('statFile reads only the info; deleteFile removes files and folders', async () => {
      const n = node();
      await x.boot(n);
      await x.exec(
        n.nodeId,
        proc('echo a', {
          workingDir: `${NODE_ROOT_DIR}/shared/d/e`,
          stdoutFile: 'shared/d/a.txt',
          stderrFile: 'shared/d/err.txt',
        }),
      );
      const st = await x.statFile(n.nodeId, 'shared/d/a.txt');
      assert.equal(st.name, 'shared/d/a.txt');
      assert.equal(st.size, (await readWhole(x, n.nodeId, 'shared/d/a.txt')).content.length);
      await notFound(x.statFile(n.nodeId, 'shared/d'), 'a folder is not a file');
      const past = await readWhole(x, n.nodeId, 'shared/d/a.txt', { start: st.size + 5 });
      assert.equal(past.content.length, 0, 'a range past the end is empty');
      await assert.rejects(x.deleteFile(n.nodeId, 'shared/d', false), NodeDirectoryNotEmpty);
      await x.deleteFile(n.nodeId, 'shared/d/a.txt', false);
      await notFound(x.statFile(n.nodeId, 'shared/d/a.txt'), 'deleted file');
      await notFound(x.deleteFile(n.nodeId, 'shared/d/a.txt', false), 'deleted twice');
      await notFound(x.deleteFile(n.nodeId, '', true), 'the root');
      await notFound(x.deleteFile(n.nodeId, '../upper', true), 'escaping');
      await x.deleteFile(n.nodeId, 'shared/d', true);
      await notFound(x.listFiles(n.nodeId, 'shared/d', true), 'deleted folder');
      assert.ok((await x.listFiles(n.nodeId, 'shared', false)).every((f) => f.name !== 'shared/d'));
      // The running node sees the folder gone and makes it again (a task id used again after a delete).
      const again = await x.exec(
        n.nodeId,
        proc('echo again', {
          workingDir: `${NODE_ROOT_DIR}/shared/d/e`,
          stdoutFile: 'shared/d/a.txt',
          stderrFile: 'shared/d/err.txt',
        }),
      );
      assert.equal(again.exitCode, 0);
      if (s.executes)
        assert.equal((await readWhole(x, n.nodeId, 'shared/d/a.txt')).content.toString(), 'again\n');
      await x.stop(n.nodeId);
      await x.deleteFile(n.nodeId, 'shared/d/a.txt', false);
      await notFound(x.statFile(n.nodeId, 'shared/d/a.txt'), 'deleted while stopped');
      await x.destroy(n.nodeId);
    });

    test('exit codes propagate', async () => {
      const n = node();
      await x.boot(n);
      const r = await x.exec(n.nodeId, proc('exit 3'));
      assert.deepEqual({ exitCode: r.exitCode, timedOut: r.timedOut }, { exitCode: 3, timedOut: false });
      assert.equal((await x.exec(n.nodeId, proc('true; exit 0'))).exitCode, 0);
      await x.destroy(n.nodeId);
    });

    test('exec reports what the process used (ADR 0031): counts, and real figures where it runs', async () => {
      const n = node();
      await x.boot(n);
      const burn = 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; head -c 100000 /dev/zero > f.bin';
      const r = await x.exec(n.nodeId, proc(burn));
      assert.equal(r.exitCode, 0);
      const u = r.usage;
      assert.ok(u, 'usage reported');
      for (const v of Object.values(u)) assert.ok(Number.isInteger(v) && v >= 0, JSON.stringify(u));
      if (s.executes) {
        assert.ok(u.userCpuMicros + u.kernelCpuMicros > 0, `CPU time: ${JSON.stringify(u)}`);
        assert.ok(u.writeBytes >= 100_000 && u.writeOps > 0, `written: ${JSON.stringify(u)}`);
        assert.ok(u.readBytes >= 100_000 && u.readOps > 0, `read: ${JSON.stringify(u)}`);
      } else assert.equal(u.userCpuMicros + u.writeBytes, 0, 'nothing ran, nothing used');
      await x.destroy(n.nodeId);
    });

    test('stop keeps the disk, destroy discards it', async () => {
      const n = node();
      await x.boot(n);
      await x.exec(
        n.nodeId,
        proc('echo kept', { stdoutFile: 'shared/kept.txt', stderrFile: 'shared/err.txt' }),
      );
      await x.stop(n.nodeId);
      assert.ok((await x.list()).includes(n.nodeId), 'a stopped node keeps its disk');
      assert.ok(
        (await readWhole(x, n.nodeId, 'shared/kept.txt')).content.length > 0,
        'readable while stopped',
      );
      await x.boot(n);
      const again = await readWhole(x, n.nodeId, 'shared/kept.txt');
      if (s.executes) assert.equal(again.content.toString(), 'kept\n');
      assert.equal((await x.exec(n.nodeId, proc('exit 0'))).exitCode, 0, 'runs again after reboot');
      await x.destroy(n.nodeId);
      await x.destroy(n.nodeId);
      assert.ok(!(await x.list()).includes(n.nodeId), 'gone from list after destroy');
      await x.boot(n);
      await notFound(readWhole(x, n.nodeId, 'shared/kept.txt'), 'reimaged disk');
      await x.destroy(n.nodeId);
    });

    test('paths with .. or absolute paths are NodeFileNotFound', async () => {
      const n = node();
      await x.boot(n);
      await x.exec(n.nodeId, proc('echo x'));
      for (const p of [
        '../upper',
        'startup/../../x',
        '/etc/passwd',
        '/startup/stdout.txt',
        '..',
        'startup/..',
      ]) {
        await notFound(readWhole(x, n.nodeId, p), p);
        await notFound(x.listFiles(n.nodeId, p, true), p);
      }
      await x.destroy(n.nodeId);
    });

    test('concurrent execs on one node both complete', async () => {
      const n = node();
      await x.boot(n);
      const [a, b] = await Promise.all(
        ['a', 'b'].map((t) =>
          x.exec(
            n.nodeId,
            proc(`echo ${t}`, { stdoutFile: `shared/${t}.out`, stderrFile: `shared/${t}.err` }),
          ),
        ),
      );
      assert.equal(a?.exitCode, 0);
      assert.equal(b?.exitCode, 0);
      for (const t of ['a', 'b']) {
        const out = (await readWhole(x, n.nodeId, `shared/${t}.out`)).content.toString();
        if (s.executes) assert.equal(out, `${t}\n`);
      }
      await x.destroy(n.nodeId);
    });

    test('exec on a node that is not booted fails', async () => {
      await assert.rejects(x.exec(`never-booted-${process.pid}`, proc('exit 0')));
    });

    test('the process sees exactly the environment given', { skip: false }, async (t) => {
      if (!s.executes) {
        t.skip('does not execute');
        return;
      }
      const n = node();
      await x.boot(n);
      process.env.LAZURITE_HOST_ONLY = 'must not leak';
      const environment = { A_B: 'a b', QUOTES: `it's "x" $HOME`, EMPTY: '', PATH: '/usr/bin:/bin' };
      await x.exec(n.nodeId, proc('env', { environment }));
      delete process.env.LAZURITE_HOST_ONLY;
      const seen = Object.fromEntries(
        (await readWhole(x, n.nodeId, 'startup/stdout.txt')).content
          .toString()
          .split('\n')
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])
          // Shells maintain these themselves.
          .filter(([k]) => !['PWD', 'OLDPWD', 'SHLVL', '_'].includes(k ?? '')),
      ) as Record<string, string>;
      assert.deepEqual(seen, environment);
      await x.exec(n.nodeId, proc('env', { environment: { ONLY: '1' } }));
      const out = (await readWhole(x, n.nodeId, 'startup/stdout.txt')).content.toString();
      assert.match(out, /^PATH=\//m, 'PATH is added when absent');
      await x.destroy(n.nodeId);
    });
  });
}
