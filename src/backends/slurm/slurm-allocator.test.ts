import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SlurmAllocator } from './slurm-allocator.ts';

/**
 * SlurmAllocator against stand-in `sbatch`, `squeue` and `scancel` commands on PATH that record what they were
 * given (the real ones run in tests/compat/slurm.test.ts).
 */
describe('the Slurm allocator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-sbatch-'));
  const path = process.env.PATH;
  const tool = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  const allocator = new SlurmAllocator({
    slurmConf: '/etc/cluster/slurm.conf',
    tag: 'abc',
    sbatchArgs: ['--partition=batch', '--account=science'],
    lowPriorityArgs: ['--qos=preemptible'],
    path: `${dir}:${path ?? ''}`,
    launch: {
      node: '/opt/node',
      cli: '/opt/lazurite/src/cli/main.ts',
      serverUrl: () => 'https://10.0.0.1:8443',
      token: 'secret-token',
      caPem: '-----BEGIN CERTIFICATE-----',
      hostDir: '/var/lib/lazurite/slurm-host',
    },
  });
  before(() => {
    tool('sbatch', `printf '%s\\n' "$@" > ${dir}/args; cat > ${dir}/script; env > ${dir}/env; echo 42`);
    tool('scancel', `printf '%s\\n' "$@" > ${dir}/cancelled`);
    tool('squeue', `cat ${dir}/queue.json`);
    process.env.PATH = `${dir}:${path ?? ''}`;
  });
  after(() => {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  });

  test('a node is one job: sized, named, not requeued, extra options; secrets in its environment only', async () => {
    await allocator.submit({
      accountName: 'acct',
      poolId: 'p1',
      nodeId: 'tvmps_1_p',
      cores: 2,
      memoryMB: 8192,
      isDedicated: false,
    });
    const args = readFileSync(join(dir, 'args'), 'utf8').trim().split('\n');
    for (const a of [
      '--no-requeue',
      '--job-name=lz-abc.acct.p1.tvmps_1_p',
      '--cpus-per-task=2',
      '--mem=8192M',
      '--partition=batch',
      '--account=science',
      '--qos=preemptible',
      '--export=PATH,LAZURITE_AGENT_TOKEN,LAZURITE_AGENT_CA',
    ])
      assert.ok(args.includes(a), a);
    assert.equal(args.join(' ').includes('secret-token'), false);
    const script = readFileSync(join(dir, 'script'), 'utf8');
    assert.match(script, /--server 'https:\/\/10\.0\.0\.1:8443' --host-id cluster --only-node 'tvmps_1_p'/);
    assert.match(script, /--pull-images/);
    assert.equal(script.includes('secret-token'), false);
    const env = readFileSync(join(dir, 'env'), 'utf8');
    assert.match(env, /^LAZURITE_AGENT_TOKEN=secret-token$/m);
    assert.match(env, /^SLURM_CONF=\/etc\/cluster\/slurm\.conf$/m);
    await allocator.submit({
      accountName: 'acct',
      poolId: 'p1',
      nodeId: 'n2',
      cores: 1,
      memoryMB: 1,
      isDedicated: true,
    });
    assert.equal(readFileSync(join(dir, 'args'), 'utf8').includes('--qos=preemptible'), false);
  });

  test("squeue --json: only this server's jobs, with their state, host, reason and preemption", async () => {
    const job = (id: number, name: string, state: string, nodes = '', reason = 'None') => ({
      job_id: id,
      name,
      job_state: state,
      nodes,
      state_reason: reason,
    });
    writeFileSync(
      join(dir, 'queue.json'),
      JSON.stringify({
        jobs: [
          job(1, 'lz-abc.acct.p1.n1', 'RUNNING', 'lzh1'),
          job(2, 'lz-abc.acct.p1.n2', 'PENDING', '', 'Resources'),
          job(3, 'lz-abc.acct.p1.n3', 'NODE_FAIL', 'lzh2'),
          job(6, 'lz-abc.acct.p1.n6', 'PREEMPTED', 'lzh3'),
          job(4, 'lz-other.acct.p1.n4', 'RUNNING', 'lzh1'),
          job(5, 'somebody-else', 'RUNNING', 'lzh3'),
        ],
      }),
    );
    assert.deepEqual(
      (await allocator.list()).map((a) => [a.id, a.nodeId, a.state, a.host, a.detail, a.preempted]),
      [
        ['1', 'n1', 'running', 'lzh1', 'RUNNING', undefined],
        ['2', 'n2', 'pending', undefined, 'PENDING, Resources', undefined],
        ['3', 'n3', 'ended', 'lzh2', 'NODE_FAIL', undefined],
        ['6', 'n6', 'ended', 'lzh3', 'PREEMPTED', true],
      ],
    );
    await allocator.cancel(['1', '3']);
    assert.deepEqual(readFileSync(join(dir, 'cancelled'), 'utf8').trim().split('\n'), ['1', '3']);
  });
});
