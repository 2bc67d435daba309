import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildTinyRootfs } from '../../content/rootfs/tiny.ts';
import { runInSandbox, sandboxDirs } from './sandbox.ts';

test('a sandbox writes only to its upper layer and cannot reach the host tree or make devices', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lzr-sandbox-'));
  const lower = join(root, 'lower');
  mkdirSync(lower);
  await buildTinyRootfs(lower);
  const hostSecret = join(root, 'host-secret');
  writeFileSync(hostSecret, 'secret');
  const dirs = sandboxDirs(join(root, 'vm'));
  const r = await runInSandbox({
    lowerDirs: [lower],
    ...dirs,
    hostname: 'node-1',
    devices: [],
    script: [
      'hostname',
      'echo changed > /etc/hostname',
      `cat ${hostSecret} 2>/dev/null || echo no-host-secret`,
      'ls /dev/.oldroot 2>/dev/null || echo no-old-root',
      'mknod /tmp/disk b 8 0 2>/dev/null || echo no-mknod',
      'echo $$',
    ].join('\n'),
    timeoutMs: 20_000,
  });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['node-1', 'no-host-secret', 'no-old-root', 'no-mknod', '1']);
  assert.equal(
    readFileSync(join(dirs.upperDir, 'etc', 'hostname'), 'utf8'),
    'changed\n',
    'the write is in the upper layer',
  );
  assert.equal(
    readFileSync(join(lower, 'etc', 'hostname'), 'utf8'),
    'lazurite-tiny\n',
    'the image is untouched',
  );
  assert.equal(
    existsSync(join(dirs.mergedDir, 'etc')),
    false,
    'nothing stays mounted after the sandbox ends',
  );
});
