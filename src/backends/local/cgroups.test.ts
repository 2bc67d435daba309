import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseCpuStat } from './cgroups.ts';

test('cpu.stat: user_usec and system_usec, or nothing when either is missing', () => {
  const text = 'usage_usec 1500\nuser_usec 1200\nsystem_usec 300\nnice_usec 0\nnr_periods 4\n';
  assert.deepEqual(parseCpuStat(text), { userMicros: 1200, kernelMicros: 300 });
  assert.equal(parseCpuStat('usage_usec 1500\nuser_usec 1200\n'), undefined);
  assert.equal(parseCpuStat(''), undefined);
});

test("this kernel's cgroup v2 cpu.stat parses (where a v2 hierarchy is mounted)", (t) => {
  const file = ['/sys/fs/cgroup/cpu.stat', '/sys/fs/cgroup/unified/cpu.stat'].find((f) => existsSync(f));
  if (file === undefined) {
    t.skip('no cgroup v2 cpu.stat on this host');
    return;
  }
  const parsed = parseCpuStat(readFileSync(file, 'utf8'));
  assert.ok(parsed && parsed.userMicros + parsed.kernelMicros > 0, file);
});
