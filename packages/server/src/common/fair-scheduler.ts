import { performance } from 'node:perf_hooks';

/** How {@link FairScheduler} decides when the server is busy and how it shares the CPU then. */
export interface FairSchedulerOptions {
  /**
   * Events handled within one millisecond (of the clock passed to {@link FairScheduler.runsNow})
   * from which the server counts as busy: past it, events that are not urgent are deferred.
   * Default 16 (16,000 events/s: well above what a quiet server sees in bursts, below what
   * saturates one core).
   */
  busyPerMs: number;
  /**
   * Share of the last `sampleMs` the event loop spent working (Node's event-loop utilisation) from
   * which the server counts as busy, however few events it handles (a slow machine, costly events).
   * Above 1 turns this test off. Default 0.9.
   */
  busyUtilization: number;
  /** How often the event-loop utilisation is sampled, ms. Default 100. */
  sampleMs: number;
  /** Deferred events of one sender run per round-robin round. Default 8. */
  quantum: number;
  /** Longest time deferred events run before reads get their turn again, ms. Default 2. */
  sliceMs: number;
  /**
   * Deferred events of one sender at which reading from it is paused (TCP holds the rest); it is
   * resumed once fewer than half as many are left. Default 64.
   */
  pauseAt: number;
  /**
   * Deferred events of all senders at which every sender with a backlog is paused as it defers
   * (many senders with a little each: an overload spread over many connections); each is resumed
   * when its own backlog is empty. Senders without a backlog, new calls among them, are still read.
   * Default 4096.
   */
  maxBacklog: number;
}

export const DEFAULT_FAIR_SCHEDULER_OPTIONS: FairSchedulerOptions = {
  busyPerMs: 16,
  busyUtilization: 0.9,
  sampleMs: 100,
  quantum: 32,
  sliceMs: 4,
  pauseAt: 64,
  maxBacklog: 4096,
};

/** Stops and restarts reading from a sender (a socket's transport). */
export interface ReadControl<S> {
  pause(sender: S): void;
  resume(sender: S): void;
}

/** One sender's deferred events, kept on the sender only while it has some. */
interface Backlog {
  jobs: (() => void)[];
  head: number;
  paused: boolean;
}

const BACKLOG = Symbol('backlog');
type WithBacklog = { [BACKLOG]?: Backlog };

/**
 * Serves urgent events first when the server is busy, and senders in turns.
 *
 * Node reads every ready socket in each turn of its event loop and handles everything each read
 * carries. Under load, an event therefore waits for everything that arrived before it, from every
 * socket: a new call's offer waited behind the relay traffic of every established call (issue 13:
 * 4-7× the bare relay's call setup time under saturation). This scheduler sits between the decoder
 * and the handlers:
 *
 * - while the server is not busy (its event loop working less than `busyUtilization` of the time,
 *   and fewer than `busyPerMs` events this millisecond) every event runs at once, as without it: the
 *   only cost is a counter (and a utilisation sample every `sampleMs`);
 * - when it is busy, urgent events (the caller decides: call setup) still run at once, and the
 *   others are deferred to a backlog per sender, run round-robin, `quantum` per sender per round, in
 *   slices of `sliceMs` between which Node reads sockets again. A sender with `pauseAt` deferred
 *   events is not read until it is down to half, and past `maxBacklog` deferred events in all every
 *   sender that defers is paused until its backlog is empty: an overload waits in TCP, not in
 *   memory, while connections with nothing deferred (new calls among them) are still read.
 *
 * One sender's events always run in the order they arrived: while it has deferred events, its new
 * ones (urgent or not) join the end of its backlog. The clock is the caller's (it already reads it
 * per event); slices are timed with `performance.now()`.
 *
 * Written here rather than taken from a library: the decision is per event on the relay's hot path
 * and must be synchronous and allocation-free when nothing is deferred; the queue libraries we
 * looked at (p-queue, async priority queues) run every job through a promise.
 */
export class FairScheduler<S extends object> {
  private readonly options: FairSchedulerOptions;
  /** Senders with deferred events, in the order they are served. */
  private ring: (S & WithBacklog)[] = [];
  private ringHead = 0;
  private drainScheduled = false;
  private windowAt = Number.NaN;
  private inWindow = 0;
  private deferredTotal = 0;
  private deferredNow = 0;
  /** Whether the last sample found the event loop busy. */
  private loaded = false;
  private lastSample = performance.eventLoopUtilization();
  private readonly sampler: NodeJS.Timeout | undefined;

  /**
   * @param control pauses and resumes reading from a sender
   * @param onError called with what a deferred job throws (jobs answer their own errors; this only
   *   keeps one bug from stopping the others)
   * @param options see {@link FairSchedulerOptions}; defaults {@link DEFAULT_FAIR_SCHEDULER_OPTIONS}
   */
  constructor(
    private readonly control: ReadControl<S>,
    private readonly onError: (err: unknown) => void,
    options: Partial<FairSchedulerOptions> = {},
  ) {
    this.options = { ...DEFAULT_FAIR_SCHEDULER_OPTIONS, ...options };
    if (this.options.busyUtilization <= 1) {
      this.sampler = setInterval(this.sample, this.options.sampleMs);
      this.sampler.unref();
    }
  }

  /** Stops sampling the event loop; safe to call twice. Deferred events still run. */
  close(): void {
    clearInterval(this.sampler);
  }

  /** Whether the server counts as busy now: its event loop was, or many events came this millisecond. */
  get busy(): boolean {
    return this.loaded || this.inWindow > this.options.busyPerMs;
  }

  private readonly sample = (): void => {
    const now = performance.eventLoopUtilization();
    this.loaded =
      performance.eventLoopUtilization(now, this.lastSample).utilization >= this.options.busyUtilization;
    this.lastSample = now;
  };

  /** Events deferred since start (a counter for metrics). */
  get deferredCount(): number {
    return this.deferredTotal;
  }

  /** Events waiting in backlogs now. */
  get backlog(): number {
    return this.deferredNow;
  }

  /**
   * Whether an event from `sender` may run now. When it returns false the caller hands the event
   * to {@link defer}. Counts the event towards the busy threshold.
   *
   * @param nowMs the current time in whole or fractional ms (events in the same whole ms count together)
   */
  runsNow(sender: S, urgent: boolean, nowMs: number): boolean {
    const backlog = (sender as S & WithBacklog)[BACKLOG];
    if (backlog !== undefined) return false;
    const at = Math.floor(nowMs);
    if (at !== this.windowAt) {
      this.windowAt = at;
      this.inWindow = 0;
    }
    return (++this.inWindow <= this.options.busyPerMs && !this.loaded) || urgent;
  }

  /** Whether `sender` has deferred events (a job for it must then be deferred too, to keep order). */
  hasBacklog(sender: S): boolean {
    return (sender as S & WithBacklog)[BACKLOG] !== undefined;
  }

  /** Runs `job` after `sender`'s deferred events, in its turn. */
  defer(sender: S, job: () => void): void {
    const s = sender as S & WithBacklog;
    let backlog = s[BACKLOG];
    if (backlog === undefined) {
      backlog = { jobs: [], head: 0, paused: false };
      s[BACKLOG] = backlog;
      this.ring.push(s);
    }
    backlog.jobs.push(job);
    this.deferredTotal++;
    this.deferredNow++;
    if (
      !backlog.paused &&
      (backlog.jobs.length - backlog.head >= this.options.pauseAt ||
        this.deferredNow >= this.options.maxBacklog)
    ) {
      backlog.paused = true;
      this.control.pause(sender);
    }
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(this.drain);
    }
  }

  /**
   * Runs deferred events round-robin for up to `sliceMs`, then yields to I/O (the next slice runs
   * after Node has read the sockets again, in the check phase of the next loop turn).
   */
  private readonly drain = (): void => {
    this.drainScheduled = false;
    const { quantum, sliceMs, pauseAt, maxBacklog } = this.options;
    const deadline = performance.now() + sliceMs;
    while (this.ringHead < this.ring.length) {
      const sender = this.ring[this.ringHead++] as S & WithBacklog;
      const backlog = sender[BACKLOG] as Backlog;
      for (let k = 0; k < quantum && backlog.head < backlog.jobs.length; k++) {
        const job = backlog.jobs[backlog.head] as () => void;
        backlog.jobs[backlog.head++] = noop; // release the closure now
        this.deferredNow--;
        try {
          job();
        } catch (err) {
          this.onError(err);
        }
      }
      const left = backlog.jobs.length - backlog.head;
      if (left === 0) {
        sender[BACKLOG] = undefined;
        if (backlog.paused) this.control.resume(sender);
      } else {
        if (backlog.head > 64 && backlog.head * 2 > backlog.jobs.length) {
          backlog.jobs = backlog.jobs.slice(backlog.head);
          backlog.head = 0;
        }
        if (backlog.paused && left < pauseAt / 2 && this.deferredNow < maxBacklog / 2) {
          backlog.paused = false;
          this.control.resume(sender);
        }
        this.ring.push(sender);
      }
      if (performance.now() >= deadline) break;
    }
    if (this.ringHead > 1024 && this.ringHead * 2 > this.ring.length) {
      this.ring = this.ring.slice(this.ringHead);
      this.ringHead = 0;
    }
    if (this.ringHead === this.ring.length) {
      this.ring = [];
      this.ringHead = 0;
    } else if (!this.drainScheduled) {
      this.drainScheduled = true;
      setImmediate(this.drain);
    }
  };
}

function noop(): void {}
