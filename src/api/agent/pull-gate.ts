/**
 * How many blob downloads each region's store serves at once (`--replica-capacity`, the concurrent hydrations one
 * replica serves), so the one-replica-per-300-nodes rule holds for hosts that pull over the wire (ADR 0030). A
 * download past the bound is answered 503 with Retry-After and the agent tries again.
 */
export class PullGate {
  private readonly limit: number;
  private readonly active = new Map<string, number>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Takes a slot of `region`'s store; undefined when all are in use, else the function that gives it back. */
  enter(region: string): (() => void) | undefined {
    const n = this.active.get(region) ?? 0;
    if (n >= this.limit) return undefined;
    this.active.set(region, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.active.get(region) ?? 1) - 1;
      if (left === 0) this.active.delete(region);
      else this.active.set(region, left);
    };
  }

  inUse(region: string): number {
    return this.active.get(region) ?? 0;
  }
}
