import type { ComputeManagementClient } from '@azure/arm-compute';
import { BatchServiceClient, BatchSharedKeyCredentials, type BatchServiceModels } from '@azure/batch';

type PoolAddParameter = BatchServiceModels.PoolAddParameter;
import { after, before } from 'node:test';
import type { ConnectionInfo } from '../../src/app/main.ts';
import { startServer, type TestServer } from './harness.ts';

const poll = { updateIntervalInMs: 100 };

/**
 * The image issue's flow, shared by the pool tests: a VM from the tiny base image (or `options.base`) gets a program, a data file
 * and a data disk (formatted, in /etc/fstab) → deallocate → generalize → managed image → gallery `pools`,
 * definition `tool` (Generalized Linux) and version 1.0.0 replicated to `regions`. Returns the version id.
 */
export async function buildToolImage(
  compute: ComputeManagementClient,
  rg: string,
  regions: { name: string; regionalReplicaCount?: number }[],
  options: {
    definition?: string;
    osState?: 'Generalized' | 'Specialized';
    version?: string;
    /** The marketplace image the VM starts from (default the tiny busybox image); it must have a shell and mke2fs. */
    base?: { publisher: string; offer: string; sku: string };
  } = {},
): Promise<{ versionId: string; definitionId: string; imageId: string }> {
  const vmName = `builder-${options.definition ?? 'tool'}`;
  const vm = await compute.virtualMachines.createOrUpdate(
    rg,
    vmName,
    {
      location: 'westeurope',
      hardwareProfile: { vmSize: 'Standard_D2s_v3' },
      storageProfile: {
        imageReference: {
          ...(options.base ?? { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' }),
          version: 'latest',
        },
        osDisk: { createOption: 'FromImage' },
        dataDisks: [{ lun: 0, createOption: 'Empty', diskSizeGB: 1 }],
      },
      osProfile: { computerName: vmName, adminUsername: 'azureuser' },
    },
    poll,
  );
  const install = await compute.virtualMachines.runCommand(
    rg,
    vmName,
    {
      commandId: 'RunShellScript',
      script: [
        'set -e',
        'mkdir -p /opt/tool && printf "#!/bin/sh\\necho tool-v1 \\$1\\n" > /opt/tool/run && chmod 755 /opt/tool/run',
        'mkdir -p /opt/data && echo os-disk-data-7 > /opt/data/ref.txt',
        'mke2fs -q /dev/disk/azure/scsi1/lun0 && mkdir -p /datadrive && mount /dev/disk/azure/scsi1/lun0 /datadrive',
        'echo "/dev/disk/azure/scsi1/lun0 /datadrive ext2 defaults 0 0" >> /etc/fstab',
        'echo reference-data-42 > /datadrive/ref.txt',
      ],
    },
    poll,
  );
  if (install.value?.[0]?.code !== 'ProvisioningState/succeeded')
    throw new Error(`customising the VM failed: ${install.value?.[0]?.message ?? ''}`);
  await compute.virtualMachines.deallocate(rg, vmName, poll);
  await compute.virtualMachines.generalize(rg, vmName);
  const image = await compute.images.createOrUpdate(
    rg,
    `${vmName}-image`,
    { location: 'westeurope', sourceVirtualMachine: { id: vm.id } },
    poll,
  );
  await compute.galleries.createOrUpdate(rg, 'pools', { location: 'westeurope' }, poll);
  const definition = await compute.galleryImages.createOrUpdate(
    rg,
    'pools',
    options.definition ?? 'tool',
    {
      location: 'westeurope',
      osType: 'Linux',
      osState: options.osState ?? 'Generalized',
      identifier: { publisher: 'contoso', offer: options.definition ?? 'tool', sku: 'v1' },
    },
    poll,
  );
  const version = await compute.galleryImageVersions.createOrUpdate(
    rg,
    'pools',
    options.definition ?? 'tool',
    options.version ?? '1.0.0',
    {
      location: 'westeurope',
      storageProfile: { source: { id: image.id } },
      publishingProfile: { targetRegions: regions },
    },
    poll,
  );
  return { versionId: version.id ?? '', definitionId: definition.id ?? '', imageId: image.id ?? '' };
}

/** Polls `read` until `done` holds (real processes run behind it), or fails with the last value seen. */
/** What @azure/batch rejects with on a Batch error: the status and the parsed BatchError body. */
export type BatchFailure = {
  statusCode?: number;
  body?: { code?: string; values?: { key?: string; value?: string }[] };
};

/** An assert.rejects check: this status and Batch error code. */
export const failsWith = (status: number, code: string) => (e: BatchFailure) =>
  e.statusCode === status && e.body?.code === code;

export async function waitFor<T>(
  read: () => Promise<T>,
  done: (v: T) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

/** A client for the server's default Batch account with its SharedKey (the root mount, as @azure/batch wants). */
export function sharedKeyBatch(server: { connection: ConnectionInfo }): BatchServiceClient {
  const c = server.connection;
  return new BatchServiceClient(
    new BatchSharedKeyCredentials(c.batchAccountName, c.batchAccountKey),
    new URL(c.batchUrl).origin,
  );
}

/** A server on the simulated backend and a SharedKey @azure/batch client for it, set by `simulatedBatchServer`. */
export interface SimulatedBatch {
  server: TestServer;
  batch: BatchServiceClient;
}

/**
 * Inside a `describe`: starts a server on the simulated backend before its tests (then runs `setup`, if given) and
 * stops it after them; the returned object holds the server and its client once `before` has run.
 */
export function simulatedBatchServer(
  setup?: (batch: BatchServiceClient) => Promise<unknown>,
): SimulatedBatch {
  const env = {} as SimulatedBatch;
  before(async () => {
    env.server = await startServer(['--node-backend', 'simulated']);
    env.batch = sharedKeyBatch(env.server);
    await setup?.(env.batch);
  });
  after(async () => {
    await env.server.stop();
  });
  return env;
}

/** A pool of `nodes` from the tiny marketplace image (its own node agent SKU), plus `extra` properties. */
export function tinyPoolSpec(
  id: string,
  nodes: number,
  extra: Partial<PoolAddParameter> = {},
): PoolAddParameter {
  return {
    id,
    vmSize: 'standard_a1_v2',
    virtualMachineConfiguration: {
      imageReference: { publisher: 'lazurite', offer: 'tiny', sku: 'busybox' },
      nodeAgentSKUId: 'batch.node.lazurite tiny',
    },
    targetDedicatedNodes: nodes,
    ...extra,
  };
}

/** A pool of `nodes` sandboxes from the tiny marketplace image, once all of them are idle. */
export async function tinyPool(
  batch: BatchServiceClient,
  id: string,
  nodes: number,
  options: { vmSize: string; taskSlotsPerNode: number },
): Promise<void> {
  await batch.pool.add(tinyPoolSpec(id, nodes, options));
  await waitFor(
    () => batch.computeNode.list(id),
    (ns) => ns.length === nodes && ns.every((n) => n.state === 'idle'),
    `${String(nodes)} idle nodes`,
    300_000,
  );
}
