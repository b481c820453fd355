import { TokenBucket } from '@switchboard/protocol';

/** The rate limits of one connection; each kind of request has its own bucket. */
export type LimitKind = 'signal' | 'join' | 'state_report';

/** A sustained rate and the burst above it. */
export interface RateLimit {
  /** Requests per second, sustained; 0 = no limit. */
  perSecond: number;
  /** Requests allowed at once after a quiet spell. */
  burst: number;
}

export interface ConnectionLimitsOptions {
  /** `offer`, `answer`, `iceCandidate` (and unknown events). Default 200/s, burst 600. */
  signal: RateLimit;
  /** `joinRoom` and `leaveRoom`. Default 2/s, burst 10. */
  join: RateLimit;
  /** `connectionState` reports. Default 10/s, burst 60. */
  stateReport: RateLimit;
  /** Refused requests tolerated per 10 s; one more and the connection is disconnected. Default 50. */
  disconnectAfter: number;
}

/** The window over which `disconnectAfter` refusals are counted. */
export const REFUSAL_WINDOW_MS = 10_000;

/**
 * One connection's rate limits: a token bucket per kind of request, and a bucket of tolerated
 * refusals. A client that backs off when told `retryAfterMs` is refused a few times at most; one
 * that keeps sending empties the refusal bucket within `disconnectAfter` refusals and is cut off,
 * so a flood costs the server a bounded number of answers.
 *
 * The defaults leave real calls untouched: a peer joining a 16-peer mesh sends one offer and about
 * 20 candidates to each of 15 peers within a second or two (~315 signals, under the burst of 600).
 */
export class ConnectionLimits {
  // Each bucket is made on the first request of its kind: a joined, idle peer carries only its join
  // bucket (every connected peer has one of these objects, and idle peers are what memory is sized by).
  private signal: TokenBucket | undefined;
  private join: TokenBucket | undefined;
  private stateReport: TokenBucket | undefined;
  private refusals: TokenBucket | undefined;
  /**
   * Until when, in whole seconds of the clock, the connection's events count as call setup (served
   * first when the server is busy; see the gateway). Seconds, not ms: a small integer, so V8 keeps it
   * in the object rather than in a heap number of its own (every joined peer has one of these).
   */
  private callSetupUntilS = 0;

  constructor(private readonly options: ConnectionLimitsOptions) {}

  /** Marks the connection as setting up a call for `windowMs` from `now`. */
  startCallSetup(now: number, windowMs: number): void {
    this.callSetupUntilS = Math.ceil((now + windowMs) / 1000);
  }

  /** Whether the connection started a call setup within its window (to the second). */
  settingUpCall(now: number): boolean {
    return now < this.callSetupUntilS * 1000;
  }

  /** Admits one request of `kind`: 0, or the ms after which it would be admitted. */
  admit(kind: LimitKind, now: number): number {
    const o = this.options;
    switch (kind) {
      case 'signal':
        return (this.signal ??= new TokenBucket(o.signal.burst, o.signal.perSecond, now)).take(now);
      case 'join':
        return (this.join ??= new TokenBucket(o.join.burst, o.join.perSecond, now)).take(now);
      case 'state_report':
        return (this.stateReport ??= new TokenBucket(o.stateReport.burst, o.stateReport.perSecond, now)).take(
          now,
        );
    }
  }

  /** Records a refusal; true when the connection has exceeded its tolerance and must go. */
  refused(now: number): boolean {
    const tolerance = this.options.disconnectAfter;
    this.refusals ??= new TokenBucket(tolerance, (tolerance * 1000) / REFUSAL_WINDOW_MS, now);
    return this.refusals.take(now) !== 0;
  }
}
