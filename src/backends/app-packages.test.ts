import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import type { PackageInstall } from '../protocol/agent-protocol.ts';
import { PackageInstalls, installPackages } from './app-packages.ts';
import type { NodeFileAccess } from './task-files.ts';
import { storedZip } from './zip.fixture.ts';

/** A node's files in memory (path → content and mode); counts writes. */
function memoryNode() {
  const files = new Map<string, { content: Buffer; mode: number | undefined }>();
  let writes = 0;
  const access: NodeFileAccess = {
    writeFile: (path, content, mode) => {
      writes++;
      files.set(path, { content, mode });
      return Promise.resolve();
    },
    listFiles: () => Promise.resolve([]),
    readFile: (path) => {
      const f = files.get(path);
      return f ? Promise.resolve(f.content) : Promise.reject(new Error(`no ${path}`));
    },
  };
  return { files, access, writes: () => writes };
}

const blobs = new Map<string, Buffer>();
const downloads: string[] = [];
let server: Server;
let base = '';
before(async () => {
  server = createServer((req, res) => {
    const path = req.url?.split('?')[0] ?? '';
    downloads.push(path);
    const body = blobs.get(path);
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  base = `http://127.0.0.1:${String(typeof address === 'object' && address ? address.port : 0)}`;
});
after(() => {
  server.close();
});

const install = (name: string, over: Partial<PackageInstall> = {}): PackageInstall => ({
  applicationId: 'tool',
  version: '1.0',
  folder: 'applications/tool/1.0',
  variables: ['AZ_BATCH_APP_PACKAGE_tool_1_0'],
  url: `${base}/${name}?sig=secret`,
  ...over,
});

test('a package is downloaded and extracted into its folder once per node, keeping executables executable', async () => {
  blobs.set(
    '/good.zip',
    storedZip([
      { name: 'bin/', content: '' },
      { name: 'bin/run.sh', content: '#!/bin/sh\necho hi\n', mode: 0o755 },
      { name: 'README', content: 'read me' },
    ]),
  );
  const node = memoryNode();
  assert.equal(await installPackages([install('good.zip')], node.access), undefined);
  assert.equal(
    node.files.get('applications/tool/1.0/bin/run.sh')?.content.toString(),
    '#!/bin/sh\necho hi\n',
  );
  assert.equal(node.files.get('applications/tool/1.0/bin/run.sh')?.mode, 0o755);
  assert.equal(node.files.get('applications/tool/1.0/README')?.mode, 0o644);
  const writes = node.writes();
  assert.equal(await installPackages([install('good.zip')], node.access), undefined);
  assert.equal(node.writes(), writes, 'the second run finds it installed');
});

test('entries escaping the folder and symbolic links fail the install; nothing is marked installed', async () => {
  for (const entries of [
    [{ name: '../../startup/evil', content: 'x' }],
    [{ name: 'link', content: '/etc/passwd', symlink: true }],
  ]) {
    blobs.set('/bad.zip', storedZip(entries));
    const node = memoryNode();
    const failed = await installPackages([install('bad.zip')], node.access);
    assert.equal(failed?.code, 'BlobDownloadMiscError');
    assert.deepEqual([...node.files.keys()], []);
  }
});

test('a missing blob, a file that is no zip and an unresolved reference fail with their codes', async () => {
  const node = memoryNode();
  const missing = await installPackages([install('absent.zip')], node.access);
  assert.ok(missing);
  assert.equal(missing.code, 'BlobNotFound');
  assert.doesNotMatch(missing.message, /secret/, 'the SAS is never shown');
  blobs.set('/text.zip', Buffer.from('not a zip'));
  assert.equal((await installPackages([install('text.zip')], node.access))?.code, 'BlobDownloadMiscError');
  const unresolved = install('x', {
    error: { code: 'InvalidApplicationPackageReferences', message: 'application x does not exist' },
  });
  const failed = await installPackages([unresolved], node.access);
  assert.deepEqual([failed?.code, failed?.category], ['InvalidApplicationPackageReferences', 'usererror']);
});

test('two runs on one node installing the same package at once download it once', async () => {
  blobs.set('/shared.zip', storedZip([{ name: 'tool.sh', content: 'echo shared', mode: 0o755 }]));
  const node = memoryNode();
  const installs = new PackageInstalls();
  const p = install('shared.zip', { folder: 'applications/shared/1', applicationId: 'shared', version: '1' });
  const results = await Promise.all([
    installs.install('node-1', [p], node.access),
    installs.install('node-1', [p], node.access),
  ]);
  assert.deepEqual(results, [undefined, undefined]);
  assert.equal(downloads.filter((d) => d === '/shared.zip').length, 1);
});
