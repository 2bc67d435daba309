import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReplicationMeter } from '../../domain/compute/replication.ts';
import type { BatchCountsRecord } from '../../domain/metrics/batch-counts.ts';

/** Request latency buckets, seconds: API calls take milliseconds, node file downloads and LRO polls longer. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The route label of requests no route matched, so unknown paths cannot grow the label set. */
export const UNMATCHED_ROUTE = 'unmatched';

export interface ObservedRequest {
  method: string;
  /** The route pattern (`/pools/:poolId`), never the raw URL. */
  route: string;
  status: number;
  seconds: number;
}

/**
 * The server's Prometheus metrics (prom-client, own registry): request counts and latency by route, bytes
 * replication copied by region, and gauges of pools, nodes, jobs and tasks by state that a scrape fills from the
 * store (`setCounts`) just before rendering, so they are never stale and cost one grouped query per scrape.
 */
export class ServerMetrics implements ReplicationMeter {
  readonly registry = new Registry();
  private readonly requestSeconds: Histogram<'method' | 'route' | 'status_class'>;
  private readonly requests: Counter<'method' | 'route' | 'status_class'>;
  private readonly replicationBytes: Counter<'region'>;
  private readonly pools: Gauge<'account' | 'state' | 'allocation_state'>;
  private readonly nodes: Gauge<'account' | 'pool' | 'state'>;
  private readonly jobs: Gauge<'account' | 'state'>;
  private readonly tasks: Gauge<'account' | 'pool' | 'state'>;

  /** `processMetrics`: also Node's default process_* and nodejs_* metrics (CPU, memory, event loop lag, GC). */
  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const http = ['method', 'route', 'status_class'] as const;
    this.requestSeconds = new Histogram({
      name: 'lazurite_http_request_duration_seconds',
      help: 'Time from request received to response sent, by route pattern, method and status class.',
      labelNames: http,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.requests = new Counter({
      name: 'lazurite_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status class.',
      labelNames: http,
      registers,
    });
    this.replicationBytes = new Counter({
      name: 'lazurite_replication_bytes_total',
      help: 'Bytes image-version replication wrote into each target region (blobs already there are not counted).',
      labelNames: ['region'],
      registers,
    });
    this.pools = new Gauge({
      name: 'lazurite_pools',
      help: 'Batch pools by account, state and allocation state.',
      labelNames: ['account', 'state', 'allocation_state'],
      registers,
    });
    this.nodes = new Gauge({
      name: 'lazurite_nodes',
      help: 'Batch compute nodes by account, pool and state.',
      labelNames: ['account', 'pool', 'state'],
      registers,
    });
    this.jobs = new Gauge({
      name: 'lazurite_jobs',
      help: 'Batch jobs by account and state.',
      labelNames: ['account', 'state'],
      registers,
    });
    this.tasks = new Gauge({
      name: 'lazurite_tasks',
      help: 'Batch tasks by account, pool and state.',
      labelNames: ['account', 'pool', 'state'],
      registers,
    });
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }

  /** ReplicationMeter: `bytes` more were written into `region`. */
  copied(region: string, bytes: number): void {
    if (bytes > 0) this.replicationBytes.inc({ region }, bytes);
  }

  observeRequest(r: ObservedRequest): void {
    const labels = {
      method: r.method,
      route: r.route,
      status_class: `${String(Math.floor(r.status / 100))}xx`,
    };
    this.requestSeconds.observe(labels, r.seconds);
    this.requests.inc(labels);
  }

  /** Replaces the state gauges with `counts` (series of deleted pools or emptied states disappear). */
  setCounts(counts: BatchCountsRecord): void {
    this.pools.reset();
    for (const { labels, count } of counts.pools)
      this.pools.set(
        { account: labels.account, state: labels.state, allocation_state: labels.allocationState },
        count,
      );
    this.nodes.reset();
    for (const { labels, count } of counts.nodes) this.nodes.set(labels, count);
    this.jobs.reset();
    for (const { labels, count } of counts.jobs) this.jobs.set(labels, count);
    this.tasks.reset();
    for (const { labels, count } of counts.tasks) this.tasks.set(labels, count);
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
