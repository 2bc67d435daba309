import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What a node must not reach on this host: a block device, an address, a host-only path and process marker. */
export interface HostFacts {
  /** `major minor` of a host block device (the first of /dev/vda, /dev/sda, /dev/nvme0n1 there is). */
  block: string | undefined;
  /** An IPv4 address of a host interface other than loopback. */
  address: string | undefined;
  /** A folder that exists on the host only (the data dir). */
  hostPath: string;
  /** A word in the argv of a host process (the test runner or the server). */
  hostWord: string;
  /** The ptrace probe (ptrace-probe.fixture.c, base64), when the attacks include ptrace (withPtraceProbe). */
  ptraceProbe?: string;
}

/**
 * The facts with the ptrace probe: ptrace-probe.fixture.c built here without a C library (x86-64 only, about 2 KB),
 * so that it travels inside the attack script. The attacks then try PTRACE_ATTACH and PTRACE_SEIZE on the node's
 * PID 1 and on processes of another user in the node (they must be run as the node's root).
 */
export function withPtraceProbe(h: HostFacts): HostFacts {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-ptrace-probe-'));
  try {
    const source = fileURLToPath(new URL('./ptrace-probe.fixture.c', import.meta.url));
    const binary = join(dir, 'probe');
    execFileSync('cc', [
      ...[
        '-static',
        '-nostdlib',
        '-Os',
        '-fno-pie',
        '-no-pie',
        '-fno-stack-protector',
        '-Wall',
        '-Werror',
        '-s',
      ],
      ...['-fno-asynchronous-unwind-tables', '-fno-builtin', '-Wl,--build-id=none', '-Wl,-z,noseparate-code'],
      ...['-Wl,-z,norelro', '-o', binary, source],
    ]);
    return { ...h, ptraceProbe: readFileSync(binary).toString('base64') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function hostFacts(hostPath: string, hostWord: string): HostFacts {
  let block: string | undefined;
  for (const dev of ['/dev/vda', '/dev/sda', '/dev/nvme0n1']) {
    try {
      const st = statSync(dev);
      if (st.isBlockDevice()) {
        block = `${String(Math.floor(st.rdev / 256) & 0xfff)} ${String((st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00))}`;
        break;
      }
    } catch {
      // next
    }
  }
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
  return { block, address, hostPath, hostWord };
}

/** The attacks: a name and a shell command that succeeds only when the attack worked. */
function attacks(h: HostFacts): [string, string][] {
  const attacks: [string, string][] = [
    ['mount-devtmpfs', 'mkdir -p /tmp/m1 && mount -t devtmpfs devtmpfs /tmp/m1'],
    ['mount-proc', 'mkdir -p /tmp/m2 && mount -t proc proc /tmp/m2'],
    ['mount-sysfs', 'mkdir -p /tmp/m3 && mount -t sysfs sysfs /tmp/m3'],
    ['mount-tmpfs', 'mkdir -p /tmp/m4 && mount -t tmpfs tmpfs /tmp/m4'],
    ...(h.block === undefined
      ? []
      : ([['block-device', `mknod /tmp/blk b ${h.block} && head -c 512 /tmp/blk | wc -c | grep -qx 512`]] as [
          string,
          string,
        ][])),
    [
      'sysctl-write',
      'v=$(cat /proc/sys/kernel/printk_ratelimit) && echo "$v" > /proc/sys/kernel/printk_ratelimit',
    ],
    [
      'module-load',
      'echo junk > /tmp/m.ko; insmod /tmp/m.ko 2>&1 | grep -q "not permitted" && exit 1; exit 0',
    ],
    ['host-root', `ls -d /proc/1/root${h.hostPath}`],
    [
      'host-fds',
      `for f in /proc/[0-9]*/fd/*; do readlink "$f"; done 2>/dev/null | grep -E "${h.hostPath}|lazurite|cgroup|^/dev/shm"`,
    ],
    // The word in two halves, joined in a file: neither this script nor grep's argv may match it themselves.
    [
      'host-processes',
      `printf "%s%s\\n" ${h.hostWord.slice(0, 3)} ${h.hostWord.slice(3)} >/tmp/w; cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " " | grep -F -f /tmp/w`,
    ],
    ['many-processes', '[ "$(ls -d /proc/[0-9]* | wc -l)" -gt 20 ]'],
    ['set-hostname', 'hostname evil'],
    ['network-config', 'ip link set lo down'],
    // lo, and at most the node's own veth: never the host's interfaces.
    ['host-interfaces', '[ "$(tail -n +3 /proc/net/dev | wc -l)" -gt 2 ]'],
    ...(h.address === undefined
      ? []
      : ([
          ['host-address', `ip addr | grep -F "${h.address}/"`],
          // busybox nc cannot bind an address: httpd can (it exits at once when the bind fails).
          [
            'bind-host-address',
            `mkdir -p /tmp/www; timeout 1 httpd -f -h /tmp/www -p ${h.address}:39999; [ $? -ge 124 ]`,
          ],
        ] as [string, string][])),
    ['host-uid', `awk '$1 == 0 && $2 == 0' /proc/self/uid_map | grep -q .`],
    ['new-user-namespace', 'unshare -U -r true'],
    // The probe exits 0 only when an attach worked (or its own-uid control did not: no vacuous pass).
    ...(h.ptraceProbe === undefined
      ? []
      : ([
          ['ptrace-pid1', '/tmp/ptrace-probe pid1'],
          ['ptrace-other-user', '/tmp/ptrace-probe others'],
        ] as [string, string][])),
  ];
  return attacks;
}

/**
 * A shell command line (busybox) for a node's root: each attack prints `<name>: refused` when it failed or saw only
 * the node, `<name>: BREACH <what it got>` when it worked. The script travels base64-encoded, so no process's argv
 * holds the host words it looks for. With `ptraceProbe` the script first writes the probe to /tmp/ptrace-probe.
 */
export function attackScript(h: HostFacts): string {
  const install =
    h.ptraceProbe === undefined
      ? []
      : [`echo ${h.ptraceProbe} | base64 -d > /tmp/ptrace-probe && chmod 700 /tmp/ptrace-probe`];
  const lines = attacks(h).map(
    ([name, cmd]) =>
      `if ( ${cmd} ) >/tmp/attack.out 2>&1; then echo "${name}: BREACH $(head -c 300 /tmp/attack.out | tr '\\n' ' ')"; else echo "${name}: refused"; fi`,
  );
  const script = Buffer.from(`${[...install, ...lines].join('\n')}\n`).toString('base64');
  return `/bin/sh -c 'echo ${script} | base64 -d > /tmp/attacks.sh && exec /bin/sh /tmp/attacks.sh'`;
}

/** The attacks' names as attackScript prints them for these facts (to check none went missing). */
export function attackNames(h: HostFacts): string[] {
  return attacks(h).map(([name]) => name);
}
