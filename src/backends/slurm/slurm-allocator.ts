import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CLUSTER_HOST_ID,
  type Allocation,
  type AllocationRequest,
  type NodeAllocator,
} from '../../domain/pools/allocations.ts';

const run = promisify(execFile);

/** What the agent of one node needs in its Slurm job, beside the job's own settings. */
export interface SlurmAgentLaunch {
  /** The node runtime and the CLI entry the hosts run (the read-only Lazurite install). */
  node: string;
  cli: string;
  /** The server's origin as the hosts reach it (--advertise-url, with the listening port). */
  serverUrl: () => string;
  token: string;
  caPem: string;
  /** The folder on each host that holds the agents' data dir and logs. */
  hostDir: string;
}

export interface SlurmOptions {
  slurmConf: string;
  /** Tells this server's jobs from others' on the same cluster (a hash of the data dir). */
  tag: string;
  launch: SlurmAgentLaunch;
  /** Extra sbatch options for every node's job (partition, account, QOS, …). */
  sbatchArgs?: string[];
  /** Extra sbatch options for low-priority nodes' jobs (e.g. a preemptible QOS). */
  lowPriorityArgs?: string[];
  /** PATH sbatch, squeue and scancel are found on (config.commandPath); default /usr/sbin:/usr/bin:/sbin:/bin. */
  path?: string;
}

/** Slurm job states that still hold or wait for a host. */
const PENDING = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SUSPENDED']);
const RUNNING = new Set(['RUNNING', 'CONFIGURING', 'COMPLETING', 'STAGE_OUT', 'SIGNALING', 'RESIZING']);

interface SqueueJob {
  job_id?: number;
  name?: string;
  job_state?: string;
  nodes?: string;
  state_reason?: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The Slurm side of the cluster-scheduler port, through Slurm's own commands (`sbatch --parsable`, `squeue --json`,
 * `scancel`; ADR 0030). A node is one job named `lz-<tag>.<account>.<pool>.<node>`, submitted with --no-requeue
 * (a lost job must not come back as a second copy of the node), whose batch script runs `lazurite agent` for that
 * node on the host Slurm picked.
 */
export class SlurmAllocator implements NodeAllocator {
  private readonly o: SlurmOptions;

  constructor(options: SlurmOptions) {
    this.o = options;
  }

  private env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: this.o.path ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      SLURM_CONF: this.o.slurmConf,
      ...extra,
    };
  }

  private prefix(): string {
    return `lz-${this.o.tag}.`;
  }

  async list(): Promise<Allocation[]> {
    const { stdout } = await run('squeue', ['--json'], { env: this.env(), maxBuffer: 256 * 1024 * 1024 });
    const jobs = (JSON.parse(stdout) as { jobs?: SqueueJob[] }).jobs ?? [];
    const out: Allocation[] = [];
    for (const j of jobs) {
      const name = j.name ?? '';
      if (!name.startsWith(this.prefix()) || j.job_id === undefined) continue;
      const [accountName, poolId, nodeId] = name.slice(this.prefix().length).split('.');
      if (accountName === undefined || poolId === undefined || nodeId === undefined) continue;
      const state = j.job_state ?? 'UNKNOWN';
      out.push({
        id: String(j.job_id),
        accountName,
        poolId,
        nodeId,
        state: PENDING.has(state) ? 'pending' : RUNNING.has(state) ? 'running' : 'ended',
        detail:
          j.state_reason !== undefined && j.state_reason !== 'None' ? `${state}, ${j.state_reason}` : state,
        ...(j.nodes === undefined || j.nodes === '' ? {} : { host: j.nodes }),
        // With --no-requeue, a job that Slurm preempts (PreemptMode CANCEL, or REQUEUE of a job that may not be
        // requeued) ends in PREEMPTED.
        ...(state === 'PREEMPTED' ? { preempted: true } : {}),
      });
    }
    return out;
  }

  /** The batch script: the node's agent, its output in the host's folder (never on the submitting machine). */
  private script(r: AllocationRequest): string {
    const l = this.o.launch;
    return [
      '#!/bin/sh',
      `dir=${q(l.hostDir)}`,
      'mkdir -p "$dir/agent" || exit 1',
      `exec >>"$dir/job-$SLURM_JOB_ID.log" 2>&1`,
      [
        'exec',
        q(l.node),
        q(l.cli),
        'agent',
        '--server',
        q(l.serverUrl()),
        '--host-id',
        CLUSTER_HOST_ID,
        '--only-node',
        q(r.nodeId),
        '--data-dir',
        '"$dir/agent"',
        '--node-backend',
        'local',
        '--pull-images',
        '--log-level',
        'warn',
      ].join(' '),
      '',
    ].join('\n');
  }

  async submit(r: AllocationRequest): Promise<void> {
    const l = this.o.launch;
    const args = [
      '--parsable',
      '--no-requeue',
      `--job-name=${this.prefix()}${r.accountName}.${r.poolId}.${r.nodeId}`,
      '--ntasks=1',
      `--cpus-per-task=${String(r.cores)}`,
      `--mem=${String(r.memoryMB)}M`,
      '--chdir=/',
      '--output=/dev/null',
      // Only what the agent needs crosses over: the token and CA travel in the job's environment, never on argv.
      '--export=PATH,LAZURITE_AGENT_TOKEN,LAZURITE_AGENT_CA',
      ...(this.o.sbatchArgs ?? []),
      ...(r.isDedicated ? [] : (this.o.lowPriorityArgs ?? [])),
    ];
    await new Promise<void>((resolve, reject) => {
      const child = execFile(
        'sbatch',
        args,
        {
          env: this.env({
            LAZURITE_AGENT_TOKEN: l.token,
            LAZURITE_AGENT_CA: l.caPem,
          }),
        },
        (err, _stdout, stderr) => {
          if (err) reject(new Error(`sbatch for node ${r.nodeId}: ${stderr.trim() || err.message}`));
          else resolve();
        },
      );
      child.stdin?.end(this.script(r));
    });
  }

  async cancel(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await run('scancel', ids, { env: this.env() });
  }
}
