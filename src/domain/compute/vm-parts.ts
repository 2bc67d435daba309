import type { VmDisks } from '../../backends/local/vm-host.ts';
import type { ComputeResourceRecord } from '../../storage/records.ts';

/** What generalize removes: machine-specific identity, keys, logs and histories (docs/generalize.md). */
export const GENERALIZE_SCRIPT = [
  ': > /etc/machine-id',
  'rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*',
  'echo localhost > /etc/hostname',
  'find /var/log -type f -exec rm -f {} + 2>/dev/null',
  'rm -rf /tmp/* /var/tmp/* /var/lib/cloud/instances /var/lib/waagent',
  'rm -f /root/.bash_history /root/.ash_history /home/*/.bash_history /home/*/.ash_history',
  'exit 0',
].join('\n');

export type PowerState = 'running' | 'stopped' | 'deallocated';

export const vmDisks = (vm: ComputeResourceRecord): VmDisks => vm.lineage.disks as VmDisks;
export const powerState = (vm: ComputeResourceRecord): PowerState =>
  (vm.lineage.powerState as PowerState | undefined) ?? 'running';

/** The VM's `storageProfile` as ARM shows it, naming the managed disks created for it. */
export function storageProfileOf(
  ref: Record<string, unknown>,
  exactVersion: string | undefined,
  os: ComputeResourceRecord,
  caching: unknown,
  size: number,
  data: { spec: Record<string, unknown> }[],
) {
  return {
    imageReference: { ...ref, ...(exactVersion === undefined ? {} : { exactVersion }) },
    osDisk: {
      osType: 'Linux',
      name: os.name,
      createOption: 'FromImage',
      caching,
      managedDisk: { id: os.id, storageAccountType: 'Premium_LRS' },
      diskSizeGB: size,
      deleteOption: 'Detach',
    },
    dataDisks: data.map((d) => d.spec),
  };
}

export interface RunCommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}
