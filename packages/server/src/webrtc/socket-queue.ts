import type { Awaitable } from '../common/awaitable';

/**
 * Runs one socket's jobs one at a time, in the order they arrive. A handler may wait for the
 * store a varying number of times, so without this a candidate sent after an offer could overtake
 * it. A job that finishes synchronously (the relay on the in-memory store) runs at once when
 * nothing is pending, without allocating a promise; while a job is pending, later ones chain on it.
 * Relayed signals on Redis overlap (see {@link run}): one socket's signals are decided in one
 * pipeline instead of one round trip after another.
 *
 * A class rather than closures per socket: every connected peer has one, and an idle peer's memory
 * is one of the figures operators size by.
 */
export class SocketQueue {
  /** Settles when every job run so far has finished. */
  private tail: Promise<void> | undefined;
  /**
   * Settles when the last job that does not overlap has finished: what an overlapping job waits
   * for. Kept, settled, until the queue is idle, so overlapping jobs that arrive after it settled
   * still start behind those that waited for it, in order.
   */
  private gate: Promise<void> | undefined;
  /** Overlapping jobs pending. */
  private overlapping = 0;

  /**
   * @param onError called with what a job throws or rejects with. Jobs are expected to answer their
   *   own errors; this only keeps a bug in one from stalling the jobs behind it.
   * @param pending counts the queues with a job pending, so a shutdown can wait for the last ones
   *   (on Redis, a dropped peer's disconnect must reach the store before the store closes). Default none.
   */
  constructor(
    private readonly onError: (err: unknown) => void,
    private readonly pending?: PendingQueues,
    /**
     * Overlapping jobs that may be pending at once; past it, the next one waits for all before it. A
     * socket that sends faster than the store answers so keeps its signals here, undecided, rather
     * than as commands in flight in the store's client. Default 16.
     */
    private readonly maxOverlap = 16,
  ) {}

  /** Whether a job is still pending. */
  get busy(): boolean {
    return this.tail !== undefined;
  }

  /**
   * Runs `job` once the jobs before it have finished. With `overlaps`, it only waits for the last
   * job run without it, not for overlapping ones before it: for jobs that issue all their store
   * commands synchronously on one connection (a relayed signal on Redis, one script), whose
   * commands, and so their replies and what follows them, stay in the order the jobs started. A job
   * without `overlaps` waits for every job before it.
   */
  run(job: () => Awaitable<void>, overlaps = false): void {
    if (overlaps && this.overlapping >= this.maxOverlap) overlaps = false;
    const after = overlaps ? this.gate : this.tail;
    if (after) {
      this.track(after.then(job).catch(this.onError), overlaps);
      return;
    }
    try {
      const done = job();
      if (done instanceof Promise) this.track(done.catch(this.onError), overlaps);
    } catch (err) {
      this.onError(err);
    }
  }

  private track(job: Promise<void>, overlaps: boolean): void {
    if (this.tail === undefined) this.pending?.add();
    // A job without `overlaps` started after the tail, so it finishes after it.
    const tail = overlaps && this.tail ? Promise.all([this.tail, job]).then(noop) : job;
    if (overlaps) {
      this.overlapping++;
      void job.then(() => this.overlapping--);
    } else {
      this.gate = job;
    }
    this.tail = tail;
    void tail.then(() => {
      if (this.tail !== tail) return;
      this.tail = undefined;
      this.gate = undefined;
      this.pending?.remove();
    });
  }
}

function noop(): void {}

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
