/**
 * VM sizes a pool may use, with the resources a node sandbox of that size gets (cgroup limits follow these).
 * Figures are Azure's for these sizes; `tempDiskGB` is the local (resource) disk.
 */
export interface VmSize {
  name: string;
  cores: number;
  memoryMB: number;
  tempDiskGB: number;
  family: string;
}

const size = (name: string, cores: number, memoryMB: number, tempDiskGB: number, family: string): VmSize => ({
  name,
  cores,
  memoryMB,
  tempDiskGB,
  family,
});

export const VM_SIZES: readonly VmSize[] = [
  size('standard_a1_v2', 1, 2048, 10, 'standardAv2Family'),
  size('standard_a2_v2', 2, 4096, 20, 'standardAv2Family'),
  size('standard_a4_v2', 4, 8192, 40, 'standardAv2Family'),
  size('standard_d2s_v3', 2, 8192, 16, 'standardDSv3Family'),
  size('standard_d4s_v3', 4, 16384, 32, 'standardDSv3Family'),
  size('standard_d8s_v3', 8, 32768, 64, 'standardDSv3Family'),
  size('standard_d2_v3', 2, 8192, 50, 'standardDv3Family'),
  size('standard_d4_v3', 4, 16384, 100, 'standardDv3Family'),
  size('standard_ds1_v2', 1, 3584, 7, 'standardDSv2Family'),
  size('standard_ds2_v2', 2, 7168, 14, 'standardDSv2Family'),
  size('standard_f2s_v2', 2, 4096, 16, 'standardFSv2Family'),
  size('standard_f4s_v2', 4, 8192, 32, 'standardFSv2Family'),
  size('standard_e2s_v3', 2, 16384, 32, 'standardESv3Family'),
  size('standard_nc6s_v3', 6, 114688, 736, 'standardNCSv3Family'),
];

/** Sizes are matched case-insensitively, as the Batch service does (`STANDARD_D2S_V3` = `standard_d2s_v3`). */
export function findVmSize(name: string): VmSize | undefined {
  return VM_SIZES.find((s) => s.name === name.toLowerCase());
}
