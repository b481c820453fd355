import type { IceCandidateInit } from '@switchboard/protocol';
import { after, type Awaitable } from '../../common/awaitable';
import type { SignalStep, StateStore } from '../store/state-store';

export interface IceCandidateBufferOptions {
  /** Signals held per sender→receiver pair while the receiver is away; later ones are refused. Default 256. */
  maxPerPair: number;
  /** Held signals are dropped this long after the last one arrived (the resume window), ms. Default 30000. */
  holdTtlMs: number;
  /** Candidates remembered per pair for de-duplication. Default 512. */
  maxSeenPerPair: number;
  /** How long a forwarded candidate is remembered, ms. Default 120000. */
  seenTtlMs: number;
}

/** A signal held for a peer that is reconnecting, replayed in order when it returns. */
export interface HeldSignal {
  event: 'offer' | 'answer' | 'iceCandidate' | 'iceCandidates';
  payload: Record<string, unknown>;
}

/**
 * De-duplicates ICE candidates per pair and ICE generation, and holds signals addressed to a peer
 * whose connection dropped until it resumes. Everything is capped per pair and expires.
 */
export class IceCandidateBufferService {
  constructor(
    private readonly store: StateStore,
    private readonly options: IceCandidateBufferOptions,
  ) {}

  /**
   * True the first time this candidate (same candidate line and `usernameFragment`) is seen from
   * `from` to `to`. End-of-candidates (`null`) is never treated as a duplicate here: it carries no
   * generation, and retries of it are caught by messageId.
   */
  isFirstSighting(from: string, to: string, candidate: IceCandidateInit | null): Awaitable<boolean> {
    if (candidate === null) return true;
    return this.store.remember(
      seenKey(from, to),
      memberOf(candidate),
      this.options.seenTtlMs,
      this.options.maxSeenPerPair,
    );
  }

  /**
   * {@link isFirstSighting} for each candidate of a batch, in order (a candidate repeated within
   * the batch is a first sighting once). The pair's key is built once for the batch, not once per
   * candidate.
   */
  firstSightings(from: string, to: string, candidates: (IceCandidateInit | null)[]): Awaitable<boolean[]> {
    const key = seenKey(from, to);
    const { seenTtlMs, maxSeenPerPair } = this.options;
    const out: boolean[] = [];
    const check = (i: number): Awaitable<boolean[]> => {
      for (; i < candidates.length; i++) {
        const candidate = candidates[i] ?? null;
        if (candidate === null) {
          out.push(true);
          continue;
        }
        const first = this.store.remember(key, memberOf(candidate), seenTtlMs, maxSeenPerPair);
        // A remote store answers with a promise: the rest waits for it, so the checks stay in order.
        if (typeof first !== 'boolean') {
          const next = i + 1;
          return after(first, (f) => {
            out.push(f);
            return check(next);
          });
        }
        out.push(first);
      }
      return out;
    };
    return check(0);
  }

  /** The de-duplication of {@link isFirstSighting}, as part of a signal's one-step decision. */
  stepOf(from: string, to: string, candidates: (IceCandidateInit | null)[]): SignalStep['candidates'] {
    return {
      key: seenKey(from, to),
      members: candidates.map((c) => (c === null ? null : memberOf(c))),
      ttlMs: this.options.seenTtlMs,
      maxMembers: this.options.maxSeenPerPair,
    };
  }

  /**
   * True when another signal from `from` can be held for `to`. Checked before a signal is admitted,
   * so a refusal leaves no trace and the sender's retry is judged afresh.
   */
  hasRoom(from: string, to: string): Awaitable<boolean> {
    return after(this.store.listLength(heldKey(to, from)), (n) => n < this.options.maxPerPair);
  }

  /** Holds a signal for `to`. Returns false when the pair's buffer is full (the signal is refused). */
  async hold(from: string, to: string, signal: HeldSignal): Promise<boolean> {
    const ok = await this.store.listPush(
      heldKey(to, from),
      signal,
      this.options.maxPerPair,
      this.options.holdTtlMs,
    );
    // Re-adding refreshes the sender's entry, so it lives as long as its list does.
    if (ok) await this.store.addToSet(sendersKey(to), from, this.options.holdTtlMs, Number.MAX_SAFE_INTEGER);
    return ok;
  }

  /** Removes and returns everything held for `to`, each sender's signals in the order they arrived. */
  async drain(to: string): Promise<{ from: string; signals: HeldSignal[] }[]> {
    const senders = await this.store.setMembers(sendersKey(to));
    await this.store.delete(sendersKey(to));
    const out: { from: string; signals: HeldSignal[] }[] = [];
    for (const from of senders) {
      const signals = await this.store.listDrain<HeldSignal>(heldKey(to, from));
      if (signals.length > 0) out.push({ from, signals });
    }
    return out;
  }

  /** Drops everything held for `peerId`. */
  async discardHeldFor(peerId: string): Promise<void> {
    const senders = await this.store.setMembers(sendersKey(peerId));
    await this.store.delete(sendersKey(peerId), ...senders.map((from) => heldKey(peerId, from)));
  }

  /** Removes the pair's de-duplication state and anything held between them, both directions. */
  async forgetPair(a: string, b: string): Promise<void> {
    await this.store.delete(seenKey(a, b), seenKey(b, a), heldKey(a, b), heldKey(b, a));
    await this.store.removeFromSet(sendersKey(a), b);
    await this.store.removeFromSet(sendersKey(b), a);
  }
}

/** Same candidate line and `usernameFragment` (its ICE generation): the same candidate. */
function memberOf(candidate: IceCandidateInit): string {
  return `${candidate.usernameFragment ?? ''}\u0000${candidate.sdpMid ?? ''}\u0000${candidate.candidate}`;
}

function seenKey(from: string, to: string): string {
  return `cb:seen:${from}>${to}`;
}
function heldKey(to: string, from: string): string {
  return `cb:held:${to}<${from}`;
}
function sendersKey(to: string): string {
  return `cb:senders:${to}`;
}
