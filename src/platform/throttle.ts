/**
 * Throttles failed attempts per key (a client address and the identity it tries: a client id, a Batch account):
 * a token bucket of `burst` failures that refills at `perSecond`. Successful attempts cost nothing, so a client
 * that knows its secret is never slowed; one that guesses gets `burst` tries, then `perSecond`. At most `maxKeys`
 * buckets are kept (the oldest go first), so a flood of new keys cannot grow memory without bound.
 */
export interface FailureThrottleOptions {
  burst: number;
  perSecond: number;
  maxKeys: number;
  /** Milliseconds since some fixed point (injected: tests move it by hand). */
  now: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class FailureThrottle {
  private readonly options: FailureThrottleOptions;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: FailureThrottleOptions) {
    this.options = options;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string): number {
    const bucket = this.refilled(key);
    if (bucket === undefined || bucket.tokens >= 1) return 0;
    return Math.ceil(((1 - bucket.tokens) / this.options.perSecond) * 1000);
  }

  /** Records a failed attempt by `key`. */
  fail(key: string): void {
    const bucket = this.refilled(key) ?? { tokens: this.options.burst, at: this.options.now() };
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.buckets.delete(key); // re-inserted last: the map's order is the eviction order
    this.buckets.set(key, bucket);
    while (this.buckets.size > this.options.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) break;
      this.buckets.delete(oldest);
    }
  }

  /** Keys currently tracked (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string): Bucket | undefined {
    const bucket = this.buckets.get(key);
    if (bucket === undefined) return undefined;
    const now = this.options.now();
    bucket.tokens = Math.min(
      this.options.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.options.perSecond,
    );
    bucket.at = now;
    if (bucket.tokens >= this.options.burst) {
      this.buckets.delete(key); // full again: forget it
      return undefined;
    }
    return bucket;
  }
}
