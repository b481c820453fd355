import { iceRestartSide } from '@switchboard/protocol';
import type { IceConnectionState, PeerConnectionState } from '@switchboard/protocol';
import type { Clock, TimerHandle } from '../../common/clock';
import type { StateStore } from '../store/state-store';

export interface PeerConnectionTrackerOptions {
  /** ICE restarts requested per pair before both sides get `connectionFailed`. Default 2. */
  maxAttempts: number;
  /** Minimum time between two restart requests for a pair, ms. Default 5000. */
  minIntervalMs: number;
  /** A restarted link that has not reported `connected` after this long counts as failed again, ms. Default 15000. */
  restartTimeoutMs: number;
  /** A link `disconnected` for this long counts as failed, ms. Default 5000. */
  disconnectedTimeoutMs: number;
  /** Idle expiry of a pair's record, ms. Default 10 minutes. */
  recordTtlMs: number;
}

/** Where the tracker's decisions go (the gateway emits them). */
export interface TrackerNotifier {
  /** Ask `target` to restart ICE on its link to `remote`. */
  requestRestart(roomId: string, target: string, remote: string, attempt: number, maxAttempts: number): void;
  /** Tell both sides the link is given up. */
  connectionFailed(roomId: string, a: string, b: string): void;
  /**
   * The pair's first `connected` report; `setupMs` is the time since the first offer between them
   * was relayed, when one was noted ({@link PeerConnectionTrackerService.noteOffer}). Optional.
   */
  callConnected?(roomId: string, a: string, b: string, setupMs: number | undefined): void;
  /**
   * A pair the server had asked to restart ICE reports `connected` again, after `attempts` requests
   * (once per recovery, however many sides report it). Optional.
   */
  restartRecovered?(roomId: string, a: string, b: string, attempts: number): void;
}

interface PairRecord {
  /** Health of the most recent report from either side: the freshest view of the link. */
  latest: Health;
  attempts: number;
  lastAttemptAt: number;
  /** `connectionFailed` was sent and nothing has recovered since. */
  gaveUp: boolean;
  /** Each side's last reported `connectionState`, by peer id (for the admin API). */
  states?: Record<string, PeerConnectionState>;
  /** When the first offer between them was relayed (Unix ms), when noted. */
  firstOfferAt?: number;
  /** When the pair was first reported `connected` (Unix ms). */
  connectedAt?: number;
}

type Health = 'up' | 'down' | 'degraded' | 'unknown';

const NEW_RECORD: PairRecord = Object.freeze({
  latest: 'unknown',
  attempts: 0,
  lastAttemptAt: 0,
  gaveUp: false,
});
/** Attempts of one read-change-write of a record before giving up (others kept changing it). */
const MAX_UPDATE_ATTEMPTS = 8;

/**
 * Watches each pair's connection reports and orchestrates ICE restarts: on `failed` (or
 * `disconnected` for longer than `disconnectedTimeoutMs`) it asks one side — always the same one,
 * {@link iceRestartSide}, so both never restart at once — at most `maxAttempts` times, at least
 * `minIntervalMs` apart; then it tells both sides the connection failed. `connected` resets it.
 */
export class PeerConnectionTrackerService {
  private readonly timers = new Map<string, TimerHandle>();
  private closed = false;

  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    private readonly options: PeerConnectionTrackerOptions,
    private notifier: TrackerNotifier,
  ) {}

  /** Replaces the notifier (the gateway sets itself once Socket.IO is up). */
  setNotifier(notifier: TrackerNotifier): void {
    this.notifier = notifier;
  }

  /** Records `from`'s view of its link to `remote` in `roomId` and acts on it. */
  async report(
    roomId: string,
    from: string,
    remote: string,
    connectionState: PeerConnectionState,
    iceConnectionState: IceConnectionState,
  ): Promise<void> {
    const key = pairKey(roomId, from, remote);
    const health = healthOf(connectionState, iceConnectionState);
    const now = this.clock.now();
    let firstConnect = false;
    let recoveredAfter = 0;
    const written = await this.update(key, (rec) => {
      const states = { ...rec.states, [from]: connectionState };
      firstConnect = health === 'up' && rec.connectedAt === undefined;
      recoveredAfter = health === 'up' ? rec.attempts : 0;
      return health === 'up'
        ? { ...rec, latest: health, attempts: 0, gaveUp: false, states, connectedAt: rec.connectedAt ?? now }
        : { ...rec, latest: health, states };
    });
    if (health === 'up') {
      this.cancel(key);
      if (recoveredAfter > 0 && written)
        this.notifier.restartRecovered?.(roomId, from, remote, recoveredAfter);
      if (firstConnect && written)
        this.notifier.callConnected?.(
          roomId,
          from,
          remote,
          written.firstOfferAt === undefined ? undefined : now - written.firstOfferAt,
        );
      return;
    }
    if (health === 'down') {
      this.cancel(key);
      await this.escalate(roomId, from, remote);
    } else if (health === 'degraded' && !this.timers.has(key)) {
      this.schedule(key, this.options.disconnectedTimeoutMs, () => this.recheck(roomId, from, remote));
    }
  }

  /** Notes the first offer relayed between `a` and `b` (call setup time is measured from it). */
  async noteOffer(roomId: string, a: string, b: string): Promise<void> {
    const now = this.clock.now();
    await this.update(pairKey(roomId, a, b), (rec) =>
      rec.firstOfferAt === undefined ? { ...rec, firstOfferAt: now } : undefined,
    );
  }

  /** `from`'s last reported `connectionState` of its link to `remote` in `roomId`, if any. */
  async lastState(roomId: string, from: string, remote: string): Promise<PeerConnectionState | undefined> {
    return (await this.store.get<PairRecord>(pairKey(roomId, from, remote)))?.states?.[from];
  }

  /** Forgets every pair of `peerId` with `others` in `roomId` (the peer left). */
  async forgetPeer(roomId: string, peerId: string, others: Iterable<string>): Promise<void> {
    for (const other of others) {
      const key = pairKey(roomId, peerId, other);
      this.cancel(key);
      await this.store.delete(key);
    }
  }

  /** Number of pending timers (for leak tests). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Cancels all timers. Safe to call twice. */
  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  // A timer fired: act only if the link has not recovered meanwhile.
  private async recheck(roomId: string, a: string, b: string): Promise<void> {
    const rec = await this.store.get<PairRecord>(pairKey(roomId, a, b));
    if (!rec || rec.latest === 'up') return;
    await this.escalate(roomId, a, b);
  }

  /**
   * Decides the pair's next step and records it in one compare-and-set, so that reports of one pair
   * reaching two instances at once lead to one request per attempt, never two (nor two within the
   * interval): the instance whose write loses reads the record again and finds the step taken.
   */
  private async escalate(roomId: string, a: string, b: string): Promise<void> {
    const key = pairKey(roomId, a, b);
    if (this.closed) return;
    const now = this.clock.now();
    const { maxAttempts, minIntervalMs, restartTimeoutMs } = this.options;
    let step = 'none' as 'give-up' | 'wait' | 'restart' | 'none';
    let wait = 0;
    const written = await this.update(
      key,
      (rec) => {
        step = 'none';
        if (rec.gaveUp) return undefined;
        if (rec.attempts >= maxAttempts) {
          step = 'give-up';
          return { ...rec, gaveUp: true };
        }
        // The interval holds across recoveries too (`connected` resets the attempts, not the time of
        // the last request): otherwise a peer alternating `failed`/`connected` reports would have its
        // partner asked to restart as often as it reports (thousands of times a second).
        wait = rec.lastAttemptAt + minIntervalMs - now;
        if (rec.lastAttemptAt > 0 && wait > 0) {
          step = 'wait';
          return undefined;
        }
        step = 'restart';
        return { ...rec, attempts: rec.attempts + 1, lastAttemptAt: now };
      },
      false,
    );
    if (step === 'give-up' && written) {
      this.cancel(key);
      this.notifier.connectionFailed(roomId, a, b);
    } else if (step === 'wait') {
      // Too soon after the previous request: decide again when the interval has passed.
      if (!this.timers.has(key)) this.schedule(key, wait, () => this.recheck(roomId, a, b));
    } else if (step === 'restart' && written) {
      const target = iceRestartSide(a, b);
      this.notifier.requestRestart(roomId, target, target === a ? b : a, written.attempts, maxAttempts);
      this.schedule(key, Math.max(restartTimeoutMs, minIntervalMs), () => this.recheck(roomId, a, b));
    }
  }

  /**
   * Reads the pair's record (a new one when `create` and there is none), applies `change`
   * (undefined: leave it) and writes the result only if nobody wrote in between, else reads again.
   * Returns the record written, or undefined.
   */
  private async update(
    key: string,
    change: (rec: PairRecord) => PairRecord | undefined,
    create = true,
  ): Promise<PairRecord | undefined> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const current = await this.store.get<PairRecord>(key);
      if (!current && !create) return undefined;
      const next = change(current ?? NEW_RECORD);
      if (!next) return undefined;
      const ttl = this.options.recordTtlMs;
      if (current === undefined) {
        // A first record (only reports create one, never an escalation): two instances creating
        // it at once write the same report fields, and escalations then go by compare-and-set.
        await this.store.set(key, next, ttl);
        return next;
      }
      if (await this.store.compareAndSet(key, current, next, ttl)) return next;
    }
    throw new Error(`pair record ${key} kept changing; gave up after ${MAX_UPDATE_ATTEMPTS} attempts`);
  }

  private schedule(key: string, ms: number, fn: () => Promise<void>): void {
    if (this.closed) return;
    this.cancel(key);
    this.timers.set(
      key,
      this.clock.setTimeout(() => {
        this.timers.delete(key);
        fn().catch(() => undefined);
      }, ms),
    );
  }

  private cancel(key: string): void {
    const t = this.timers.get(key);
    if (t) {
      this.clock.clearTimeout(t);
      this.timers.delete(key);
    }
  }
}

function healthOf(c: PeerConnectionState, i: IceConnectionState): Health {
  if (c === 'failed' || i === 'failed') return 'down';
  if (c === 'connected' || i === 'connected' || i === 'completed') return 'up';
  if (c === 'disconnected' || i === 'disconnected') return 'degraded';
  return 'unknown';
}

function pairKey(roomId: string, a: string, b: string): string {
  return a < b ? `pc:${roomId}:${a}|${b}` : `pc:${roomId}:${b}|${a}`;
}
