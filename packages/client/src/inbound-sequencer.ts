/**
 * Puts incoming signals back in the order the server numbered them and drops repeats.
 *
 * A server with shared state (several instances on Redis) numbers every signal it sends to a peer
 * with that peer's own sequence (`seq`, from 1) and keeps them in a log; after a lost connection the
 * client presents the highest seq up to which it has everything ({@link lastSeq}) and the server
 * sends what followed. Around such a resume a signal can arrive twice (replayed and live), and two
 * instances publishing at once can swap neighbours; both are undone here. Signals without `seq`
 * (one instance, which replays with Socket.IO's connection state recovery) pass straight through.
 */
export class InboundSequencer {
  private last = 0;
  private readonly waiting = new Map<number, () => void>();
  private gapTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param gapWaitMs how long a signal waits for a missing predecessor before the gap is given up
   *   (the predecessor is then taken as lost and what waits is delivered in order).
   * @param maxWaiting most signals held behind a gap; one more gives the gap up at once.
   * @param onGapSkipped told which seqs were given up, for the log.
   */
  constructor(
    private readonly gapWaitMs = 1000,
    private readonly maxWaiting = 256,
    private readonly onGapSkipped: (from: number, to: number) => void = () => undefined,
  ) {}

  /** The highest seq up to which every signal has been delivered (0 before the first). */
  get lastSeq(): number {
    return this.last;
  }

  /** Delivers the signal numbered `seq` (now, later in order, or never if it is a repeat). */
  accept(seq: number | undefined, deliver: () => void): void {
    if (seq === undefined || !Number.isSafeInteger(seq) || seq <= 0) {
      deliver();
      return;
    }
    if (seq <= this.last || this.waiting.has(seq)) return; // a repeat
    if (seq === this.last + 1) {
      this.last = seq;
      deliver();
      this.drain();
      return;
    }
    this.waiting.set(seq, deliver);
    if (this.waiting.size > this.maxWaiting) this.skipGap();
    else this.gapTimer ??= setTimeout(() => this.skipGap(), this.gapWaitMs);
  }

  /** Starts over (a new peer identity: the server numbers it from 1 again). */
  reset(): void {
    this.last = 0;
    this.waiting.clear();
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
  }

  private drain(): void {
    for (let next = this.waiting.get(this.last + 1); next; next = this.waiting.get(this.last + 1)) {
      this.waiting.delete(this.last + 1);
      this.last += 1;
      next();
    }
    if (this.waiting.size === 0) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    }
  }

  private skipGap(): void {
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    if (this.waiting.size === 0) return;
    const first = Math.min(...this.waiting.keys());
    this.onGapSkipped(this.last + 1, first - 1);
    this.last = first - 1;
    this.drain();
    if (this.waiting.size > 0) this.gapTimer = setTimeout(() => this.skipGap(), this.gapWaitMs);
  }
}
