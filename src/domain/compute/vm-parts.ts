import type { VmDisks } from '../../backends/port.ts';
import { putManifest, type Manifest } from '../../content/manifests.ts';
import type { RegionStores } from '../../content/regions.ts';
import type { ComputeResourceRecord } from '../../storage/records.ts';
import { invalidInput } from '../errors.ts';
import { requireKnownLocation } from '../locations.ts';
import { findVmSize, VM_SIZES, type VmSize } from '../pools/vm-sizes.ts';
import { obj } from './common.ts';

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

/** A size the table does not list runs with Standard_D2s_v3's resources (the portal's default size). */
const DEFAULT_VM_SIZE = 'standard_d2s_v3';

/** The VM's size, whose cores, memory and process limits its sandbox gets (vm-sizes.ts). */
export function vmSizeOf(vm: ComputeResourceRecord): VmSize {
  const name = obj(vm.properties.hardwareProfile).vmSize;
  const size = (typeof name === 'string' ? findVmSize(name) : undefined) ?? findVmSize(DEFAULT_VM_SIZE);
  if (!size) throw new Error(`no VM size ${DEFAULT_VM_SIZE}`);
  return size;
}
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

/**
 * The manifests of the empty data disks a new VM asks for, by size in GB, written before its transaction so no
 * file write runs inside it (content-addressed: an unused one costs one small blob, shared by every such disk).
 */
export async function emptyDiskManifests(
  regions: RegionStores,
  location: unknown,
  specs: unknown,
): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let region: string;
  try {
    region = requireKnownLocation(location);
  } catch {
    return out; // the transaction refuses the location
  }
  if (!regions.has(region)) return out;
  const store = await regions.get(region);
  for (const d of Array.isArray(specs) ? specs : []) {
    const size = obj(d).diskSizeGB;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 32767 || out.has(size))
      continue;
    const raw: Manifest = {
      kind: 'raw',
      sizeBytes: size * 1024 ** 3,
      chunkSize: 4 * 1024 * 1024,
      chunks: [],
    };
    out.set(size, await putManifest(store, raw));
  }
  return out;
}

/** ARM's answer for a VM size it does not offer: 400 InvalidParameter listing the sizes it does. */
export function checkVmSize(vmSize: string): void {
  if (findVmSize(vmSize)) return;
  throw invalidInput(
    'InvalidParameter',
    `The value ${vmSize} provided for the VM size is not valid. The valid sizes in the current region are: ${VM_SIZES.map((s) => s.name.replace(/^standard_/, 'Standard_')).join(',')}.`,
    'properties.hardwareProfile.vmSize',
  );
}

/** DiskCreateOptionTypes (case-insensitive on the wire). */
const CREATE_OPTIONS = ['fromimage', 'empty', 'attach', 'copy', 'restore'];

export function checkCreateOptions(storage: Record<string, unknown>): void {
  const check = (value: unknown, field: string) => {
    if (value === undefined || (typeof value === 'string' && CREATE_OPTIONS.includes(value.toLowerCase())))
      return;
    throw invalidInput(
      'InvalidParameter',
      `The value ${JSON.stringify(value)} of ${field} is not valid. Allowed values: FromImage, Empty, Attach, Copy, Restore.`,
      field,
    );
  };
  check(obj(storage.osDisk).createOption, 'properties.storageProfile.osDisk.createOption');
  (Array.isArray(storage.dataDisks) ? storage.dataDisks : []).forEach((d, i) => {
    check(obj(d).createOption, `properties.storageProfile.dataDisks[${String(i)}].createOption`);
  });
}
