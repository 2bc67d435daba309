/**
 * Runs a level-triggered `tick` repeatedly: every `intervalMs`, at once when nudged, and again right away
 * when a tick reports that it changed something. One tick at a time.
 */
export class TickLoop {
  private readonly tick: () => Promise<boolean>;
  private readonly intervalMs: number;
  private readonly onError: (err: unknown) => void;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;

  constructor(tick: () => Promise<boolean>, intervalMs: number, onError: (err: unknown) => void) {
    this.tick = tick;
    this.intervalMs = intervalMs;
    this.onError = onError;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Ticks as soon as the current tick (if any) is done. */
  nudge(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runOnce();
    }, ms);
  }

  private runOnce(): void {
    if (this.stopped || this.running) return;
    this.again = false;
    this.running = this.tick()
      .then((changed) => {
        if (changed) this.again = true;
      })
      .catch((err: unknown) => {
        this.onError(err);
      })
      .finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.again ? 5 : this.intervalMs);
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
