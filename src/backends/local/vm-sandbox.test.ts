import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildTinyRootfs } from '../../content/rootfs/tiny.ts';
import { enterNodeHelper } from './enter-node.ts';
import { hostInterface } from './node-network.ts';
import { DEFAULT_VM_NETWORK, VmSandboxes, vmNetwork, type VmRun } from './vm-sandbox.ts';

/** VM sandboxes (vm-sandbox.ts, vm-broker.h): a node-up holder per command, data disks through the mount broker. */

const root = process.getuid?.() === 0;
const size = { name: 'standard_a1_v2', cores: 1, memoryMB: 512, tempDiskGB: 10 };

describe(
  'the mount broker checks',
  { skip: root ? false : 'needs root (builds the helpers in a data dir)' },
  () => {
    test('allowlisted file systems (ext2/ext3 through ext4) and plain flags only; nosuid and nodev forced', () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'lzr-broker-'));
      try {
        const helper = enterNodeHelper(dataDir);
        const verdict = (type: string, flags: number) =>
          execFileSync(helper, ['check-mount', type, String(flags)], { encoding: 'utf8' }).trim();
        const MAGIC = 0xc0ed0000;
        // MOUNT_ATTR_RDONLY 0x1, NOSUID 0x2, NODEV 0x4, NOEXEC 0x8, NOATIME 0x10
        assert.equal(verdict('ext2', MAGIC), 'ext4 0x6');
        assert.equal(verdict('ext3', 0), 'ext4 0x6');
        assert.equal(verdict('ext4', 1 | 8 | 1024), 'ext4 0x1f');
        assert.equal(verdict('xfs', 0), 'xfs 0x6');
        assert.equal(verdict('vfat', 2 | 4), 'vfat 0x6');
        for (const type of ['tmpfs', 'proc', 'sysfs', 'devtmpfs', 'overlay', 'squashfs', 'ext4x', ''])
          assert.equal(verdict(type, 0), 'refused', type);
        // remount 32, bind 4096, move 8192, rec 16384, private 1 << 18, shared 1 << 20, mandlock 64
        for (const flags of [32, 4096, 4096 | 16384, 8192, 1 << 18, 1 << 20, 64, MAGIC | 4096])
          assert.equal(verdict('ext4', flags), 'refused', String(flags));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  },
);

async function fixture() {
  const dataDir = mkdtempSync(join(tmpdir(), 'lzr-vmsb-'));
  const lower = join(dataDir, 'lower');
  mkdirSync(lower);
  await buildTinyRootfs(lower);
  const disk = join(dataDir, 'lun0.raw');
  writeFileSync(disk, '');
  execFileSync('truncate', ['-s', '64M', disk]);
  const other = join(dataDir, 'other.raw');
  writeFileSync(other, '');
  execFileSync('truncate', ['-s', '64M', other]);
  execFileSync('mke2fs', ['-q', '-F', other]);
  const loops = [disk, other].map((f) =>
    execFileSync('losetup', ['--find', '--show', f], { encoding: 'utf8' }).trim(),
  );
  const vms = join(dataDir, 'vms');
  const sandboxes = new VmSandboxes(dataDir, vms);
  const base = (script: string, timeoutMs = 60_000): VmRun => ({
    vm: 'vm1',
    dir: join(vms, 'vm1'),
    hostname: 'builder',
    lower,
    size,
    disks: [{ lun: 0, loop: loops[0] ?? '' }],
    script,
    timeoutMs,
  });
  const cleanup = () => {
    for (const l of loops) spawnSync('losetup', ['-d', l]);
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { dataDir, vms, sandboxes, base, loops, cleanup };
}

/** Every process whose cgroup names this VM (`vm-<id>`), on the host. */
function vmProcesses(vm: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/vm-${vm}`)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

describe('VM sandboxes', { skip: root ? false : 'needs root' }, () => {
  test('the script runs as the VM root in its own user namespace; its data disk mounts, nothing else does', async () => {
    const f = await fixture();
    try {
      const first = await f.sandboxes.run(
        f.base(
          [
            'hostname',
            "awk '$1 == 0 { print $2 }' /proc/self/uid_map",
            'ls -l /dev/disk/azure/scsi1/lun0 | cut -c1',
            'mke2fs -q /dev/disk/azure/scsi1/lun0 >/dev/null && mkdir -p /datadrive && mount /dev/disk/azure/scsi1/lun0 /datadrive && echo mounted',
            'echo data-1 > /datadrive/f && cat /datadrive/f',
            'echo "/dev/disk/azure/scsi1/lun0 /datadrive ext2 defaults 0 0" >> /etc/fstab',
            'mkdir -p /m && for t in tmpfs proc sysfs devtmpfs; do mount -t $t $t /m 2>/dev/null && echo "$t mounted"; done',
            'mknod /m/other b 7 0 2>/dev/null || echo no-mknod',
            `mount -t ext2 ${f.loops[1] ?? ''} /m 2>/dev/null || echo no-other-disk`,
            'mount --bind / /m 2>/dev/null || mount -o bind / /m 2>/dev/null || echo no-bind',
            'mount -o remount,rw /datadrive 2>/dev/null || echo no-remount',
            // Targets resolve beneath the VM's root: an absolute link stays inside, a magic link is refused.
            'ln -s / /up && mkdir -p /inside && mount /dev/disk/azure/scsi1/lun0 /up/inside && cat /inside/f',
            'mount /dev/disk/azure/scsi1/lun0 /proc/self/root/m 2>/dev/null || echo no-magic-link',
            'mount -t ext4 -o errors=continue /dev/disk/azure/scsi1/lun0 /m 2>/dev/null || echo no-options',
            // Relative paths are the caller's (busybox mount passes them as given).
            'mkdir -p /rel && cd /dev/disk/azure && mount scsi1/lun0 ../../../rel && cd / && cat rel/f',
            'echo done',
          ].join('\n'),
        ),
      );
      assert.equal(first.exitCode, 0, first.stderr);
      const lines = first.stdout.trim().split('\n');
      assert.equal(lines[0], 'builder');
      assert.ok(Number(lines[1]) >= 0x40000000, `VM root is host id ${String(lines[1])}`);
      assert.deepEqual(lines.slice(2), [
        'b',
        'mounted',
        'data-1',
        'no-mknod',
        'no-other-disk',
        'no-bind',
        'no-remount',
        'data-1',
        'no-magic-link',
        'no-options',
        'data-1',
        'done',
      ]);
      assert.deepEqual(vmProcesses('vm1'), [], 'nothing of the VM is left');
      // A script bigger than a pipe: its bytes flow while the broker serves the fstab's mount.
      const filler = '# filler line of a long script\n'.repeat(8192);
      const again = await f.sandboxes.run(
        f.base(`${filler}cat /datadrive/f; grep -c datadrive /proc/mounts`),
      );
      assert.deepEqual([again.exitCode, again.stdout], [0, 'data-1\n1\n'], again.stderr);
    } finally {
      f.cleanup();
    }
  });

  test('a timeout kills every process of the VM, double forks included', async () => {
    const f = await fixture();
    try {
      const r = await f.sandboxes.run(
        f.base('(setsid sleep 1000 &) ; sleep 1000 & echo started; wait', 1500),
      );
      assert.equal(r.timedOut, true);
      assert.notEqual(r.exitCode, 0);
      assert.equal(r.stdout, 'started\n');
      assert.deepEqual(vmProcesses('vm1'), []);
    } finally {
      f.cleanup();
    }
  });

  test('a holder a crashed server left is stopped by the next server (its command ends, nothing is left)', async () => {
    const f = await fixture();
    try {
      const running = f.sandboxes.run(f.base('echo up > /dev/up-marker; exec sleep 1000', 120_000));
      const pidFile = join(f.vms, 'vm1', 'holder.pid');
      // Until the holder is complete and its command runs (the marker file in the VM's /dev).
      for (;;) {
        const pid = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '';
        if (pid !== '' && existsSync(`/proc/${pid}/root/dev/up-marker`)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await new VmSandboxes(f.dataDir, f.vms).stopLeftover({ vm: 'vm1', dir: join(f.vms, 'vm1') });
      const r = await running;
      assert.notEqual(r.exitCode, 0);
      assert.equal(r.timedOut, false);
      assert.deepEqual(vmProcesses('vm1'), []);
    } finally {
      f.cleanup();
    }
  });

  test('the VM has its own eth0 with the address of its id slot, reaches the host through NAT, and keeps it', async () => {
    const f = await fixture();
    const http = createServer((_req, res) => res.end('from the host\n'));
    await new Promise<void>((r) => http.listen(0, '0.0.0.0', r));
    const port = (http.address() as AddressInfo).port;
    try {
      const script = [
        'ip -4 -o addr show eth0',
        'ip route | grep ^default',
        `wget -q -O - http://${DEFAULT_VM_NETWORK.replace(/\.0\/16$/, '.1')}:${String(port)}/`,
      ].join('\n');
      const first = await f.sandboxes.run(f.base(script));
      assert.equal(first.exitCode, 0, first.stderr);
      const idBase = Number(readFileSync(join(f.vms, 'vm1', 'idmap'), 'utf8'));
      const net = vmNetwork(DEFAULT_VM_NETWORK, idBase);
      const [addr = '', route = '', body = ''] = first.stdout.trim().split('\n');
      assert.match(addr, new RegExp(`eth0\\s+inet ${net.address.replaceAll('.', '\\.')}/16`));
      assert.match(route, new RegExp(`default via ${net.gateway.replaceAll('.', '\\.')}`));
      assert.equal(body, 'from the host');
      const again = await f.sandboxes.run(f.base('ip -4 -o addr show eth0'));
      assert.match(again.stdout, new RegExp(`inet ${net.address.replaceAll('.', '\\.')}/16`), 'same address');
      assert.equal(
        existsSync(`/sys/class/net/${hostInterface(f.dataDir, 'vm-vm1')}`),
        false,
        'no host end left',
      );
    } finally {
      http.close();
      f.cleanup();
    }
  });

  test('VM addresses follow the host-wide id slots: distinct per slot, none is the bridge', () => {
    const a = vmNetwork('10.215.0.0/16', 0x40000000);
    const b = vmNetwork('10.215.0.0/16', 0x40000000 + 65536 * 7);
    assert.deepEqual(a, { address: '10.215.0.2', prefix: 16, gateway: '10.215.0.1', range: '10.215.0.0/16' });
    assert.equal(b.address, '10.215.0.9');
    assert.throws(() => vmNetwork('10.215.0.0/30', 0x40000000 + 65536 * 5), /no address/);
  });
});
