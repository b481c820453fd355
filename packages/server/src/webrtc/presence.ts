import type { Clock, TimerHandle } from '../common/clock';

/** Nest injection token of the {@link Presence}. */
export const PRESENCE = Symbol('PRESENCE');

/** What {@link Presence} calls back into (the signaling core). */
export interface PresenceHandlers {
  /** A dropped peer's resume window has passed (it may have come back meanwhile: check). */
  expire(peerId: string): Promise<void>;
  /**
   * The instance holding the peer's socket is gone (killed, not shut down): the peer is to be
   * treated as dropped `silentForMs` ago (the instance's last sign of life), as its disconnect
   * never reached anyone.
   */
  orphaned(peerId: string, socketId: string, silentForMs: number): Promise<void>;
  /**
   * The shared state was lost (Redis came back empty): every session and room is gone, and this
   * instance's clients must start over.
   */
  stateLost(): Promise<void>;
}

/**
 * Where peers are connected, and when the dropped ones expire. One instance keeps a timer per
 * dropped peer; several keep both in Redis, so that whichever instance survives expires the peers
 * of one that died (see RedisPresence).
 */
export interface Presence {
  /** Starts calling `handlers` back. */
  start(handlers: PresenceHandlers): void;
  /** The peer is connected to this instance now, on `socketId`. */
  online(peerId: string, socketId: string): Promise<void> | void;
  /** The peer is no longer connected to this instance. */
  offline(peerId: string): Promise<void> | void;
  /** Calls `expire(peerId)` in `delayMs` (replacing an earlier schedule). */
  scheduleExpiry(peerId: string, delayMs: number): Promise<void> | void;
  cancelExpiry(peerId: string): Promise<void> | void;
  /** Dropped peers waiting for their window to pass (this instance's view, for metrics). */
  readonly pendingExpiries: number;
  /** Stops timers and polling. Safe to call twice. */
  close(): Promise<void> | void;
}

/** One instance: a timer per dropped peer, nothing else to know. */
export class LocalPresence implements Presence {
  // (Its state lives and dies with the process: it is never lost while the process runs.)
  private readonly timers = new Map<string, TimerHandle>();
  private handlers: PresenceHandlers | undefined;

  constructor(private readonly clock: Clock) {}

  start(handlers: PresenceHandlers): void {
    this.handlers = handlers;
  }

  online(): void {}

  offline(): void {}

  scheduleExpiry(peerId: string, delayMs: number): void {
    this.cancelExpiry(peerId);
    this.timers.set(
      peerId,
      this.clock.setTimeout(() => {
        this.timers.delete(peerId);
        this.handlers?.expire(peerId).catch(() => undefined);
      }, delayMs),
    );
  }

  cancelExpiry(peerId: string): void {
    const t = this.timers.get(peerId);
    if (t === undefined) return;
    this.clock.clearTimeout(t);
    this.timers.delete(peerId);
  }

  get pendingExpiries(): number {
    return this.timers.size;
  }

  close(): void {
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }
}
