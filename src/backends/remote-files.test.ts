import assert from 'node:assert/strict';
import { text } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { NodeDirectoryNotEmpty, NodeFileNotFound, NodeFilesUnavailable } from './port.ts';
import { FileRequestBroker, answerFileRequest } from './remote-files.ts';
import { SimulatedNodeExecutor } from './simulated/node-executor.ts';

const node = {
  accountName: 'a',
  poolId: 'p',
  nodeId: 'n1',
  hostname: 'n1',
  image: { region: 'westeurope', osManifest: 'sha256:0', dataDisks: [] },
  size: { name: 'standard_a1_v2', cores: 1, memoryMB: 2048, tempDiskGB: 10 },
  isDedicated: true,
};

/** A broker and a simulated node `n1` whose command wrote `stdoutFile` (run in `workingDir`). */
async function hostWithOutput(workingDir: string, stdoutFile: string) {
  let n = 0;
  const broker = new FileRequestBroker(() => `r${String(++n)}`);
  const executor = new SimulatedNodeExecutor({ sleep: () => Promise.resolve() });
  await executor.boot(node);
  await executor.exec('n1', {
    commandLine: 'echo hi',
    environment: {},
    elevation: 'admin',
    workingDir,
    stdoutFile,
    stderrFile: stdoutFile.replace(/[^/]*$/, 'stderr.txt'),
  });
  return { broker, executor };
}

describe('remote node files', () => {
  test('a request is handed to its host once, answered from the executor, and settles the call', async () => {
    const { broker, executor } = await hostWithOutput('startup', 'startup/stdout.txt');
    const reading = broker.filesOn('far').readFile('n1', 'startup/stdout.txt', { start: 0, end: 9 });
    const missing = broker.filesOn('far').readFile('n1', 'startup/none.txt');
    assert.deepEqual(broker.take('other'), []);
    const requests = broker.take('far');
    assert.equal(requests.length, 2);
    assert.deepEqual(broker.take('far'), []);
    for (const r of requests) {
      const { result, body } = await answerFileRequest(executor, r);
      assert.equal(broker.complete(r.id, result, body), true);
    }
    const got = await reading;
    assert.equal(await text(got.body), '[simulated');
    assert.ok(got.info.lastModified instanceof Date);
    await assert.rejects(missing, NodeFileNotFound);
    assert.equal(broker.complete(requests[0]?.id ?? '', {}), false, 'settled once');
  });

  test('stat, delete and a missing folder answer through the host like the executor', async () => {
    const { broker, executor } = await hostWithOutput('shared', 'shared/d/out.txt');
    const files = broker.filesOn('far');
    const answerAll = async () => {
      for (const r of broker.take('far')) {
        const { result, body } = await answerFileRequest(executor, r);
        broker.complete(r.id, result, body);
      }
    };
    const stat = files.statFile('n1', 'shared/d/out.txt');
    const notEmpty = files.deleteFile('n1', 'shared/d', false);
    await answerAll();
    assert.equal((await stat).size, (await executor.statFile('n1', 'shared/d/out.txt')).size);
    assert.ok((await stat).lastModified instanceof Date);
    await assert.rejects(notEmpty, NodeDirectoryNotEmpty);
    const gone = files.deleteFile('n1', 'shared/d', true);
    await answerAll();
    await gone;
    const missing = files.listFiles('n1', 'shared/d', true);
    await answerAll();
    await assert.rejects(missing, NodeFileNotFound);
  });

  test('a host that does not answer in time fails the call', async () => {
    const broker = new FileRequestBroker(() => 'r', 1);
    await assert.rejects(broker.filesOn('gone').listFiles('n1', '', true), NodeFilesUnavailable);
    assert.deepEqual(broker.take('gone'), [], 'the request is withdrawn');
  });
});
