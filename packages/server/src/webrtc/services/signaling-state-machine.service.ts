import type { StateStore } from '../store/state-store';

export interface SignalingStateMachineOptions {
  /** A messageId seen from a sender is answered as a duplicate for this long; also the idle expiry of a pair's context, ms. Default 30000. */
  windowMs: number;
  /** Message ids remembered per direction of a pair; older ones are forgotten first. Default 1024. */
  maxIdsPerDirection: number;
}

export type SignalKind = 'offer' | 'answer' | 'iceCandidate';

/** What to do with a signal. */
export type SignalVerdict = 'accept' | 'duplicate' | 'stale';

interface PairContext {
  /** Highest accepted offer/answer sequence per sender. */
  lastSequence: Record<string, number>;
}

/**
 * Per-pair signaling context: at-most-once forwarding by `messageId` and monotonic
 * offer/answer `sequence` per direction. Contexts expire after `windowMs` without traffic, and
 * the set of remembered ids is capped, so memory stays bounded however many ids arrive.
 */
export class SignalingStateMachineService {
  constructor(
    private readonly store: StateStore,
    private readonly options: SignalingStateMachineOptions,
  ) {}

  /**
   * Decides whether a signal from `from` to `to` is forwarded. A duplicate is reported before
   * staleness so a retried, already-forwarded offer is answered `duplicate`, not refused.
   * `commit` must be called once the signal was forwarded or queued; `rollback` if it was not,
   * so a retry of the same id is judged again.
   */
  async admit(
    from: string,
    to: string,
    kind: SignalKind,
    messageId: string | undefined,
    sequence: number | undefined,
  ): Promise<SignalVerdict> {
    const { windowMs, maxIdsPerDirection } = this.options;
    if (messageId !== undefined) {
      const fresh = await this.store.addToSet(idsKey(from, to), messageId, windowMs, maxIdsPerDirection);
      if (!fresh) return 'duplicate';
    }
    if (kind !== 'iceCandidate' && sequence !== undefined) {
      const key = contextKey(from, to);
      const ctx = (await this.store.get<PairContext>(key)) ?? { lastSequence: {} };
      const last = ctx.lastSequence[from];
      if (last !== undefined && sequence <= last) {
        // The id was recorded above; forget it so the refusal is repeatable, not a false "duplicate".
        if (messageId !== undefined) await this.store.removeFromSet(idsKey(from, to), messageId);
        return 'stale';
      }
      ctx.lastSequence[from] = sequence;
      await this.store.set(key, ctx, windowMs);
    }
    return 'accept';
  }

  /** Forgets a message id so a retry is admitted again (the first attempt was not delivered). */
  async forget(from: string, to: string, messageId: string | undefined): Promise<void> {
    if (messageId !== undefined) await this.store.removeFromSet(idsKey(from, to), messageId);
  }

  /** The last accepted offer/answer sequence from `from` to `to`, if any. */
  async lastSequence(from: string, to: string): Promise<number | undefined> {
    return (await this.store.get<PairContext>(contextKey(from, to)))?.lastSequence[from];
  }

  /** Removes every context of the pair (both directions). */
  async forgetPair(a: string, b: string): Promise<void> {
    await this.store.delete(contextKey(a, b), idsKey(a, b), idsKey(b, a));
  }
}

function contextKey(a: string, b: string): string {
  return a < b ? `sm:ctx:${a}|${b}` : `sm:ctx:${b}|${a}`;
}

function idsKey(from: string, to: string): string {
  return `sm:ids:${from}>${to}`;
}
