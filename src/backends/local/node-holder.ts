import { join } from 'node:path';
import { rm, writeFile } from 'node:fs/promises';
import type { Launcher } from './launcher.ts';
import { DROPPED_CAP_NUMBERS } from './enter-node.ts';
import { BATCH_FOLDERS, batchFolders } from './node-prepare.ts';
import { devTemplate, holderCommand, nodeFstab, nodeUpCommand, type HolderSpec } from './node-sandbox.ts';

const BOOT_TIMEOUT_MS = 60_000;

/**
 * How this host starts node holders: the node-up helper (node-up.c) when it could be built, else the shell set-up
 * (unshare, mount -a, cp -a of a /dev template made once per host, setpriv, pivot_root).
 */
export class HolderStarter {
  private readonly launcher: Launcher;
  private readonly cacheDir: string;
  private readonly helper: string | undefined;
  private dev: Promise<string> | undefined;

  constructor(launcher: Launcher, cacheDir: string, helper: string | undefined) {
    this.launcher = launcher;
    this.cacheDir = cacheDir;
    this.helper = helper;
  }

  /**
   * Makes the node's Batch folders in its upper, starts its holder in its cgroups and waits for its `ready`;
   * returns the holder's host PID.
   */
  async start(spec: HolderSpec, cgroupProcs: string[], onPid?: (pid: number) => void): Promise<number> {
    const helper = this.helper;
    if (helper !== undefined)
      return this.run(
        spec.nodeId,
        (id) => nodeUpCommand(spec, cgroupProcs, id, helper, DROPPED_CAP_NUMBERS, BATCH_FOLDERS),
        true,
        onPid,
      );
    await batchFolders(spec.upper, spec.fresh);
    this.dev ??= devTemplate(this.cacheDir);
    const files = {
      devTemplate: await this.dev,
      fstabFile: join(await this.launcher.folder(), `${spec.nodeId}.fstab`),
    };
    await writeFile(files.fstabFile, nodeFstab(spec));
    try {
      return await this.run(spec.nodeId, (id) => holderCommand(spec, files, cgroupProcs, id), false, onPid);
    } finally {
      await rm(files.fstabFile, { force: true });
    }
  }

  /** Runs a holder's launcher script; the holder reports its PID, then `ready` (or exits: the boot failed). */
  private async run(
    nodeId: string,
    script: (id: string) => string,
    sourced: boolean,
    onPid?: (pid: number) => void,
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
        script,
        (text) => {
          if (pid === undefined) {
            pid = Number(/^pid (\d+)$/.exec(text)?.[1]) || undefined;
            if (pid !== undefined) onPid?.(pid);
          }
          return text === 'ready';
        },
        sourced,
      );
      if (r.code !== undefined || pid === undefined)
        throw new Error(`node ${nodeId} failed to boot (exit ${String(r.code)}): ${r.stderr.trim()}`);
      return pid;
    } finally {
      clearTimeout(timer);
    }
  }
}
