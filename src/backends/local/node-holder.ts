import type { Launcher } from './launcher.ts';
import { DROPPED_CAP_NUMBERS } from './enter-node.ts';
import { BATCH_FOLDERS } from './node-prepare.ts';
import { nodeUpCommand, type HolderSpec } from './node-sandbox.ts';

const BOOT_TIMEOUT_MS = 60_000;

/** How this host starts node holders: the node-up helper (node-up.c), through the launcher. */
export class HolderStarter {
  private readonly launcher: Launcher;
  private readonly helper: string;

  constructor(launcher: Launcher, helper: string) {
    this.launcher = launcher;
    this.helper = helper;
  }

  /**
   * Starts the node's holder in its cgroups (it makes `folders`, the Batch folders by default, in the upper
   * itself) and waits for its `ready`; returns the holder's host PID.
   */
  async start(
    spec: HolderSpec,
    cgroupProcs: string[],
    onPid?: (pid: number) => void,
    folders = BATCH_FOLDERS,
  ): Promise<number> {
    let pid: number | undefined;
    const timer = setTimeout(() => {
      if (pid === undefined) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, BOOT_TIMEOUT_MS);
    try {
      const r = await this.launcher.run(
        (id) => nodeUpCommand(spec, cgroupProcs, id, this.helper, DROPPED_CAP_NUMBERS, folders),
        (text) => {
          if (pid === undefined) {
            pid = Number(/^pid (\d+)$/.exec(text)?.[1]) || undefined;
            if (pid !== undefined) onPid?.(pid);
          }
          return text === 'ready';
        },
        true,
      );
      if (r.code !== undefined || pid === undefined)
        throw new Error(`node ${spec.nodeId} failed to boot (exit ${String(r.code)}): ${r.stderr.trim()}`);
      return pid;
    } finally {
      clearTimeout(timer);
    }
  }
}
