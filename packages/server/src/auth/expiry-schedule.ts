import type { Clock, TimerHandle } from '../common/clock';

// Node fires a longer timeout at once (with a warning); a far deadline is reached in steps instead.
const MAX_TIMER_MS = 24 * 3600_000;

/**
 * Items that each expire at a Unix second (a connection at its token's deadline), with one timer for
 * all of them, armed for the earliest second that holds an item. Items are kept in a set per second,
 * so adding, moving and removing one costs a set operation and no closure or timer of its own: an
 * idle authenticated peer carries only its set entry. The timer fires at most once per distinct
 * deadline second; an item is expired within a few milliseconds after its second begins.
 *
 * @example
 * const schedule = new ExpirySchedule<Socket>(clock, (socket) => cutOff(socket));
 * schedule.add(socket, user.exp);
 * schedule.move(socket, user.exp, refreshed.exp);
 * schedule.remove(socket, refreshed.exp); // on disconnect
 */
export class ExpirySchedule<T> {
  private readonly buckets = new Map<number, Set<T>>();
  private count = 0;
  private timer: TimerHandle | undefined;
  /** The second the timer is armed for. */
  private armedFor = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly onExpired: (item: T) => void,
  ) {}

  /** Items waiting to expire. */
  get size(): number {
    return this.count;
  }

  /** Expires `item` once the clock reaches `second` (Unix seconds); an already-past second expires it at the next tick. */
  add(item: T, second: number): void {
    let bucket = this.buckets.get(second);
    if (!bucket) {
      bucket = new Set();
      this.buckets.set(second, bucket);
    }
    if (bucket.has(item)) return;
    bucket.add(item);
    this.count++;
    if (second < this.armedFor) this.arm(second);
  }

  /** Forgets `item`, added with `second`. Harmless when it is not there. */
  remove(item: T, second: number): void {
    const bucket = this.buckets.get(second);
    if (!bucket?.delete(item)) return;
    this.count--;
    if (bucket.size === 0) this.buckets.delete(second);
    // The timer may now be armed for an empty second: it finds nothing due and re-arms then.
    if (this.count === 0) this.disarm();
  }

  /** Moves `item` from `from` to `to` (a refreshed token). */
  move(item: T, from: number, to: number): void {
    this.remove(item, from);
    this.add(item, to);
  }

  /** Cancels the timer and forgets every item. Safe to call twice. */
  close(): void {
    this.disarm();
    this.buckets.clear();
    this.count = 0;
  }

  private arm(second: number): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.armedFor = second;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, second * 1000 - this.clock.now()));
    this.timer = this.clock.setTimeout(this.tick, delay);
  }

  private disarm(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    const nowSecond = Math.floor(this.clock.now() / 1000);
    let next = Infinity;
    const due: Set<T>[] = [];
    for (const [second, bucket] of this.buckets) {
      if (second <= nowSecond) {
        due.push(bucket);
        this.buckets.delete(second);
        this.count -= bucket.size;
      } else if (second < next) next = second;
    }
    if (next !== Infinity) this.arm(next);
    // After the bookkeeping, so a callback that adds or removes items sees a consistent schedule.
    for (const bucket of due) {
      for (const item of bucket) {
        try {
          this.onExpired(item);
        } catch {
          // One item's failure must not keep the others of its second alive; the caller logs its own.
        }
      }
    }
  };
}
