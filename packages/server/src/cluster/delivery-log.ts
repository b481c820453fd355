import type { Redis } from 'ioredis';
import type { SignalStep } from '../webrtc/store/state-store';

/** Nest injection token of the {@link DeliveryLog} (null on one instance). */
export const DELIVERY_LOG = Symbol('DELIVERY_LOG');

/** One signal as it was sent to a peer, numbered in that peer's sequence (`payload.seq` too). */
export interface LoggedSignal {
  seq: number;
  event: string;
  payload: Record<string, unknown>;
}

/** What a resuming peer missed: the entries after its `lastSeq`, or `gap` when some are gone. */
export type Replay = { entries: LoggedSignal[] } | { gap: true };

/**
 * Every signal sent to a peer, numbered with the peer's own sequence (`seq`, from 1) and kept for
 * a while in a bounded log, so that a peer whose connection (or whose instance) died can resume on
 * any instance and be sent exactly what followed the last `seq` it received — LiveKit's resume
 * with `last_message_seq` is the model. Used with shared state only: one process keeps the same
 * promise with Socket.IO's connection state recovery, without a log.
 */
export interface DeliveryLog {
  /**
   * Where the state store's `StateStore.admitSignal` numbers and logs a signal for `peerId`
   * (keys relative to the store's prefix: the log lives beside the state it is decided with), and
   * how much it keeps.
   */
  target(peerId: string): LogTarget;
  /** Entries kept per peer. */
  readonly maxEntries: number;
  /** The entries after `lastSeq`, oldest first; `gap` when the log no longer reaches back that far. */
  since(peerId: string, lastSeq: number): Promise<Replay>;
  /** The last seq given to the peer (0 before its first signal). */
  current(peerId: string): Promise<number>;
  /** Drops the peer's log and sequence (the peer is gone for good). */
  forget(peerId: string): Promise<void>;
}

/** A peer's log as `StateStore.admitSignal` appends to it. */
export type LogTarget = Pick<
  SignalStep['log'],
  'seqKey' | 'listKey' | 'maxEntries' | 'entryTtlMs' | 'sequenceTtlMs'
>;

/**
 * The text logged for a signal (after `<seq> `, which the store prepends): `{"e":event,"p":payload}`.
 * With `candidates` (a batch), the store puts the fresh ones' JSON between `head` and `tail`; the
 * payload must not hold them itself.
 */
export function logEntry(
  event: string,
  payload: Record<string, unknown>,
  candidates?: unknown[],
): Pick<SignalStep['log'], 'head' | 'items' | 'tail'> {
  if (!candidates) return { head: JSON.stringify({ e: event, p: payload }), tail: '' };
  // The payload always has its roomId and sender, so the rest of the object is never empty.
  return {
    head: `${entryPrefix(event)}{"candidates":[`,
    items: candidates.map((c) => JSON.stringify(c)),
    tail: `],${JSON.stringify(payload).slice(1)}}`,
  };
}

/** Where the payload's JSON object starts in a {@link logEntry} of `event` (`SignalPublication.from`). */
export function payloadIndex(event: string): number {
  return entryPrefix(event).length;
}

/** What every {@link logEntry} of `event` starts with, up to its payload (as `JSON.stringify` writes it). */
function entryPrefix(event: string): string {
  return `{"e":${JSON.stringify(event)},"p":`;
}

export interface RedisDeliveryLogOptions {
  /** Prepended to every key: the state store's prefix. */
  keyPrefix: string;
  /** Entries kept per peer; older ones are trimmed. */
  maxEntries: number;
  /** How long a log outlives its last append, ms (the resume window plus a margin). */
  entryTtlMs: number;
  /** How long a peer's sequence outlives its last append, ms (a peer session's lifetime). */
  sequenceTtlMs: number;
}

/**
 * The delivery log in Redis: per peer a counter (`dseq:{peerId}`) and a capped list
 * (`dlog:{peerId}`) of `"<seq> <entry>"` lines, in one hash slot. Signals are numbered and
 * appended by the state store's `admitSignal`, in the script that decides them (numbering and
 * logging in one step, so the log's order is the sequence's order whichever instances append at
 * once); its `keyPrefix` must be the store's. A replay is one `GET` and one `LRANGE` in a
 * transaction.
 */
export class RedisDeliveryLog implements DeliveryLog {
  constructor(
    private readonly redis: Redis,
    private readonly options: RedisDeliveryLogOptions,
  ) {}

  get maxEntries(): number {
    return this.options.maxEntries;
  }

  target(peerId: string): LogTarget {
    const { maxEntries, entryTtlMs, sequenceTtlMs } = this.options;
    return { seqKey: `dseq:{${peerId}}`, listKey: `dlog:{${peerId}}`, maxEntries, entryTtlMs, sequenceTtlMs };
  }

  async since(peerId: string, lastSeq: number): Promise<Replay> {
    const result = await this.redis
      .multi()
      .get(this.seqKey(peerId))
      .lrange(this.logKey(peerId), 0, -1)
      .exec();
    const current = Number((result?.[0]?.[1] as string | null) ?? 0);
    const raw = (result?.[1]?.[1] as string[] | undefined) ?? [];
    if (lastSeq === current) return { entries: [] };
    // A peer that has seen more than Redis has numbered: the sequence was lost (Redis restarted
    // empty, or the keys expired), so what followed cannot be known.
    if (lastSeq > current) return { gap: true };
    const entries: LoggedSignal[] = [];
    for (const line of raw) {
      const space = line.indexOf(' ');
      const seq = Number(line.slice(0, space));
      if (seq <= lastSeq) continue;
      const { e, p } = JSON.parse(line.slice(space + 1)) as { e: string; p: Record<string, unknown> };
      entries.push({ seq, event: e, payload: { ...p, seq } });
    }
    if (entries.length === 0 || entries[0]!.seq !== lastSeq + 1) return { gap: true };
    return { entries };
  }

  async current(peerId: string): Promise<number> {
    return Number((await this.redis.get(this.seqKey(peerId))) ?? 0);
  }

  async forget(peerId: string): Promise<void> {
    await this.redis.del(this.seqKey(peerId), this.logKey(peerId));
  }

  private seqKey(peerId: string): string {
    return this.options.keyPrefix + this.target(peerId).seqKey;
  }

  private logKey(peerId: string): string {
    return this.options.keyPrefix + this.target(peerId).listKey;
  }
}
