import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../common/clock';
import { after, type Awaitable } from '../../common/awaitable';
import type { StateStore } from '../store/state-store';

export interface PeerSessionOptions {
  /** How long a dropped peer keeps its id and rooms, ms. Default 30000. */
  resumeWindowMs: number;
}

/** A peer's presence: connected on a socket, or dropped and resumable until `droppedAt + window`. */
export interface PeerSession {
  peerId: string;
  /** Socket id while connected; null while dropped. */
  socketId: string | null;
  droppedAt: number | null;
  /** sha256 of the peer's current resume token. */
  tokenHash: string | null;
  /** The authenticated user (token `sub`) the peer belongs to; null when authentication is off. */
  userId: string | null;
  /** With the delivery log: the last seq given to the peer when it dropped (what it may have had). */
  droppedSeq?: number | null;
}

// A connected peer's session has no TTL; a dropped one lives for the window.
const SESSION_LIFETIME_MS = 24 * 3600_000;
/** Attempts of one read-change-write of a session before giving up (others kept changing it). */
const MAX_UPDATE_ATTEMPTS = 8;

/** Peer identity, presence and single-use resume tokens. */
export class PeerSessionService {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    private readonly options: PeerSessionOptions,
  ) {}

  /**
   * Creates a session for a new connection with a fresh, unguessable peer id.
   * @param userId the authenticated user it belongs to (its resume tokens work only for that user).
   */
  async create(socketId: string, userId: string | null = null): Promise<PeerSession> {
    const session: PeerSession = {
      peerId: randomBytes(12).toString('base64url'),
      socketId,
      droppedAt: null,
      tokenHash: null,
      userId,
    };
    await this.store.set(sessionKey(session.peerId), session, SESSION_LIFETIME_MS);
    return session;
  }

  get(peerId: string): Awaitable<PeerSession | undefined> {
    return this.store.get<PeerSession>(sessionKey(peerId));
  }

  /** The store key of the peer's {@link PeerSession}. */
  keyOf(peerId: string): string {
    return sessionKey(peerId);
  }

  /** True when the peer is connected now. */
  isOnline(peerId: string): Awaitable<boolean> {
    return after(this.get(peerId), (s) => s !== undefined && s.socketId !== null);
  }

  /**
   * Changes a session in one atomic step as seen from other instances: reads it, applies `change`
   * (undefined: leave it), and writes the result only if nobody wrote in between, else reads again.
   * Returns the session written and the one it replaced, or undefined when there was none or
   * `change` declined.
   */
  private async update(
    peerId: string,
    change: (session: PeerSession) => PeerSession | undefined,
    ttlMs: number,
  ): Promise<{ before: PeerSession; after: PeerSession } | undefined> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const before = await this.get(peerId);
      if (!before) return undefined;
      const after = change(before);
      if (!after) return undefined;
      if (await this.store.compareAndSet(sessionKey(peerId), before, after, ttlMs)) return { before, after };
    }
    throw new Error(`session ${peerId} kept changing; gave up after ${MAX_UPDATE_ATTEMPTS} attempts`);
  }

  /** Issues a new resume token; the previous one stops working. */
  async issueToken(peerId: string): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    const hash = hashToken(token);
    await this.store.set(tokenKey(hash), peerId, SESSION_LIFETIME_MS);
    const updated = await this.update(peerId, (s) => ({ ...s, tokenHash: hash }), SESSION_LIFETIME_MS);
    if (!updated) {
      await this.store.delete(tokenKey(hash));
      throw new Error(`no session for ${peerId}`);
    }
    if (updated.before.tokenHash) await this.store.delete(tokenKey(updated.before.tokenHash));
    return token;
  }

  /**
   * Spends a resume token presented by `userId` (null when authentication is off). Returns the peer
   * it belongs to when the token is current, the peer is still within its resume window and belongs
   * to that same user; the token can never be used again either way, except that another user's
   * attempt leaves it untouched (a leaked token cannot even be burnt by someone else).
   */
  async consumeToken(token: string, userId: string | null = null): Promise<PeerSession | undefined> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 128) return undefined;
    const hash = hashToken(token);
    const peerId = await this.store.get<string>(tokenKey(hash));
    if (peerId === undefined) return undefined;
    const session = await this.get(peerId);
    if (session && (session.userId ?? null) !== userId) return undefined;
    await this.store.delete(tokenKey(hash));
    // Spent in one step: of two connections presenting the token at once (on two instances), one
    // clears it and the other then finds it gone.
    const spent = await this.update(
      peerId,
      (s) => {
        if (s.tokenHash !== hash || (s.userId ?? null) !== userId) return undefined;
        if (s.droppedAt !== null && this.clock.now() - s.droppedAt > this.options.resumeWindowMs)
          return undefined;
        return { ...s, tokenHash: null };
      },
      SESSION_LIFETIME_MS,
    );
    return spent?.after;
  }

  /** Marks the peer connected on `socketId`. */
  async markOnline(peerId: string, socketId: string): Promise<void> {
    await this.update(
      peerId,
      (s) => ({ ...s, socketId, droppedAt: null, droppedSeq: null }),
      SESSION_LIFETIME_MS,
    );
  }

  /**
   * Marks the peer dropped (if `socketId` is still its socket); returns whether it was.
   * @param droppedSeq with the delivery log, the peer's last seq now.
   */
  async markDropped(peerId: string, socketId: string, droppedSeq?: number): Promise<boolean> {
    // Only if `socketId` is still the peer's socket when written: a resume elsewhere in between
    // (which moved the session to its new socket) wins, and the peer stays online.
    const updated = await this.update(
      peerId,
      (s) =>
        s.socketId === socketId
          ? { ...s, socketId: null, droppedAt: this.clock.now(), droppedSeq: droppedSeq ?? null }
          : undefined,
      this.options.resumeWindowMs + 60_000,
    );
    return updated !== undefined;
  }

  /** Deletes the session and its token. */
  async remove(peerId: string): Promise<void> {
    const session = await this.get(peerId);
    await this.store.delete(sessionKey(peerId), ...(session?.tokenHash ? [tokenKey(session.tokenHash)] : []));
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
function sessionKey(peerId: string): string {
  return `session:${peerId}`;
}
function tokenKey(hash: string): string {
  return `resume:${hash}`;
}
