import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseUsage, type ProcessUsage } from '../port.ts';

/**
 * Where named runs (`ProcessSpec.runId`) leave their traces, so a run survives a restart of the server that
 * started it: `<run>.cg` names its exec cgroup (written before it starts) and the host-side wrapper writes
 * `<run>.exit` when the process ends, whether or not anyone still listens. On tmpfs when the host has one
 * (cheap, and gone after a reboot, when no run can still be going anyway). The per-run files are tiny and on
 * tmpfs, so they are read and written synchronously: a call into the thread pool would cost more than the I/O.
 */
export class RunJournal {
  private readonly root: string;
  /** Node folders made by this journal (made once, not once per run). */
  private readonly made = new Set<string>();

  constructor(dataDir: string) {
    const tag = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
    this.root = existsSync('/dev/shm') ? `/dev/shm/lazurite-runs-${tag}` : join(dataDir, 'runs');
  }

  private safe(runId: string): string {
    return Buffer.from(runId).toString('base64url');
  }

  /** The node's folder of run files (made on first use). */
  nodeDir(nodeId: string): string {
    const dir = join(this.root, nodeId);
    if (!this.made.has(dir)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      this.made.add(dir);
    }
    return dir;
  }

  /** The files of one run (the folder is made on first use). */
  private paths(nodeId: string, runId: string): { cgroup: string; exit: string } {
    const base = join(this.nodeDir(nodeId), this.safe(runId));
    return { cgroup: `${base}.cg`, exit: `${base}.exit` };
  }

  files(nodeId: string, runId: string): Promise<{ cgroup: string; exit: string }> {
    return Promise.resolve().then(() => this.paths(nodeId, runId));
  }

  /** What is known of a run: ended (with its status), started (its exec cgroup), or nothing. */
  async state(
    nodeId: string,
    runId: string,
  ): Promise<
    | { kind: 'ended'; exitCode: number; usage?: ProcessUsage }
    | { kind: 'started'; cgroup: string }
    | undefined
  > {
    await Promise.resolve();
    const f = this.paths(nodeId, runId);
    const read = (file: string) => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return undefined;
      }
    };
    const exit = read(f.exit);
    // `<status>\n` then, from a runner that measures, the run's usage line (ADR 0031).
    const ended = exit === undefined ? null : /^(\d+)\n?([^\n]*)\n?$/.exec(exit);
    if (ended) {
      const usage = parseUsage(ended[2] ?? '');
      return { kind: 'ended', exitCode: Number(ended[1]), ...(usage ? { usage } : {}) };
    }
    const cgroup = read(f.cgroup);
    return cgroup === undefined ? undefined : { kind: 'started', cgroup: cgroup.trim() };
  }

  async recordStart(nodeId: string, runId: string, cgroup: string): Promise<void> {
    await Promise.resolve();
    writeFileSync(this.paths(nodeId, runId).cgroup, cgroup, { mode: 0o600 });
  }

  async forget(nodeId: string, runId: string): Promise<void> {
    await Promise.resolve();
    const f = this.paths(nodeId, runId);
    rmSync(f.cgroup, { force: true });
    rmSync(f.exit, { force: true });
  }

  async forgetNode(nodeId: string): Promise<void> {
    this.made.delete(join(this.root, nodeId));
    await rm(join(this.root, nodeId), { recursive: true, force: true });
  }
}

/** Processes still in an exec cgroup (none when it is gone). */
export async function cgroupAlive(cgroup: string): Promise<boolean> {
  if (cgroup === '') return false;
  const procs = await readFile(join(cgroup, 'cgroup.procs'), 'utf8').catch(() => '');
  return procs.trim() !== '';
}
