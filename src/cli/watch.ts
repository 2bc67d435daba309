import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { ApiError, CliError, type ServerClient } from './client.ts';

/** Node states in the order a node passes through them; the bars are shown in this order. */
const NODE_STATES = [
  'creating',
  'starting',
  'waitingforstarttask',
  'rebooting',
  'reimaging',
  'idle',
  'running',
  'starttaskfailed',
  'unusable',
  'offline',
  'preempted',
  'unknown',
  'leavingpool',
] as const;
const MOVING = new Set([
  'creating',
  'starting',
  'waitingforstarttask',
  'rebooting',
  'reimaging',
  'leavingpool',
]);

export interface PoolProgress {
  id: string;
  state: string;
  allocationState: string;
  target: number;
  nodesByState: Record<string, number>;
  resizeErrors: { code: string; message: string }[];
  /** Allocation steady and no node between states. */
  steady: boolean;
}

export interface ReplicationProgress {
  id: string;
  provisioningState: string;
  aggregatedState: string;
  regions: { region: string; state: string; progress: number }[];
  done: boolean;
}

interface WireNode {
  state: string;
}
interface WirePool {
  id: string;
  state: string;
  allocationState: string;
  targetDedicatedNodes?: number;
  targetLowPriorityNodes?: number;
  resizeErrors?: { code: string; message: string }[];
}

async function allNodes(client: ServerClient, poolId: string): Promise<WireNode[]> {
  const out: WireNode[] = [];
  let path: string | undefined = `/pools/${encodeURIComponent(poolId)}/nodes?$select=id,state`;
  while (path !== undefined) {
    const page = (await client.batch(path)) as { value?: WireNode[]; 'odata.nextLink'?: string };
    out.push(...(page.value ?? []));
    const next = page['odata.nextLink'];
    if (next === undefined) path = undefined;
    else {
      const url = new URL(next);
      url.searchParams.delete('api-version');
      path = `${url.pathname}${url.search}`;
    }
  }
  return out;
}

export async function readPoolProgress(client: ServerClient, poolId: string): Promise<PoolProgress> {
  const pool = (await client.batch(`/pools/${encodeURIComponent(poolId)}`)) as WirePool;
  const nodes = await allNodes(client, poolId);
  const nodesByState: Record<string, number> = {};
  for (const n of nodes) nodesByState[n.state] = (nodesByState[n.state] ?? 0) + 1;
  return {
    id: pool.id,
    state: pool.state,
    allocationState: pool.allocationState,
    target: (pool.targetDedicatedNodes ?? 0) + (pool.targetLowPriorityNodes ?? 0),
    nodesByState,
    resizeErrors: pool.resizeErrors ?? [],
    steady: pool.allocationState === 'steady' && !nodes.some((n) => MOVING.has(n.state)),
  };
}

export async function readReplication(client: ServerClient, id: string): Promise<ReplicationProgress> {
  const v = (await client.arm(`${id}?$expand=ReplicationStatus`)) as {
    id: string;
    properties?: {
      provisioningState?: string;
      replicationStatus?: {
        aggregatedState?: string;
        summary?: { region: string; state: string; progress: number }[];
      };
    };
  };
  const status = v.properties?.replicationStatus;
  const aggregatedState = status?.aggregatedState ?? 'Unknown';
  return {
    id: v.id,
    provisioningState: v.properties?.provisioningState ?? 'Unknown',
    aggregatedState,
    regions: (status?.summary ?? []).map((s) => ({ region: s.region, state: s.state, progress: s.progress })),
    done: aggregatedState === 'Completed' || aggregatedState === 'Failed',
  };
}

/** Draws progress: bars on a terminal, one line per change otherwise (logs, pipes, CI). */
interface Display {
  show(bars: { label: string; value: number; total: number; note: string }[], line: string): void;
  stop(): void;
}

function display(quiet: boolean): Display {
  if (quiet) return { show: () => undefined, stop: () => undefined };
  if (!process.stderr.isTTY) {
    let last = '';
    return {
      show: (_bars, line) => {
        if (line !== last) process.stderr.write(`${line}\n`);
        last = line;
      },
      stop: () => undefined,
    };
  }
  const multi = new MultiBar(
    {
      format: '{label} [{bar}] {value}/{total} {note}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  const bars = new Map<string, SingleBar>();
  return {
    show: (rows) => {
      for (const r of rows) {
        const payload = { label: r.label.padEnd(20), note: r.note };
        const bar = bars.get(r.label) ?? multi.create(r.total, 0, payload);
        bars.set(r.label, bar);
        bar.setTotal(Math.max(r.total, 1));
        bar.update(r.value, payload);
      }
    },
    stop: () => {
      multi.stop();
    },
  };
}

export interface WatchOptions {
  intervalMs: number;
  timeoutMs: number | undefined;
  quiet: boolean;
  sleep?: (ms: number) => Promise<void>;
}

/** Polls `read` and draws each reading until `done`; a timeout is exit code 2 with a hint. */
async function watch<T>(
  read: () => Promise<T>,
  draw: (value: T, d: Display) => void,
  done: (value: T) => boolean,
  what: string,
  options: WatchOptions,
): Promise<T> {
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const d = display(options.quiet);
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  try {
    for (;;) {
      const value = await read();
      draw(value, d);
      if (done(value)) return value;
      if (Date.now() >= deadline) {
        throw new CliError(
          `${what} did not settle within ${String(Math.round((options.timeoutMs ?? 0) / 1000))} s`,
          'raise --timeout, or leave it out to wait as long as it takes',
          2,
        );
      }
      await sleep(options.intervalMs);
    }
  } finally {
    d.stop();
  }
}

/** `lazurite watch pool <id>`: nodes by state against the target until the pool is steady. */
export async function watchPool(client: ServerClient, poolId: string, options: WatchOptions) {
  const read = () =>
    readPoolProgress(client, poolId).catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 404) {
        throw new CliError(
          `pool '${poolId}' does not exist (${err.message})`,
          'list pools: lazurite pools list',
        );
      }
      throw err;
    });
  // A state once shown keeps its bar (at 0 once its nodes moved on).
  const seen = new Set<string>();
  const progress = await watch(
    read,
    (p, d) => {
      for (const s of NODE_STATES) if ((p.nodesByState[s] ?? 0) > 0) seen.add(s);
      const counts = NODE_STATES.filter((s) => seen.has(s));
      const ready = (p.nodesByState.idle ?? 0) + (p.nodesByState.running ?? 0);
      d.show(
        [
          { label: `${p.id} ready`, value: ready, total: p.target, note: p.allocationState },
          ...counts.map((s) => ({
            label: `  ${s}`,
            value: p.nodesByState[s] ?? 0,
            total: p.target,
            note: '',
          })),
        ],
        `pool ${p.id}: ${p.allocationState}, ${String(ready)}/${String(p.target)} ready (${
          Object.entries(p.nodesByState)
            .map(([s, n]) => `${s} ${String(n)}`)
            .join(', ') || 'no nodes'
        })`,
      );
    },
    (p) => p.steady,
    `pool '${poolId}'`,
    options,
  );
  if (progress.resizeErrors.length > 0) {
    const e = progress.resizeErrors[0];
    throw Object.assign(
      new CliError(
        `pool '${poolId}' is steady with a resize error: ${e?.code ?? ''}: ${e?.message ?? ''}`,
        'see the pool sizing guidance: lazurite plan --nodes <target>',
      ),
      { result: progress },
    );
  }
  return progress;
}

/** `lazurite watch image-version <id>`: replication per region until every region completed (or failed). */
export async function watchImageVersion(client: ServerClient, id: string, options: WatchOptions) {
  const progress = await watch(
    () => readReplication(client, id),
    (r, d) => {
      d.show(
        r.regions.map((g) => ({ label: g.region, value: g.progress, total: 100, note: g.state })),
        `image version: ${r.aggregatedState} (${r.regions.map((g) => `${g.region} ${String(g.progress)}%`).join(', ')})`,
      );
    },
    (r) => r.done,
    `image version '${id}'`,
    options,
  );
  if (progress.aggregatedState === 'Failed') {
    throw new CliError(
      `replication of '${id}' failed`,
      'read the version with $expand=ReplicationStatus for the failing region',
    );
  }
  return progress;
}
