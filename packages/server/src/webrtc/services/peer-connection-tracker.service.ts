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
}

interface PairRecord {
  /** Health of the most recent report from either side: the freshest view of the link. */
  latest: Health;
  attempts: number;
  lastAttemptAt: number;
  /** `connectionFailed` was sent and nothing has recovered since. */
  gaveUp: boolean;
}

type Health = 'up' | 'down' | 'degraded' | 'unknown';

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
    const rec = (await this.store.get<PairRecord>(key)) ?? {
      latest: 'unknown',
      attempts: 0,
      lastAttemptAt: 0,
      gaveUp: false,
    };
    const health = healthOf(connectionState, iceConnectionState);
    rec.latest = health;
    if (health === 'up') {
      rec.attempts = 0;
      rec.gaveUp = false;
      this.cancel(key);
      await this.store.set(key, rec, this.options.recordTtlMs);
      return;
    }
    await this.store.set(key, rec, this.options.recordTtlMs);
    if (health === 'down') {
      this.cancel(key);
      await this.escalate(roomId, from, remote);
    } else if (health === 'degraded' && !this.timers.has(key)) {
      this.schedule(key, this.options.disconnectedTimeoutMs, () => this.recheck(roomId, from, remote));
    }
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

  private async escalate(roomId: string, a: string, b: string): Promise<void> {
    const key = pairKey(roomId, a, b);
    const rec = await this.store.get<PairRecord>(key);
    if (!rec || rec.gaveUp || this.closed) return;
    const now = this.clock.now();
    const { maxAttempts, minIntervalMs, restartTimeoutMs, recordTtlMs } = this.options;
    if (rec.attempts >= maxAttempts) {
      rec.gaveUp = true;
      this.cancel(key);
      await this.store.set(key, rec, recordTtlMs);
      this.notifier.connectionFailed(roomId, a, b);
      return;
    }
    // The interval holds across recoveries too (`connected` resets the attempts, not the time of the
    // last request): otherwise a peer alternating `failed`/`connected` reports would have its
    // partner asked to restart as often as it reports (thousands of times a second).
    const wait = rec.lastAttemptAt + minIntervalMs - now;
    if (rec.lastAttemptAt > 0 && wait > 0) {
      // Too soon after the previous request: decide again when the interval has passed.
      if (!this.timers.has(key)) this.schedule(key, wait, () => this.recheck(roomId, a, b));
      return;
    }
    rec.attempts += 1;
    rec.lastAttemptAt = now;
    await this.store.set(key, rec, recordTtlMs);
    const target = iceRestartSide(a, b);
    this.notifier.requestRestart(roomId, target, target === a ? b : a, rec.attempts, maxAttempts);
    this.schedule(key, Math.max(restartTimeoutMs, minIntervalMs), () => this.recheck(roomId, a, b));
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
