import assert from 'node:assert/strict';
import { test } from 'node:test';
import { executorConformance } from '../conformance.ts';
import { readWhole } from '../file-read.ts';
import { SimulatedNodeExecutor } from './node-executor.ts';

const image = { region: 'westeurope', osManifest: `sha256:${'0'.repeat(64)}`, dataDisks: [] };

executorConformance('simulated', () =>
  Promise.resolve({
    executor: new SimulatedNodeExecutor({
      delays: { hydrateMs: 5, bootMs: 5, execMs: 5 },
      sleep: () => Promise.resolve(),
    }),
    image,
    executes: false,
    cleanup: () => Promise.resolve(),
  }),
);

test('simulated delays: hydrate once per image, boot and exec each time', async () => {
  const waits: number[] = [];
  const x = new SimulatedNodeExecutor({
    delays: { hydrateMs: 2000, bootMs: 1000, execMs: 200 },
    sleep: (ms) => {
      waits.push(ms);
      return Promise.resolve();
    },
  });
  const size = { name: 's', cores: 1, memoryMB: 512, tempDiskGB: 1 };
  for (const nodeId of ['n1', 'n2'])
    await x.boot({ accountName: 'a', poolId: 'p', nodeId, hostname: nodeId, image, size, isDedicated: true });
  const r = await x.exec('n1', {
    commandLine: '/bin/false; exit 42',
    environment: {},
    elevation: 'nonadmin',
    workingDir: '/mnt/batch/tasks/startup/wd',
    stdoutFile: 'startup/stdout.txt',
    stderrFile: 'startup/stderr.txt',
  });
  assert.deepEqual({ exitCode: r.exitCode, timedOut: r.timedOut }, { exitCode: 42, timedOut: false });
  assert.deepEqual(waits, [2000, 1000, 1000, 200]);
  const out = await readWhole(x, 'n1', 'startup/stdout.txt');
  assert.equal(out.content.toString(), '[simulated node] not executed: /bin/false; exit 42\n');
  assert.equal((await readWhole(x, 'n1', 'startup/stderr.txt')).content.length, 0);
});
