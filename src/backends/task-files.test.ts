import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startAzuriteBlob, type AzuriteBlob } from '../../tests/compat/azurite.ts';
import { NodeFileNotFound, type NodeFileInfo } from './port.ts';
import {
  downloadResourceFiles,
  patternToRegExp,
  redactUrl,
  uploadOutputFiles,
  type NodeFileAccess,
  type OutputFileSpec,
  type TransferFailure,
} from './task-files.ts';

const TASK = 'workitems/job1/job-1/task1';
const WD = `${TASK}/wd`;

/** A node file system in memory: files by node-relative path; folders exist implicitly. */
class MemoryFiles implements NodeFileAccess {
  readonly files = new Map<string, { content: Buffer; mode: number | undefined }>();
  failWrites = false;

  put(path: string, content: string): void {
    this.files.set(path, { content: Buffer.from(content), mode: 0o644 });
  }

  text(path: string): string | undefined {
    return this.files.get(path)?.content.toString();
  }

  writeFile(path: string, content: Buffer, mode: number | undefined): Promise<void> {
    if (this.failWrites) return Promise.reject(new Error('No space left on device'));
    this.files.set(path, { content, mode });
    return Promise.resolve();
  }

  listFiles(dir: string, recursive: boolean): Promise<NodeFileInfo[]> {
    const entries = new Map<string, NodeFileInfo>();
    const info = (name: string, isDirectory: boolean, size = 0): NodeFileInfo => ({
      name,
      isDirectory,
      size,
      lastModified: new Date(0),
      creationTime: new Date(0),
      fileMode: isDirectory ? '0o40755' : '0o100644',
    });
    for (const [path, file] of this.files) {
      if (dir !== '' && !path.startsWith(`${dir}/`)) continue;
      const parts = (dir === '' ? path : path.slice(dir.length + 1)).split('/');
      const base = dir === '' ? '' : `${dir}/`;
      const depth = recursive ? parts.length - 1 : Math.min(1, parts.length - 1);
      for (let i = 1; i <= depth; i++) {
        const name = base + parts.slice(0, i).join('/');
        entries.set(name, info(name, true));
      }
      if (recursive || parts.length === 1) entries.set(path, info(path, false, file.content.length));
    }
    if (dir !== '' && entries.size === 0) return Promise.reject(new NodeFileNotFound(dir));
    return Promise.resolve([...entries.values()]);
  }

  readFile(path: string): Promise<Buffer> {
    const file = this.files.get(path);
    return file ? Promise.resolve(file.content) : Promise.reject(new NodeFileNotFound(path));
  }
}

/** Asserts a failure and that no part of it shows a SAS. */
function assertFailure(failure: TransferFailure | undefined, code: string): TransferFailure {
  assert.ok(failure, `expected a ${code} failure`);
  assert.equal(failure.code, code, failure.message);
  const shown = JSON.stringify(failure);
  for (const marker of ['sig=', 'sv=', 'se=', 'sp=', '?'])
    assert.ok(!shown.includes(marker), `SAS shown: ${shown}`);
  return failure;
}

const detail = (failure: TransferFailure, name: string) =>
  failure.details?.find((d) => d.name === name)?.value;

function tamper(sasUrl: string): string {
  const url = new URL(sasUrl);
  const sig = url.searchParams.get('sig') ?? '';
  url.searchParams.set('sig', `${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`);
  return url.toString();
}

/** A local HTTP server answering with `handler` (to model errors Azurite does not produce). */
async function httpServer(
  handler: Parameters<typeof createServer>[1],
): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('pattern and URL helpers', () => {
  test('patterns follow the Batch filePattern rules', () => {
    const m = (pattern: string, path: string) => patternToRegExp(pattern).test(path);
    assert.ok(m('*.txt', 'a.txt'));
    assert.ok(!m('*.txt', 'sub/a.txt'));
    assert.ok(!m('*.gif', '.a.gif'), 'wildcards do not match a leading dot');
    assert.ok(m('.*.gif', '.a.gif'));
    assert.ok(m('**/*.txt', 'a.txt'));
    assert.ok(m('**/*.txt', 'x/y/a.txt'));
    assert.ok(!m('**/*.txt', '.x/a.txt'));
    assert.ok(m('out/**', 'out/a/b.bin'));
    assert.ok(m('a?c', 'abc') && !m('a?c', 'ac'));
    assert.ok(m('[a-c]x', 'bx') && !m('[a-c]x', 'dx'));
    assert.ok(m('[!abc]x', 'dx') && !m('[!abc]x', 'ax'));
    assert.ok(m('abc[*]', 'abc*') && !m('abc[*]', 'abcd'));
    assert.ok(m('a+(b).txt', 'a+(b).txt'), 'regular expression characters are literal');
  });

  test('redactUrl drops the query string and user info', () => {
    assert.equal(
      redactUrl('https://u:p@acct.blob.core.windows.net/c/b.txt?sv=1&sig=abc'),
      'https://acct.blob.core.windows.net/c/b.txt',
    );
    assert.equal(redactUrl('not a url?sig=abc'), 'not a url');
  });
});

describe('task files against Azurite', () => {
  let azurite: AzuriteBlob;
  let container = 0;
  /** A fresh container holding `blobs`. */
  async function containerWith(blobs: Record<string, string>): Promise<string> {
    const name = `container${String(++container)}`;
    const client = azurite.serviceClient.getContainerClient(name);
    await client.create();
    for (const [blob, content] of Object.entries(blobs))
      await client.getBlockBlobClient(blob).upload(content, content.length);
    return name;
  }
  const blobUrl = (name: string, blob: string, perms = 'r') => {
    const url = new URL(azurite.containerSasUrl(name, perms));
    url.pathname += `/${blob}`;
    return url.toString();
  };
  async function blobNames(name: string): Promise<string[]> {
    const names: string[] = [];
    for await (const b of azurite.serviceClient.getContainerClient(name).listBlobsFlat()) names.push(b.name);
    return names.sort();
  }
  const blobText = async (name: string, blob: string) =>
    (await azurite.serviceClient.getContainerClient(name).getBlobClient(blob).downloadToBuffer()).toString();

  before(async () => {
    azurite = await startAzuriteBlob();
  });
  after(async () => {
    await azurite.stop();
  });

  describe('resource files', () => {
    test('httpUrl downloads a blob through its SAS URL to filePath with fileMode', async () => {
      const c = await containerWith({ 'tools/run.sh': '#!/bin/sh\necho hi\n', 'data.csv': 'a,b\n' });
      const fs = new MemoryFiles();
      const failure = await downloadResourceFiles(
        [
          { httpUrl: blobUrl(c, 'tools/run.sh'), filePath: 'bin/run.sh', fileMode: '0755' },
          { httpUrl: blobUrl(c, 'data.csv'), filePath: 'data.csv' },
        ],
        WD,
        fs,
      );
      assert.equal(failure, undefined);
      assert.equal(fs.text(`${WD}/bin/run.sh`), '#!/bin/sh\necho hi\n');
      assert.equal(fs.files.get(`${WD}/bin/run.sh`)?.mode, 0o755);
      assert.equal(fs.files.get(`${WD}/data.csv`)?.mode, 0o770, 'Batch default mode');
    });

    test('storageContainerUrl with blobPrefix and filePath keeps the blob paths', async () => {
      const c = await containerWith({
        'in/a.txt': 'A',
        'in/sub/b.txt': 'B',
        'other/c.txt': 'C',
        'input.txt': 'D',
      });
      const fs = new MemoryFiles();
      const url = azurite.containerSasUrl(c, 'rl');
      const failure = await downloadResourceFiles(
        [
          { storageContainerUrl: url, blobPrefix: 'in/', filePath: 'inputs', fileMode: '600' },
          { storageContainerUrl: url, blobPrefix: 'other' },
        ],
        WD,
        fs,
      );
      assert.equal(failure, undefined);
      assert.deepEqual([...fs.files.keys()].sort(), [
        `${WD}/inputs/in/a.txt`,
        `${WD}/inputs/in/sub/b.txt`,
        `${WD}/other/c.txt`,
      ]);
      assert.equal(fs.text(`${WD}/inputs/in/sub/b.txt`), 'B');
      assert.equal(fs.files.get(`${WD}/inputs/in/a.txt`)?.mode, 0o600);
    });

    test('a missing blob or container is BlobNotFound', async () => {
      const c = await containerWith({ 'x.txt': 'x' });
      const fs = new MemoryFiles();
      const url = blobUrl(c, 'missing.bin');
      const blob = assertFailure(
        await downloadResourceFiles([{ httpUrl: url, filePath: 'm' }], WD, fs),
        'BlobNotFound',
      );
      assert.equal(blob.category, 'usererror');
      assert.equal(detail(blob, 'HttpStatusCode'), '404');
      assert.equal(detail(blob, 'BlobSource'), redactUrl(url));
      assert.equal(detail(blob, 'FilePath'), `/mnt/batch/tasks/${WD}/m`);
      assert.match(blob.message, /404/);
      assert.ok(blob.message.includes(`${c}/missing.bin`));
      const gone = azurite.containerSasUrl('no-such-container', 'rl');
      assertFailure(await downloadResourceFiles([{ storageContainerUrl: gone }], WD, fs), 'BlobNotFound');
      assert.equal(fs.files.size, 0);
    });

    test('a bad SAS signature is BlobAccessDenied', async () => {
      const c = await containerWith({ 'x.txt': 'x' });
      const fs = new MemoryFiles();
      const single = tamper(blobUrl(c, 'x.txt'));
      const f = assertFailure(
        await downloadResourceFiles([{ httpUrl: single, filePath: 'x' }], WD, fs),
        'BlobAccessDenied',
      );
      assert.equal(detail(f, 'HttpStatusCode'), '403');
      const listing = tamper(azurite.containerSasUrl(c, 'rl'));
      assertFailure(
        await downloadResourceFiles([{ storageContainerUrl: listing }], WD, fs),
        'BlobAccessDenied',
      );
      const noList = azurite.containerSasUrl(c, 'r');
      assertFailure(
        await downloadResourceFiles([{ storageContainerUrl: noList }], WD, fs),
        'BlobAccessDenied',
      );
      assert.equal(fs.files.size, 0);
    });

    test('a malformed URL is BlobDownloadMiscError', async () => {
      const fs = new MemoryFiles();
      for (const httpUrl of ['not a url?sig=secret', 'ftp://host/file?sig=secret']) {
        const f = assertFailure(
          await downloadResourceFiles([{ httpUrl, filePath: 'f' }], WD, fs),
          'BlobDownloadMiscError',
        );
        assert.equal(f.category, 'usererror');
      }
      const container = 'http//broken/container?sig=secret';
      assertFailure(
        await downloadResourceFiles([{ storageContainerUrl: container }], WD, fs),
        'BlobDownloadMiscError',
      );
      assert.equal(fs.files.size, 0);
    });

    test('other HTTP errors are BlobDownloadMiscError and timeouts BlobDownloadTimedOut', async (t) => {
      const held: (() => void)[] = [];
      const { url, server } = await httpServer((req, res) => {
        if (req.url?.startsWith('/error')) res.writeHead(500).end('boom');
        else held.push(() => res.end());
      });
      t.after(() => {
        held.forEach((end) => {
          end();
        });
        server.close();
      });
      const fs = new MemoryFiles();
      const err = assertFailure(
        await downloadResourceFiles([{ httpUrl: `${url}/error?sig=s`, filePath: 'f' }], WD, fs),
        'BlobDownloadMiscError',
      );
      assert.equal(detail(err, 'HttpStatusCode'), '500');
      const slow = [{ httpUrl: `${url}/slow?sig=s`, filePath: 'f' }];
      assertFailure(await downloadResourceFiles(slow, WD, fs, { timeoutMs: 50 }), 'BlobDownloadTimedOut');
      assert.equal(fs.files.size, 0);
    });

    test('a filePath outside the working directory is refused before any download', async () => {
      const fs = new MemoryFiles();
      // Nothing listens on port 1: a download attempt would fail with BlobDownloadMiscError instead.
      const httpUrl = 'http://127.0.0.1:1/blob?sig=secret';
      for (const filePath of ['../escape.txt', '/etc/passwd', 'a/../../x', '.', '']) {
        const f = await downloadResourceFiles([{ httpUrl, filePath }], WD, fs);
        assert.equal(assertFailure(f, 'ResourceFileCreateFailed').category, 'usererror', filePath);
      }
      const container = { storageContainerUrl: 'http://127.0.0.1:1/c?sig=secret', filePath: '../..' };
      assertFailure(await downloadResourceFiles([container], WD, fs), 'ResourceFileCreateFailed');
      assert.equal(fs.files.size, 0);
    });

    test('a filePath with .. that stays inside is accepted', async () => {
      const c = await containerWith({ 'x.txt': 'x' });
      const fs = new MemoryFiles();
      assert.equal(
        await downloadResourceFiles([{ httpUrl: blobUrl(c, 'x.txt'), filePath: 'a/../b/x' }], WD, fs),
        undefined,
      );
      assert.equal(fs.text(`${WD}/b/x`), 'x');
    });

    test('a failing write is ResourceFileWriteFailed', async () => {
      const c = await containerWith({ 'x.txt': 'x' });
      const fs = new MemoryFiles();
      fs.failWrites = true;
      const f = assertFailure(
        await downloadResourceFiles([{ httpUrl: blobUrl(c, 'x.txt'), filePath: 'x' }], WD, fs),
        'ResourceFileWriteFailed',
      );
      assert.equal(f.category, 'servererror');
      assert.match(f.message, /No space left on device/);
      assert.equal(detail(f, 'FilePath'), `/mnt/batch/tasks/${WD}/x`);
    });

    test('downloads stop at the first failure', async () => {
      const c = await containerWith({ 'x.txt': 'x' });
      const fs = new MemoryFiles();
      const files = [
        { httpUrl: blobUrl(c, 'missing'), filePath: 'y' },
        { httpUrl: blobUrl(c, 'x.txt'), filePath: 'x' },
      ];
      assertFailure(await downloadResourceFiles(files, WD, fs), 'BlobNotFound');
      assert.equal(fs.files.size, 0);
    });

    test('an unresolved autoStorageContainerName or several sources fail', async () => {
      const fs = new MemoryFiles();
      const auto = await downloadResourceFiles([{ autoStorageContainerName: 'inputs' }], WD, fs);
      // The account has no auto-storage the server knows: the user's set-up to fix, so a user error.
      const failure = assertFailure(auto, 'BlobDownloadMiscError');
      assert.equal(failure.category, 'usererror');
      assert.match(failure.message, /no auto-storage account/);
      const both = [
        { httpUrl: 'http://127.0.0.1:1/x', storageContainerUrl: 'http://127.0.0.1:1/c', filePath: 'x' },
      ];
      assertFailure(await downloadResourceFiles(both, WD, fs), 'BlobDownloadMiscError');
      assert.equal(await downloadResourceFiles([], WD, fs), undefined);
    });
  });

  describe('output files', () => {
    function taskFiles(): MemoryFiles {
      const fs = new MemoryFiles();
      fs.put(`${TASK}/stdout.txt`, 'out');
      fs.put(`${TASK}/stderr.txt`, 'err');
      fs.put(`${WD}/a.txt`, 'a');
      fs.put(`${WD}/b.txt`, 'b');
      fs.put(`${WD}/.hidden.txt`, 'h');
      fs.put(`${WD}/d.log`, 'd');
      fs.put(`${WD}/sub/c.txt`, 'c');
      fs.put(`${WD}/results/summary.json`, '{}');
      return fs;
    }
    const spec = (
      filePattern: string,
      containerUrl: string,
      path?: string,
      uploadCondition: OutputFileSpec['uploadOptions']['uploadCondition'] = 'taskcompletion',
    ): OutputFileSpec => ({
      filePattern,
      destination: { container: { containerUrl, path } },
      uploadOptions: { uploadCondition },
    });

    test('*.txt uploads the matching files under the path prefix', async () => {
      const c = await containerWith({});
      const url = azurite.containerSasUrl(c, 'cw');
      assert.equal(
        await uploadOutputFiles([spec('*.txt', url, 'logs/')], 'success', TASK, taskFiles()),
        undefined,
      );
      assert.deepEqual(await blobNames(c), ['logs/a.txt', 'logs/b.txt']);
      assert.equal(await blobText(c, 'logs/b.txt'), 'b');
    });

    test('** keeps each file path relative to the part before the first wildcard', async () => {
      const c = await containerWith({});
      const url = azurite.containerSasUrl(c, 'cw');
      const files = [spec('**/*.txt', url, 'out'), spec('results/*.json', url)];
      assert.equal(await uploadOutputFiles(files, 'success', TASK, taskFiles()), undefined);
      assert.deepEqual(await blobNames(c), ['out/a.txt', 'out/b.txt', 'out/sub/c.txt', 'summary.json']);
    });

    test('a named file goes to the exact blob name, or its file name without a path', async () => {
      const c = await containerWith({});
      const url = azurite.containerSasUrl(c, 'cw');
      const files = [spec('results/summary.json', url, 'final/run-1.json'), spec('sub/c.txt', url)];
      assert.equal(await uploadOutputFiles(files, 'failure', TASK, taskFiles()), undefined);
      assert.deepEqual(await blobNames(c), ['c.txt', 'final/run-1.json']);
      assert.equal(await blobText(c, 'final/run-1.json'), '{}');
    });

    test('../stdout.txt and ../std*.txt name files in the task directory', async () => {
      const c = await containerWith({});
      const url = azurite.containerSasUrl(c, 'cw');
      const files = [spec('../stdout.txt', url), spec('../std*.txt', url, 'task1')];
      assert.equal(await uploadOutputFiles(files, 'success', TASK, taskFiles()), undefined);
      assert.deepEqual(await blobNames(c), ['stdout.txt', 'task1/stderr.txt', 'task1/stdout.txt']);
      assert.equal(await blobText(c, 'stdout.txt'), 'out');
    });

    test('uploadCondition selects the files for the outcome', async () => {
      const ok = await containerWith({});
      const bad = await containerWith({});
      const files = (c: string) => {
        const url = azurite.containerSasUrl(c, 'cw');
        return [
          spec('a.txt', url, undefined, 'tasksuccess'),
          spec('b.txt', url, undefined, 'taskfailure'),
          spec('d.log', url, undefined, 'taskcompletion'),
        ];
      };
      assert.equal(await uploadOutputFiles(files(ok), 'success', TASK, taskFiles()), undefined);
      assert.equal(await uploadOutputFiles(files(bad), 'failure', TASK, taskFiles()), undefined);
      assert.deepEqual(await blobNames(ok), ['a.txt', 'd.log']);
      assert.deepEqual(await blobNames(bad), ['b.txt', 'd.log']);
    });

    test('uploadHeaders set the blob properties and metadata', async () => {
      const c = await containerWith({});
      const out = spec('a.txt', azurite.containerSasUrl(c, 'cw'));
      out.destination.container!.uploadHeaders = [
        { name: 'Content-Type', value: 'text/plain; charset=utf-8' },
        { name: 'x-ms-blob-cache-control', value: 'no-cache' },
        { name: 'x-ms-meta-owner', value: 'lazurite' },
        { name: 'X-Unknown', value: 'ignored' },
      ];
      assert.equal(await uploadOutputFiles([out], 'success', TASK, taskFiles()), undefined);
      const props = await azurite.serviceClient.getContainerClient(c).getBlobClient('a.txt').getProperties();
      assert.equal(props.contentType, 'text/plain; charset=utf-8');
      assert.equal(props.cacheControl, 'no-cache');
      assert.deepEqual(props.metadata, { owner: 'lazurite' });
    });

    test('a pattern matching nothing is not an error', async () => {
      const c = await containerWith({});
      const url = azurite.containerSasUrl(c, 'cw');
      const files = [spec('*.none', url), spec('missing/file.txt', url), spec('nodir/**/*.txt', url)];
      assert.equal(await uploadOutputFiles(files, 'success', TASK, taskFiles()), undefined);
      assert.deepEqual(await blobNames(c), []);
    });

    test('a SAS without write permission is FileUploadMiscError', async () => {
      const c = await containerWith({});
      const readOnly = azurite.containerSasUrl(c, 'rl');
      const f = assertFailure(
        await uploadOutputFiles([spec('a.txt', readOnly)], 'success', TASK, taskFiles()),
        'FileUploadMiscError',
      );
      assert.equal(f.category, 'usererror');
      assert.equal(detail(f, 'HttpStatusCode'), '403');
      assert.equal(detail(f, 'FilePath'), `/mnt/batch/tasks/${WD}/a.txt`);
      assert.ok(f.message.includes(`${c}/a.txt`), f.message);
      assert.deepEqual(await blobNames(c), []);
      const tampered = tamper(azurite.containerSasUrl(c, 'cw'));
      assertFailure(
        await uploadOutputFiles([spec('a.txt', tampered)], 'success', TASK, taskFiles()),
        'FileUploadMiscError',
      );
    });

    test('the other specs are still uploaded after a failure', async () => {
      const c = await containerWith({});
      const files = [
        spec('a.txt', azurite.containerSasUrl(c, 'r')),
        spec('b.txt', azurite.containerSasUrl(c, 'cw')),
      ];
      assertFailure(await uploadOutputFiles(files, 'success', TASK, taskFiles()), 'FileUploadMiscError');
      assert.deepEqual(await blobNames(c), ['b.txt']);
    });

    test('patterns outside the task directory and malformed container URLs fail', async () => {
      const c = await containerWith({});
      const url = azurite.containerSasUrl(c, 'cw');
      for (const pattern of ['../../task2/stdout.txt', '/etc/passwd', '../../*']) {
        const f = await uploadOutputFiles([spec(pattern, url)], 'success', TASK, taskFiles());
        assertFailure(f, 'FileUploadMiscError');
      }
      const absolute = spec(`/mnt/batch/tasks/${TASK}/stdout.txt`, url);
      assert.equal(await uploadOutputFiles([absolute], 'success', TASK, taskFiles()), undefined);
      assert.deepEqual(await blobNames(c), ['stdout.txt']);
      const broken = spec('a.txt', 'not a url?sig=secret');
      assertFailure(await uploadOutputFiles([broken], 'success', TASK, taskFiles()), 'FileUploadMiscError');
    });
  });
});
