import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** This process (and all it starts from now on) in a cpuacct cgroup of its own; returns a CPU clock in ms. */
export function cpuClock(): { ms: () => number; done: () => void } {
  const dir = `/sys/fs/cgroup/cpuacct/lzr-bench-${String(process.pid)}`;
  if (!existsSync('/sys/fs/cgroup/cpuacct/cpuacct.usage')) return { ms: () => NaN, done: () => undefined };
  mkdirSync(dir);
  writeFileSync(join(dir, 'cgroup.procs'), String(process.pid));
  return {
    ms: () => Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8')) / 1e6,
    done: () => {
      writeFileSync('/sys/fs/cgroup/cpuacct/cgroup.procs', String(process.pid));
      // Processes of stopped nodes may take a moment to leave; retry for a few seconds.
      const remove = (left: number) => {
        try {
          rmdirSync(dir);
        } catch {
          if (left > 0)
            setTimeout(() => {
              remove(left - 1);
            }, 250);
        }
      };
      remove(20);
    },
  };
}
