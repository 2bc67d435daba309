import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { runCli } from './harness.ts';

const run = promisify(execFile);

/** Processes whose command line names `dir`. */
function processesNaming(dir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(dir) && Number(pid) !== process.pid) out.push(`${pid} ${cmd}`);
    } catch {
      /* ended meanwhile */
    }
  }
  return out;
}

/**
 * `lazurite cluster up|down` (issue 14, slice 1): a real Slurm cluster on this machine, each host a slurmd in its own
 * network, mount, UTS and PID namespace with its own hostname, address and private data dir.
 */
describe('lazurite cluster', () => {
  let base: string;
  let stateDir: string;
  let info: { hosts: { name: string; address: string }[]; serverArgs: string[] };
  const slurm = (cmd: string, args: string[]) =>
    run(cmd, args, { env: { ...process.env, SLURM_CONF: join(stateDir, 'slurm.conf') } });

  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'lazurite-cluster-'));
    stateDir = join(base, 'state');
    info = JSON.parse(
      await runCli([
        'cluster',
        'up',
        '--hosts',
        '3',
        '--state-dir',
        stateDir,
        '--network',
        '10.252.7.0/24',
        '--controller-port',
        '6827',
        '--json',
      ]),
    ) as typeof info;
  });
  after(async () => {
    await runCli(['cluster', 'down', '--state-dir', stateDir]).catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
  });

  test('up prints three hosts with distinct addresses and the server arguments', () => {
    assert.equal(info.hosts.length, 3);
    assert.equal(new Set(info.hosts.map((h) => h.address)).size, 3);
    assert.equal(new Set(info.hosts.map((h) => h.name)).size, 3);
    const args = info.serverArgs;
    assert.equal(args[args.indexOf('--node-backend') + 1], 'slurm');
    assert.equal(args[args.indexOf('--advertise-url') + 1], 'https://10.252.7.1');
    assert.equal(args[args.indexOf('--slurm-conf') + 1], join(stateDir, 'slurm.conf'));
    assert.equal(args[args.indexOf('--slurm-low-priority-args') + 1], '["--partition=preemptible"]');
  });

  test('sinfo shows the three hosts idle, each at its own address', async () => {
    const { stdout } = await slurm('sinfo', ['-h', '-N', '-p', 'batch', '-o', '%N %T %o']);
    const rows = stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    assert.deepEqual(
      rows
        .map(([name, state, addr]) => ({ name, state, addr }))
        .sort((a, b) => String(a.name).localeCompare(String(b.name))),
      info.hosts.map((h) => ({ name: h.name, state: 'idle', addr: h.address })),
    );
  });

  test('a job runs on each host, in its namespaces: its hostname, its address, its private data dir', async () => {
    for (const h of info.hosts) {
      await slurm('sbatch', [
        '--wait',
        '-w',
        h.name,
        '-o',
        '/var/lib/lazurite/slurm-host/probe.txt',
        '--wrap',
        'hostname; ip -4 -o addr show eth0; ls /var/lib/lazurite/slurm-host',
      ]);
    }
    for (const h of info.hosts) {
      const out = readFileSync(join(stateDir, 'hosts', h.name, 'probe.txt'), 'utf8');
      const [hostname, addr] = out.split('\n');
      assert.equal(hostname, h.name);
      assert.match(addr ?? '', new RegExp(`inet ${h.address.replace(/\./g, '\\.')}/24`));
      // The host sees only its own data dir at the shared path; the machine's stays empty there.
      assert.match(out, /probe\.txt/);
    }
    assert.equal(existsSync('/var/lib/lazurite/slurm-host/probe.txt'), false);
  });

  test('down, even after a kill -9 of the daemons, leaves no process, namespace, interface or mount, and runs again', async () => {
    const { hosts } = JSON.parse(readFileSync(join(stateDir, 'cluster.json'), 'utf8')) as {
      hosts: { netns: string; veth: string }[];
    };
    assert.notDeepEqual(processesNaming(stateDir), []);
    // As after a crash: the controller and munge die by SIGKILL first (stale pid files stay behind).
    for (const pidFile of [join(stateDir, 'slurm', 'slurmctld.pid'), join(stateDir, 'munge', 'munged.pid')])
      process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL');
    await runCli(['cluster', 'down', '--state-dir', stateDir]);
    assert.deepEqual(processesNaming(stateDir), []);
    for (const h of hosts) {
      assert.equal(existsSync(`/run/netns/${h.netns}`), false, h.netns);
      assert.equal(existsSync(`/sys/class/net/${h.veth}`), false, h.veth);
    }
    assert.equal(readFileSync('/proc/mounts', 'utf8').includes(stateDir), false);
    assert.equal(existsSync(stateDir), false);
    await runCli(['cluster', 'down', '--state-dir', stateDir]);
  });
});
