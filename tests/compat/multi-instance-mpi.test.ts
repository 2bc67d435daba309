import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli, startServer } from './harness.ts';
import type { BatchServiceClient } from '@azure/batch';
import { sharedKeyBatch, waitFor } from './pool-image.ts';

/**
 * The check for multi-instance tasks (ADR 0038): a 3-node pool of Debian 12 with Debian's `openmpi-bin`, and a
 * multi-instance task whose primary runs `mpirun -np 3` and sees three different node addresses. The launcher is the
 * workload's own: the coordination command starts an sshd on every node with a key pair from the common resource
 * files, and mpirun's `plm_rsh_agent` is ssh to that port.
 *
 * The node image is Debian 12 minbase plus openmpi-bin and openssh, built once with debootstrap from Debian's mirror
 * and kept in the temporary folder (`lazurite-debian-12-openmpi.tar`), then imported as the `Debian:debian-12:12`
 * marketplace entry (`lazurite images import`).
 */

const CACHE = join(tmpdir(), 'lazurite-debian-12-openmpi.tar');
const MIRROR = process.env.LAZURITE_TEST_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

/** Builds the cached root file system tarball if it is missing; a reason to skip when it cannot be built. */
function openMpiRootfs(): string | undefined {
  if (existsSync(CACHE)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lazurite-openmpi-rootfs-'));
  try {
    execFileSync(
      'debootstrap',
      [
        '--variant=minbase',
        '--include=openmpi-bin,openssh-server,openssh-client,hostname',
        'bookworm',
        dir,
        MIRROR,
      ],
      { stdio: 'ignore', timeout: 900_000 },
    );
    execFileSync('tar', ['-C', dir, '-cf', `${CACHE}.part`, '.']);
    renameSync(`${CACHE}.part`, CACHE);
    return undefined;
  } catch (err) {
    return `cannot build Debian 12 with openmpi-bin from ${MIRROR}: ${String(err)}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every instance: its sshd on port 2222, as the task user (node root), with the key pair from the common files. */
const COORDINATION = [
  'set -e',
  'S="$AZ_BATCH_TASK_SHARED_DIR"',
  'mkdir -p "$S/ssh" /run/sshd',
  'cp "$S/id_mpi" "$S/id_mpi.pub" "$S/ssh/"',
  'chmod 700 "$S/ssh"; chmod 600 "$S/ssh/id_mpi"',
  'cp "$S/id_mpi.pub" "$S/ssh/authorized_keys"',
  'ssh-keygen -q -t ed25519 -N "" -f "$S/ssh/host_key"',
  '/usr/sbin/sshd -p 2222 -h "$S/ssh/host_key" -o AuthorizedKeysFile="$S/ssh/authorized_keys" ' +
    '-o StrictModes=no -o PermitRootLogin=prohibit-password -o PidFile="$S/ssh/sshd.pid"',
  '',
].join('\n');

/** The primary: mpirun over the nodes of AZ_BATCH_HOST_LIST, with ssh to the coordination's sshd as its launcher. */
const MPIRUN = [
  'S="$AZ_BATCH_TASK_SHARED_DIR"',
  'exec mpirun --allow-run-as-root -np 3 --host "$AZ_BATCH_HOST_LIST" ' +
    '--mca plm_rsh_agent "ssh -p 2222 -i $S/ssh/id_mpi -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR" ' +
    '--mca plm_rsh_no_tree_spawn 1 --mca regx naive --mca btl self,tcp --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 ' +
    'sh -c \'echo "rank $(hostname) $(hostname -I)"\'',
  '',
].join('\n');

/** What the instances printed, for a failure message. */
async function diagnostics(batch: BatchServiceClient): Promise<string> {
  const read = async (file: string) =>
    text((await batch.file.getFromTask('mpi', 'hostname', file).catch(() => undefined))?.readableStreamBody);
  const parts = [];
  for (const f of [
    'stdout.txt',
    'stderr.txt',
    'coordination-stdout.txt',
    'coordination-stderr.txt',
    'coordination-exit.txt',
  ])
    parts.push(`--- primary ${f}\n${await read(f)}`);
  for (const s of (await batch.task.listSubtasks('mpi', 'hostname')).value ?? []) {
    const node = s.nodeInfo?.nodeId ?? '';
    for (const f of ['coordination-stderr.txt', 'coordination-exit.txt']) {
      const body = await batch.file
        .getFromComputeNode('openmpi', node, `${s.nodeInfo?.taskRootDirectory ?? ''}/${f}`)
        .catch(() => undefined);
      parts.push(`--- subtask ${String(s.id)} ${f}\n${await text(body?.readableStreamBody)}`);
    }
  }
  return parts.join('\n');
}

async function text(stream: NodeJS.ReadableStream | undefined): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream ?? []) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

const skip = process.getuid?.() === 0 ? openMpiRootfs() : 'needs root';

describe(
  'mpirun across a multi-instance task (Debian openmpi-bin, real local nodes)',
  { skip: skip ?? false },
  () => {
    test('mpirun -np 3 runs one rank on each of three nodes with three different addresses', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'lazurite-mpi-'));
      await runCli(['images', 'import', 'Debian:debian-12:12', CACHE, '--data-dir', dataDir]);
      const keys = mkdtempSync(join(tmpdir(), 'lazurite-mpi-keys-'));
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keys, 'id_mpi')]);
      const server = await startServer([], dataDir);
      let http: Server | undefined;
      try {
        const batch = sharedKeyBatch(server);
        await batch.pool.add({
          id: 'openmpi',
          vmSize: 'standard_a1_v2',
          virtualMachineConfiguration: {
            imageReference: { publisher: 'Debian', offer: 'debian-12', sku: '12' },
            nodeAgentSKUId: 'batch.node.debian 12',
          },
          targetDedicatedNodes: 3,
          taskSlotsPerNode: 1,
          enableInterNodeCommunication: true,
        });
        const nodes = await waitFor(
          () => batch.computeNode.list('openmpi'),
          (ns) => ns.length === 3 && ns.every((n) => n.state === 'idle'),
          '3 idle Debian nodes',
          600_000,
        );
        const files: Record<string, Buffer> = {
          '/id_mpi': readFileSync(join(keys, 'id_mpi')),
          '/id_mpi.pub': readFileSync(join(keys, 'id_mpi.pub')),
          '/coordination.sh': Buffer.from(COORDINATION),
          '/mpirun.sh': Buffer.from(MPIRUN),
        };
        http = createServer((req, res) => res.end(files[req.url ?? ''] ?? ''));
        const gateway = (nodes[0]?.ipAddress ?? '').replace(/\.\d+$/, '.1');
        await new Promise<void>((resolve) => http?.listen(0, gateway, resolve));
        const address = http.address();
        const base = `http://${gateway}:${String(typeof address === 'object' && address !== null ? address.port : 0)}`;
        await batch.job.add({ id: 'mpi', poolInfo: { poolId: 'openmpi' } });
        await batch.task.add('mpi', {
          id: 'hostname',
          commandLine: '/bin/sh -c \'sh "$AZ_BATCH_TASK_SHARED_DIR/mpirun.sh"\'',
          userIdentity: { autoUser: { scope: 'pool', elevationLevel: 'admin' } },
          multiInstanceSettings: {
            numberOfInstances: 3,
            coordinationCommandLine: '/bin/sh -c \'sh "$AZ_BATCH_TASK_SHARED_DIR/coordination.sh"\'',
            commonResourceFiles: Object.keys(files).map((f) => ({
              httpUrl: `${base}${f}`,
              filePath: f.slice(1),
            })),
          },
        });
        const t = await waitFor(
          () => batch.task.get('mpi', 'hostname'),
          (x) => x.state === 'completed',
          'mpirun to complete',
          120_000,
        ).catch(async (e: unknown) => {
          throw new Error(`${String(e)}\n${await diagnostics(batch)}`);
        });
        const out = await text(
          (await batch.file.getFromTask('mpi', 'hostname', 'stdout.txt')).readableStreamBody,
        );
        const err = await text(
          (await batch.file.getFromTask('mpi', 'hostname', 'stderr.txt')).readableStreamBody,
        );
        assert.equal(t.executionInfo?.exitCode, 0, `${out}\n${err}`);
        const ranks = out
          .split('\n')
          .filter((l) => l.startsWith('rank '))
          .map((l) => l.split(' '));
        assert.equal(ranks.length, 3, out);
        assert.deepEqual(
          ranks.map((r) => r[2]).sort(),
          nodes.map((n) => n.ipAddress).sort(),
          'three ranks on three different node addresses',
        );
        assert.deepEqual(ranks.map((r) => r[1]).sort(), nodes.map((n) => n.id).sort());
      } finally {
        http?.close();
        await server.stop();
        rmSync(keys, { recursive: true, force: true });
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  },
);
