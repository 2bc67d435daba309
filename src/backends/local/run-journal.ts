import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where named runs (`ProcessSpec.runId`) leave their traces, so a run survives a restart of the server that
 * started it: `<run>.cg` names its exec cgroup (written before it starts) and the host-side wrapper writes
 * `<run>.exit` when the process ends, whether or not anyone still listens. On tmpfs when the host has one
 * (cheap, and gone after a reboot, when no run can still be going anyway).
 */
export class RunJournal {
  private readonly root: string;

  constructor(dataDir: string) {
    const tag = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
    this.root = existsSync('/dev/shm') ? `/dev/shm/lazurite-runs-${tag}` : join(dataDir, 'runs');
  }

  private safe(runId: string): string {
    return Buffer.from(runId).toString('base64url');
  }

  /** The files of one run (the folder is made on first use). */
  async files(nodeId: string, runId: string): Promise<{ cgroup: string; exit: string }> {
    const dir = join(this.root, nodeId);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const base = join(dir, this.safe(runId));
    return { cgroup: `${base}.cg`, exit: `${base}.exit` };
  }

  /** What is known of a run: ended (with its status), started (its exec cgroup), or nothing. */
  async state(
    nodeId: string,
    runId: string,
  ): Promise<{ kind: 'ended'; exitCode: number } | { kind: 'started'; cgroup: string } | undefined> {
    const f = await this.files(nodeId, runId);
    const exit = await readFile(f.exit, 'utf8').catch(() => undefined);
    if (exit !== undefined && /^\d+\s*$/.test(exit)) return { kind: 'ended', exitCode: Number(exit) };
    const cgroup = await readFile(f.cgroup, 'utf8').catch(() => undefined);
    return cgroup === undefined ? undefined : { kind: 'started', cgroup: cgroup.trim() };
  }

  async recordStart(nodeId: string, runId: string, cgroup: string): Promise<void> {
    await writeFile((await this.files(nodeId, runId)).cgroup, cgroup, { mode: 0o600 });
  }

  async forget(nodeId: string, runId: string): Promise<void> {
    const f = await this.files(nodeId, runId);
    await Promise.all([rm(f.cgroup, { force: true }), rm(f.exit, { force: true })]);
  }

  async forgetNode(nodeId: string): Promise<void> {
    await rm(join(this.root, nodeId), { recursive: true, force: true });
  }
}

/** Processes still in an exec cgroup (none when it is gone). */
export async function cgroupAlive(cgroup: string): Promise<boolean> {
  if (cgroup === '') return false;
  const procs = await readFile(join(cgroup, 'cgroup.procs'), 'utf8').catch(() => '');
  return procs.trim() !== '';
}
