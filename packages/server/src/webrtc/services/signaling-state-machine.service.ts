import { after, type Awaitable } from '../../common/awaitable';
import type { SignalStep, SignalStepResult, StateStore } from '../store/state-store';

export interface SignalingStateMachineOptions {
  /** A messageId seen from a sender is answered as a duplicate for this long; also the idle expiry of a pair's context, ms. Default 30000. */
  windowMs: number;
  /** Message ids remembered per direction of a pair; older ones are forgotten first. Default 1024. */
  maxIdsPerDirection: number;
}

export type SignalKind = 'offer' | 'answer' | 'iceCandidate' | 'iceCandidates';

/** What to do with a signal. */
export type SignalVerdict = 'accept' | 'duplicate' | 'stale';

/**
 * Per-pair signaling context: at-most-once forwarding by `messageId` and monotonic offer/answer
 * `sequence` per direction. A direction's context expires after `windowMs` without any signal on
 * it (candidates included), and the set of remembered ids is capped, so memory stays bounded
 * however many ids arrive. Each direction has one writer (its sender's socket) and every step is
 * an atomic store operation, so concurrent calls cannot lower a sequence.
 */
export class SignalingStateMachineService {
  constructor(
    private readonly store: StateStore,
    private readonly options: SignalingStateMachineOptions,
  ) {}

  /**
   * Decides whether a signal from `from` to `to` is forwarded, and records it when it is. A
   * duplicate is reported before staleness, so a retried, already-forwarded offer is answered
   * `duplicate`, not refused; a stale refusal leaves no trace, so it repeats identically.
   */
  admit(
    from: string,
    to: string,
    kind: SignalKind,
    messageId: string | undefined,
    sequence: number | undefined,
  ): Awaitable<SignalVerdict> {
    if (messageId === undefined) return this.admitSequence(from, to, kind, undefined, sequence);
    const { windowMs, maxIdsPerDirection } = this.options;
    return after(this.store.remember(idsKey(from, to), messageId, windowMs, maxIdsPerDirection), (fresh) =>
      fresh ? this.admitSequence(from, to, kind, messageId, sequence) : 'duplicate',
    );
  }

  private admitSequence(
    from: string,
    to: string,
    kind: SignalKind,
    messageId: string | undefined,
    sequence: number | undefined,
  ): Awaitable<SignalVerdict> {
    const { windowMs } = this.options;
    const seq = sequenceKey(from, to);
    // Any traffic keeps the direction's context alive.
    if (kind === 'iceCandidate' || kind === 'iceCandidates' || sequence === undefined)
      return after(this.store.expire(seq, windowMs), () => 'accept');
    return after(this.store.raiseTo(seq, sequence, windowMs), (raised) => {
      if (raised) return 'accept';
      if (messageId === undefined) return 'stale';
      return after(this.store.forget(idsKey(from, to), messageId), () => 'stale');
    });
  }

  /**
   * The direction's part of a signal's one-step decision ({@link StateStore.admitSignal}): the same
   * checks and records as {@link admit}, for the store to make together with the others.
   */
  stepOf(
    from: string,
    to: string,
    kind: SignalKind,
    messageId: string | undefined,
    sequence: number | undefined,
  ): Pick<SignalStep, 'messageId' | 'sequence'> {
    const { windowMs, maxIdsPerDirection } = this.options;
    const ordered = kind !== 'iceCandidate' && kind !== 'iceCandidates' && sequence !== undefined;
    return {
      ...(messageId === undefined
        ? {}
        : {
            messageId: {
              key: idsKey(from, to),
              id: messageId,
              ttlMs: windowMs,
              maxMembers: maxIdsPerDirection,
            },
          }),
      sequence: { key: sequenceKey(from, to), ...(ordered ? { value: sequence } : {}), ttlMs: windowMs },
    };
  }

  /** Decides and records a relayed signal in one store step (with the delivery log). */
  decide(step: SignalStep): Awaitable<SignalStepResult> {
    return this.store.admitSignal(step);
  }

  /** The last accepted offer/answer sequence from `from` to `to`, if any. */
  lastSequence(from: string, to: string): Awaitable<number | undefined> {
    return this.store.get<number>(sequenceKey(from, to));
  }

  /** Removes every context of the pair (both directions). */
  async forgetPair(a: string, b: string): Promise<void> {
    await this.store.delete(sequenceKey(a, b), sequenceKey(b, a), idsKey(a, b), idsKey(b, a));
  }
}

function sequenceKey(from: string, to: string): string {
  return `sm:seq:${from}>${to}`;
}

function idsKey(from: string, to: string): string {
  return `sm:ids:${from}>${to}`;
}
