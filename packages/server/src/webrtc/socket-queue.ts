import type { Awaitable } from '../common/awaitable';

/**
 * Runs one socket's jobs one at a time, in the order they arrive. A handler may wait for the
 * store a varying number of times, so without this a candidate sent after an offer could overtake
 * it. A job that finishes synchronously (the relay on the in-memory store) runs at once when
 * nothing is pending, without allocating a promise; while a job is pending, later ones chain on it.
 *
 * A class rather than closures per socket: every connected peer has one, and an idle peer's memory
 * is one of the figures operators size by.
 */
export class SocketQueue {
  private tail: Promise<void> | undefined;

  /**
   * @param onError called with what a job throws or rejects with. Jobs are expected to answer their
   *   own errors; this only keeps a bug in one from stalling the jobs behind it.
   * @param pending counts the queues with a job pending, so a shutdown can wait for the last ones
   *   (on Redis, a dropped peer's disconnect must reach the store before the store closes). Default none.
   */
  constructor(
    private readonly onError: (err: unknown) => void,
    private readonly pending?: PendingQueues,
  ) {}

  /** Whether a job is still pending. */
  get busy(): boolean {
    return this.tail !== undefined;
  }

  run(job: () => Awaitable<void>): void {
    if (this.tail) {
      this.track(this.tail.then(job).catch(this.onError));
      return;
    }
    try {
      const done = job();
      if (done instanceof Promise) this.track(done.catch(this.onError));
    } catch (err) {
      this.onError(err);
    }
  }

  private track(pending: Promise<void>): void {
    if (this.tail === undefined) this.pending?.add();
    this.tail = pending;
    void pending.then(() => {
      if (this.tail !== pending) return;
      this.tail = undefined;
      this.pending?.remove();
    });
  }
}

/**
 * How many {@link SocketQueue}s have a job pending, and a promise of the moment none has.
 *
 * @example
 * const pending = new PendingQueues();
 * const queue = new SocketQueue(onError, pending);
 * await pending.settled(); // after the sockets are closed
 */
export class PendingQueues {
  private count = 0;
  private waiters: (() => void)[] = [];

  /** Queues with a job pending now. */
  get size(): number {
    return this.count;
  }

  add(): void {
    this.count++;
  }

  remove(): void {
    if (--this.count > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves once no queue has a job pending (at once when none has). */
  settled(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
