/** How a {@link SerialQueue} reports a task that failed or ran too long. */
export interface SerialQueueOptions {
  /**
   * Longest wait for one task before the next one starts. The late task is not cancelled (a
   * browser operation cannot be); it is only no longer waited for.
   */
  taskTimeoutMs: number;
  /** Called when a task is given up on after `taskTimeoutMs`. */
  onTimeout?(): void;
  /** Called with what a task threw; the queue goes on with the next task. */
  onError?(error: unknown): void;
}

/**
 * Runs async tasks one at a time, in the order they were pushed. A task that throws or outlasts
 * its time limit does not stop the ones after it. {@link SerialQueue.reset} stops waiting for the
 * task in progress (it belongs to something that was replaced) and starts the next one at once.
 *
 * PeerLink applies incoming signals through one: a browser's description and candidate operations
 * must see the signals in arrival order, and one that never settles (seen in Chromium on a
 * connection stalled after a glare) must not hold up the others for good.
 *
 * @example
 * const queue = new SerialQueue({ taskTimeoutMs: 10_000, onError: (e) => console.warn(e) });
 * void queue.push(() => pc.setRemoteDescription(offer));
 * void queue.push(() => pc.addIceCandidate(candidate)); // runs after the description is set
 */
export class SerialQueue {
  private readonly tasks: { run: () => Promise<void>; done: () => void }[] = [];
  /** Bumped by reset(): a drain loop of an older generation stops after its current task. */
  private generation = 0;
  private draining = false;
  private closed = false;

  constructor(private readonly options: SerialQueueOptions) {}

  /** Tasks waiting to start (not counting the one in progress). */
  get size(): number {
    return this.tasks.length;
  }

  /**
   * Queues `task`. The returned promise resolves (never rejects) once the task has settled, has
   * been given up on after `taskTimeoutMs`, or has been dropped by {@link SerialQueue.close}.
   */
  push(task: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.tasks.push({ run: task, done: resolve });
      if (!this.draining) void this.drain();
    });
  }

  /** Stops waiting for the task in progress and goes on with the queue at once. */
  reset(): void {
    if (this.closed) return;
    this.generation += 1;
    this.draining = false;
    if (this.tasks.length > 0) void this.drain();
  }

  /** Drops the queued tasks (their promises resolve) and runs nothing more; safe to call twice. */
  close(): void {
    this.closed = true;
    this.generation += 1;
    for (const task of this.tasks.splice(0)) task.done();
  }

  private async drain(): Promise<void> {
    const generation = this.generation;
    this.draining = true;
    while (this.tasks.length > 0 && generation === this.generation) {
      const task = this.tasks.shift() as { run: () => Promise<void>; done: () => void };
      try {
        await this.bounded(task.run);
      } catch (error) {
        this.options.onError?.(error);
      } finally {
        task.done();
      }
    }
    if (generation === this.generation) this.draining = false;
  }

  private bounded(run: () => Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.options.onTimeout?.();
        resolve();
      }, this.options.taskTimeoutMs);
    });
    // A task that throws synchronously is reported like one that rejects.
    const task = new Promise<void>((resolve, reject) => run().then(resolve, reject));
    return Promise.race([task, timeout]).finally(() => clearTimeout(timer));
  }
}
