import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import type { BatchServiceClient } from '@azure/batch';
import {
  attackNames,
  attackScript,
  hostFacts,
  withPtraceProbe,
} from '../../src/backends/local/node-attacks.fixture.ts';
import { computeClient, startServer, type TestServer } from './harness.ts';
import { sharedKeyBatch, tinyPoolSpec, waitFor } from './pool-image.ts';

/**
 * Nodes as isolation boundaries (issue 13, ADR 0020), through @azure/batch on real local nodes: an admin start
 * task attacks the host (mounts, a host block device, /proc/sys, a module, /proc/1/root, host descriptors and
 * processes, the network, ptrace of the node's PID 1 and of another user's processes) and is refused or sees only
 * its node; a non-admin task cannot read root's 0600 file; a
 * fork bomb and a memory hog end their own task only while the server keeps answering /health.
 * A VM `runCommand` (@azure/arm-compute) runs the same attacks, mounts its own data disk and nothing else through
 * the mount broker, and a timeout leaves no process of the VM (ADR 0020, VMs).
 * ptrace goes through a tiny static probe built on the host at test time (ptrace-probe.fixture.c; the image has no
 * tool for it): its control (attaching a process of its own uid) must work, so the refusals are the kernel's.
 */

const admin = { autoUser: { scope: 'pool' as const, elevationLevel: 'admin' as const } };
const nonadmin = { autoUser: { scope: 'pool' as const, elevationLevel: 'nonadmin' as const } };

async function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream ?? []) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

/** Runs a task to its end; its state, exit code and stdout. */
async function run(
  batch: BatchServiceClient,
  id: string,
  commandLine: string,
  extra: { nonadmin?: boolean; maxWallClockTime?: string } = {},
) {
  await batch.task.add('iso', {
    id,
    commandLine,
    userIdentity: extra.nonadmin === true ? nonadmin : admin,
    ...(extra.maxWallClockTime === undefined
      ? {}
      : { constraints: { maxWallClockTime: extra.maxWallClockTime } }),
  });
  const t = await waitFor(
    () => batch.task.get('iso', id),
    (t) => t.state === 'completed',
    `task ${id} completed`,
    120_000,
  );
  const node = t.nodeInfo?.nodeId ?? '';
  const out = await batch.file.getFromTask('iso', id, 'stdout.txt').catch(() => undefined);
  return { exitCode: t.executionInfo?.exitCode, node, stdout: await text(out?.readableStreamBody) };
}

/** Polls the server's /health while `work` runs; the number of polls and of failed ones. */
async function healthDuring<T>(
  server: TestServer,
  work: Promise<T>,
): Promise<{ result: T; polls: number; failed: number }> {
  const state = { done: false };
  let polls = 0;
  let failed = 0;
  const loop = (async () => {
    while (!state.done) {
      polls++;
      const ok = await fetch(`${server.connection.armEndpoint}/health`, {
        signal: AbortSignal.timeout(5000),
      })
        .then((r) => r.status === 200)
        .catch(() => false);
      if (!ok) failed++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return { result: await work, polls, failed };
  } finally {
    state.done = true;
    await loop;
  }
}

describe('nodes as isolation boundaries', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  test('an admin start task is refused everything of the host; tasks cannot reach root files, bombs end their own task', async () => {
    const server = await startServer();
    try {
      const batch = sharedKeyBatch(server);
      const facts = withPtraceProbe(hostFacts(server.dataDir, basename(server.dataDir)));
      await batch.pool.add(
        tinyPoolSpec('iso', 1, {
          startTask: { commandLine: attackScript(facts), userIdentity: admin, waitForSuccess: true },
        }),
      );
      const [node] = await waitFor(
        () => batch.computeNode.list('iso'),
        (ns) => ns.length === 1 && ns.every((n) => n.state === 'idle' || n.state === 'starttaskfailed'),
        'the node idle after its start task',
        300_000,
      );
      const nodeId = node?.id ?? '';
      assert.equal(node?.state, 'idle');
      const startOut = await batch.file.getFromComputeNode('iso', nodeId, 'startup/stdout.txt');
      const lines = (await text(startOut.readableStreamBody)).trim().split('\n');
      assert.deepEqual(
        lines,
        attackNames(facts).map((n) => `${n}: refused`),
      );

      await batch.job.add({ id: 'iso', poolInfo: { poolId: 'iso' } });
      const secret = await run(
        batch,
        'secret',
        '/bin/sh -c "umask 077; echo s3cret > $AZ_BATCH_NODE_SHARED_DIR/secret; ls -ln $AZ_BATCH_NODE_SHARED_DIR/secret"',
      );
      assert.equal(secret.exitCode, 0);
      // The shared folder is setgid _azbatchgrp (ADR 0026): the file takes that group, its 0600 mode keeps it out.
      assert.match(secret.stdout, /^-rw------- +1 0 +20000 /);
      const peek = await run(
        batch,
        'peek',
        '/bin/sh -c "cat $AZ_BATCH_NODE_SHARED_DIR/secret || echo refused"',
        {
          nonadmin: true,
        },
      );
      assert.equal(peek.stdout, 'refused\n');

      const bombs = await healthDuring(
        server,
        Promise.all([
          run(batch, 'forkbomb', `/bin/sh -c 'b() { b | b; }; b'`, { maxWallClockTime: 'PT2S' }),
          run(batch, 'memhog', `/bin/sh -c 'awk "BEGIN { s = \\"x\\"; while (1) s = s s }"'`),
        ]),
      );
      const [bomb, hog] = bombs.result;
      assert.notEqual(bomb.exitCode, 0, 'the fork bomb ended (its time limit)');
      assert.equal(hog.exitCode, 137, 'the memory hog was killed by the OOM killer');
      assert.equal(bombs.failed, 0, `/health answered all ${String(bombs.polls)} polls`);
      assert.ok(bombs.polls > 0);
      const after = await run(batch, 'after', '/bin/sh -c "echo still here"');
      assert.deepEqual([after.exitCode, after.stdout, after.node], [0, 'still here\n', nodeId]);
    } finally {
      await server.stop();
    }
  });
});

/** Every host process of the VM: in a cgroup named after it, or carrying its holder's marker. */
function vmProcesses(vmId: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cgroups = readFileSync(`/proc/${p}/cgroup`, 'utf8');
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cgroups.includes(`/vm-${vmId}`) || argv.includes(`vm-${vmId}`)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

/** The memory cgroup a VM of this server gets (v1: under the server's own memory cgroup). */
function vmMemoryLimitFile(serverPid: number, vmId: string): string {
  const line = readFileSync(`/proc/${String(serverPid)}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  if (line === undefined) return join('/sys/fs/cgroup/lazurite', `vm-${vmId}`, 'memory.max');
  const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
  return join('/sys/fs/cgroup/memory', path, 'lazurite', `vm-${vmId}`, 'memory.limit_in_bytes');
}

describe('VMs as isolation boundaries', { skip: process.getuid?.() === 0 ? false : 'needs root' }, () => {
  test('a VM runCommand is refused everything of the host, mounts only its own data disk, and a timeout leaves nothing', async () => {
    process.env.LAZURITE_RUN_COMMAND_TIMEOUT_SECONDS = '6';
    const server = await startServer();
    delete process.env.LAZURITE_RUN_COMMAND_TIMEOUT_SECONDS;
    try {
      const c = server.connection;
      const compute = computeClient(c);
      const poll = { updateIntervalInMs: 100 };
      const vm = await compute.virtualMachines.createOrUpdate(
        c.resourceGroup,
        'isovm',
        {
          location: 'westeurope',
          hardwareProfile: { vmSize: 'Standard_D2s_v3' },
          storageProfile: {
            imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox', version: 'latest' },
            osDisk: { createOption: 'FromImage' },
            dataDisks: [{ lun: 0, createOption: 'Empty', diskSizeGB: 1 }],
          },
          osProfile: { computerName: 'isovm', adminUsername: 'azureuser' },
        },
        poll,
      );
      const vmId = vm.vmId ?? '';
      assert.notEqual(vmId, '');
      const facts = withPtraceProbe(hostFacts(server.dataDir, basename(server.dataDir)));
      const runScript = async (script: string[]) => {
        const r = await compute.virtualMachines.runCommand(
          c.resourceGroup,
          'isovm',
          { commandId: 'RunShellScript', script },
          poll,
        );
        return { code: r.value?.[0]?.code ?? '', message: r.value?.[0]?.message ?? '' };
      };

      const attacks = await runScript([attackScript(facts)]);
      const stdout = /\[stdout\]\n([^]*)\n\[stderr\]/.exec(attacks.message)?.[1] ?? attacks.message;
      assert.deepEqual(
        stdout.trim().split('\n'),
        attackNames(facts).map((n) => `${n}: refused`),
      );

      const mounts = await runScript([
        'mke2fs -q /dev/disk/azure/scsi1/lun0 >/dev/null && mkdir -p /datadrive /m && mount /dev/disk/azure/scsi1/lun0 /datadrive && echo data-mounted',
        'echo d > /datadrive/f && cat /datadrive/f',
        'mount -t tmpfs tmpfs /m 2>/dev/null || echo tmpfs-refused',
        'mount -t proc proc /m 2>/dev/null || echo proc-refused',
        'mount --bind / /m 2>/dev/null || echo bind-refused',
        `for d in /dev/vda /dev/sda /dev/nvme0n1 /dev/loop0; do mount $d /m 2>/dev/null && echo "$d mounted"; done; echo host-disks-refused`,
      ]);
      assert.match(
        mounts.message,
        /\[stdout\]\ndata-mounted\nd\ntmpfs-refused\nproc-refused\nbind-refused\nhost-disks-refused\n/,
      );

      // A tree of sleeps (one double-forked out of the shell's session) outlives the 6 s timeout only if the
      // whole cgroup is not killed. Meanwhile the VM's memory cgroup holds its size's limit (8 GiB).
      const limitFile = vmMemoryLimitFile(server.process.pid ?? 0, vmId);
      const timedOut = runScript(['(setsid sleep 1000 &); sleep 1000 & echo started; wait']);
      const limit = await waitFor(
        () =>
          Promise.resolve()
            .then(() => readFileSync(limitFile, 'utf8').trim())
            .catch(() => ''),
        (v) => v !== '',
        'the VM memory cgroup',
        30_000,
      );
      assert.equal(limit, String(8192 * 1024 * 1024), `${limitFile} holds Standard_D2s_v3's memory`);
      const r = await timedOut;
      assert.notEqual(r.code, 'ProvisioningState/succeeded');
      assert.match(r.message, /started/);
      assert.deepEqual(vmProcesses(vmId), [], 'no process of the VM is left');
    } finally {
      await server.stop();
    }
  });
});
