import assert from 'node:assert/strict';
import { readWhole } from '../file-read.ts';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NODE_ROOT_DIR, type NodeImage, type NodeSpec, type ProcessSpec } from '../port.ts';
import { LocalNodeExecutor } from './node-executor.ts';
import { bridgeName, hostInterface, nodeNetHelper, rangeRules } from './node-network.ts';
import { tinyNodeImage } from './tiny-image.fixture.ts';

/** A range of its own (private, on this machine only) so this test meets no other server's nodes. */
const RANGE = '10.215.77.0/24';
const net = (last: number) => ({
  address: `10.215.77.${String(last)}`,
  prefix: 24,
  gateway: '10.215.77.1',
  range: RANGE,
});

const spec = (nodeId: string, image: NodeImage, address: number): NodeSpec => ({
  accountName: 'acc',
  poolId: 'pool',
  nodeId,
  hostname: nodeId,
  image,
  size: { name: 'standard_a1_v2', cores: 1, memoryMB: 512, tempDiskGB: 10 },
  isDedicated: true,
  network: net(address),
});

const proc = (commandLine: string, out = 'out'): ProcessSpec => ({
  commandLine,
  environment: { PATH: '/usr/bin:/bin' },
  elevation: 'admin',
  workingDir: `${NODE_ROOT_DIR}/workitems/j/t/wd`,
  stdoutFile: `workitems/j/t/${out}.txt`,
  stderrFile: `workitems/j/t/${out}.err`,
});

async function output(
  x: LocalNodeExecutor,
  nodeId: string,
  commandLine: string,
  out = 'out',
): Promise<string> {
  const r = await x.exec(nodeId, proc(commandLine, out));
  const text = (await readWhole(x, nodeId, `workitems/j/t/${out}.txt`)).content.toString();
  assert.equal(r.exitCode, 0, `${commandLine}: ${text}`);
  return text;
}

test('names: a bridge per subnet, a host interface per data dir and node, one nftables table per range', () => {
  assert.equal(bridgeName(net(9)), 'lzb0ad74d00');
  assert.match(hostInterface('/d', 'n1'), /^lzv[0-9a-f]{11}$/);
  assert.notEqual(hostInterface('/d', 'n1'), hostInterface('/e', 'n1'));
  const rules = rangeRules(RANGE);
  assert.match(rules, /^table ip lazurite_0ad74d00_24\ndelete table ip lazurite_0ad74d00_24\n/);
  assert.match(rules, /ip saddr 10\.215\.77\.0\/24 ip daddr != 10\.215\.77\.0\/24 masquerade/);
  assert.match(rules, /ip daddr 10\.215\.77\.0\/24 drop/);
  assert.doesNotMatch(rules, /dnat|redirect/);
});

if (process.getuid?.() !== 0) {
  test('node networks', { skip: 'needs root' }, () => undefined);
} else {
  test("node-net refuses a process that shares the host's network namespace (never the host's eth0)", () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lzr-net-'));
    try {
      const helper = nodeNetHelper(dataDir) ?? assert.fail('no C compiler');
      const args = ['veth', String(process.pid), 'lzbnone', 'lzvnone', '10.215.78.2', '24', '10.215.78.1'];
      const r = spawnSync(helper, args, { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /not a node's network namespace/);
      assert.equal(existsSync('/sys/class/net/lzvnone'), false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('two nodes: lo and eth0 each, their own addresses, HTTP from one to the other; stop removes the pair, close the bridge', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'lzr-net-'));
    const { regions, image } = await tinyNodeImage(dataDir);
    const x = new LocalNodeExecutor({ dataDir, regions });
    const bridge = `/sys/class/net/${bridgeName(net(2))}`;
    try {
      await Promise.all([x.boot(spec('a', image, 2)), x.boot(spec('b', image, 3))]);
      const devices = await output(x, 'a', "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort");
      assert.deepEqual(devices.trim().split('\n'), ['eth0', 'lo']);
      assert.match(await output(x, 'b', 'ip -4 addr show eth0'), /inet 10\.215\.77\.3\/24/);
      assert.match(await output(x, 'b', 'ip route'), /default via 10\.215\.77\.1 dev eth0/);
      // b serves its hostname over HTTP (busybox httpd) until aborted; a fetches it (retrying until b listens).
      const abort = new AbortController();
      const serving = x.exec('b', {
        ...proc('mkdir -p www && hostname > www/id && exec httpd -f -p 7001 -h www', 'listen'),
        signal: abort.signal,
      });
      const fetch =
        'for i in $(seq 100); do wget -q -O - http://10.215.77.3:7001/id && exit 0; sleep 0.1; done; exit 1';
      assert.equal(await output(x, 'a', fetch, 'send'), 'b\n');
      abort.abort();
      assert.equal((await serving).killed, true);
      const hostEnd = `/sys/class/net/${hostInterface(dataDir, 'a')}`;
      assert.equal(existsSync(hostEnd), true);
      await x.stop('a');
      assert.equal(existsSync(hostEnd), false, 'the pair goes with the node');
      await x.boot(spec('a', image, 2));
      assert.match(await output(x, 'a', 'ip -4 addr show eth0'), /inet 10\.215\.77\.2\/24/);
      assert.equal(existsSync(bridge), true);
    } finally {
      await x.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
    assert.equal(existsSync(bridge), false, 'close removes the bridge');
  });
}
