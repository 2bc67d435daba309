import type { DomainContext } from '../context.ts';

/** Where the lease stands for this server. */
export type LeadershipState = 'follower' | 'leader';

export interface LeadershipOptions {
  /** The lease's name (one per kind of work; the server's loops share `loops`). */
  lease: string;
  /** This server's id: stable per data dir, so a restarted server takes its own lease back at once. */
  holder: string;
  /** How long a claim holds; a killed leader's work is taken over at most this long (plus one renewal) later. */
  ttlMs: number;
  /** How often the holder renews and the others try. */
  renewMs: number;
  /** Called when this server becomes the leader (start the loops). */
  onGained: () => Promise<void>;
  /** Called when this server stops being the leader (stop the loops), before anyone else can take the lease. */
  onLost: () => Promise<void>;
  onError: (err: unknown) => void;
}

/**
 * One server of several on one database runs the level-triggered loops: the one holding the `loops` lease (ADR
 * 0033). Every `renewMs` each server claims it: the holder renews it, the others get it once it expired. A
 * leader that cannot renew (database unreachable) steps down before its lease can have run out, so two servers
 * never run the loops on purpose at once; state changes stay transactional, so a paused leader's late
 * transaction is still serialised with the new leader's.
 */
export class Leadership {
  private readonly ctx: DomainContext;
  private readonly o: LeadershipOptions;
  private current: LeadershipState = 'follower';
  /** Until when (this server's clock) the lease it holds is surely still its own. */
  private heldUntilMs = 0;
  private transition: Promise<void> = Promise.resolve();

  constructor(ctx: DomainContext, options: LeadershipOptions) {
    this.ctx = ctx;
    this.o = options;
  }

  get state(): LeadershipState {
    return this.current;
  }

  /** One claim; returns whether this server is the leader afterwards. */
  async tick(): Promise<boolean> {
    const now = this.ctx.clock.now().getTime();
    let won: boolean;
    try {
      won = await this.ctx.store.transaction((tx) =>
        tx.cluster.claimLease(this.o.lease, this.o.holder, now, now + this.o.ttlMs),
      );
    } catch (err) {
      this.o.onError(err);
      // Unknown whether the claim landed: keep leading only while the last sure claim still holds, with one
      // renewal period to spare for the loops to stop.
      won = this.current === 'leader' && now + this.o.renewMs < this.heldUntilMs;
      await this.become(won ? 'leader' : 'follower');
      return won;
    }
    if (won) this.heldUntilMs = now + this.o.ttlMs;
    await this.become(won ? 'leader' : 'follower');
    return won;
  }

  /** Stops leading (if it did) and gives the lease up, so another server takes over without waiting. */
  async resign(): Promise<void> {
    await this.become('follower');
    await this.ctx.store.transaction((tx) => tx.cluster.releaseLease(this.o.lease, this.o.holder));
  }

  private async become(next: LeadershipState): Promise<void> {
    await this.transition;
    if (next === this.current) return;
    this.current = next;
    this.transition = (next === 'leader' ? this.o.onGained() : this.o.onLost()).catch((err: unknown) => {
      this.o.onError(err);
    });
    await this.transition;
  }
}
