/**
 * Most candidates in one `iceCandidates` message: the protocol's `MAX_CANDIDATES_PER_BATCH`, copied
 * because importing the protocol's schemas module would bundle zod (a unit test checks they agree).
 */
export const MAX_CANDIDATES_PER_BATCH = 32;

export interface CandidateBatcherOptions<T> {
  /**
   * How long the first candidate of a batch waits for others to the same peer, in ms. 0 or less: no
   * batching, each candidate is handed to `send` alone at once.
   */
  windowMs: number;
  /** A batch is sent as soon as it holds this many candidates. */
  maxBatch: number;
  /** True for an end-of-candidates (it ends the batch it joins, which is sent at once). */
  isEnd(candidate: T): boolean;
  /** Sends one batch (never empty) to one peer, in gathering order. */
  send(to: string, candidates: T[]): void;
}

interface Pending<T> {
  candidates: T[];
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Coalesces the ICE candidates gathered for each remote peer within a short window into one batch.
 * The window starts at the first candidate of a batch, so no candidate waits longer than
 * `windowMs`; a batch also ends when it is full or when an end-of-candidates joins it (the end is
 * its last entry). The owner calls `flush(peer)` before sending that peer anything else (an offer
 * or answer), so candidates keep their order relative to the other signals.
 */
export class CandidateBatcher<T> {
  private readonly pending = new Map<string, Pending<T>>();
  private closed = false;

  constructor(private readonly options: CandidateBatcherOptions<T>) {}

  /** Queues `candidate` for `to` (or sends it at once when batching is off). */
  add(to: string, candidate: T): void {
    if (this.closed) return;
    if (this.options.windowMs <= 0) {
      this.options.send(to, [candidate]);
      return;
    }
    let batch = this.pending.get(to);
    if (!batch) {
      batch = { candidates: [], timer: setTimeout(() => this.flush(to), this.options.windowMs) };
      this.pending.set(to, batch);
    }
    batch.candidates.push(candidate);
    if (this.options.isEnd(candidate) || batch.candidates.length >= Math.max(1, this.options.maxBatch)) {
      this.flush(to);
    }
  }

  /** Sends what is waiting for `to` now (nothing waiting: nothing sent). */
  flush(to: string): void {
    const batch = this.pending.get(to);
    if (!batch) return;
    clearTimeout(batch.timer);
    this.pending.delete(to);
    this.options.send(to, batch.candidates);
  }

  /** Forgets what is waiting for `to`, unsent (the peer left, or the signals would come from an old identity). */
  drop(to: string): void {
    const batch = this.pending.get(to);
    if (!batch) return;
    clearTimeout(batch.timer);
    this.pending.delete(to);
  }

  /** Forgets everything waiting, unsent. */
  dropAll(): void {
    for (const to of [...this.pending.keys()]) this.drop(to);
  }

  /** Candidates waiting for `to`. */
  pendingFor(to: string): number {
    return this.pending.get(to)?.candidates.length ?? 0;
  }

  /**
   * Stops for good: what is waiting is dropped unsent (the session is closing, nothing can be
   * delivered any more) and later candidates are ignored. Safe to call twice.
   */
  close(): void {
    this.closed = true;
    this.dropAll();
  }
}
