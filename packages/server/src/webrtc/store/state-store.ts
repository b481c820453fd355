import type { Awaitable } from '../../common/awaitable';

/**
 * The small store every stateful service keeps its state in. Its operations mirror Redis
 * primitives (string with TTL, capped set with per-member expiry, capped hash, capped list) so a
 * Redis implementation is a direct mapping and each operation is atomic on its own.
 *
 * Values must be plain JSON data. Callers treat values they read as read-only and write changes
 * back with `set`: the in-memory store hands out its own objects, a Redis store would not.
 *
 * Every operation answers an {@link Awaitable}: the in-memory store answers synchronously (the
 * relay path then runs without a microtask per operation), a remote store with promises. Callers
 * either `await` the answer or pass it on with `after()`; they never assume which it is.
 */
export interface StateStore {
  get<T>(key: string): Awaitable<T | undefined>;
  /** Stores `value`; with `ttlMs`, it disappears that long after this write. */
  set<T>(key: string, value: T, ttlMs?: number): Awaitable<void>;
  delete(...keys: string[]): Awaitable<void>;
  /**
   * Replaces the value at `key` with `value` (TTL `ttlMs`) only if it still equals `expected` (as
   * JSON: the value `get` returned, unchanged); returns whether it did. One atomic step, so two
   * instances that read one value and write their changes cannot both succeed: the loser reads again.
   */
  compareAndSet<T>(key: string, expected: T, value: T, ttlMs: number): Awaitable<boolean>;
  /**
   * Sets `key` to `value` when it is absent or holds a smaller number; returns whether it did.
   * Either way the key's TTL becomes `ttlMs`. One atomic step (a Lua script on Redis).
   */
  raiseTo(key: string, value: number, ttlMs: number): Awaitable<boolean>;
  /** Sets the TTL of an existing key; no-op when it is absent. */
  expire(key: string, ttlMs: number): Awaitable<void>;
  /**
   * Adds `member` to the set at `key`. Returns true when it was not already there (unexpired).
   * Either way the member now expires `ttlMs` from now (a retry keeps it remembered); the set keeps
   * at most `maxMembers`, dropping the least recently added.
   */
  addToSet(key: string, member: string, ttlMs: number, maxMembers: number): Awaitable<boolean>;
  removeFromSet(key: string, member: string): Awaitable<void>;
  /**
   * The test-and-add of {@link addToSet} for sets nobody lists (what de-duplication remembers):
   * returns true when `member` was not remembered (unexpired) at `key`; either way it is now, for
   * `ttlMs`, as the most recently added; at most `maxMembers` are kept. A store may keep a 64-bit
   * digest of each member instead of the member, so a member never added is taken for a
   * remembered one with a probability of about n / 2^64 for n remembered.
   */
  remember(key: string, member: string, ttlMs: number, maxMembers: number): Awaitable<boolean>;
  /** Forgets a member {@link remember} added; no-op when it is not remembered. */
  forget(key: string, member: string): Awaitable<void>;
  setMembers(key: string): Awaitable<string[]>;
  /** Sets `field` unless the hash already holds `maxFields` other fields. */
  hashSetIfCapacity<T>(
    key: string,
    field: string,
    value: T,
    maxFields: number,
  ): Awaitable<'added' | 'exists' | 'full'>;
  hashGet<T>(key: string, field: string): Awaitable<T | undefined>;
  hashGetAll<T>(key: string): Awaitable<Map<string, T>>;
  /** Removes `field`; returns whether it was there. Deletes the hash when it becomes empty. */
  hashDelete(key: string, field: string): Awaitable<boolean>;
  /** Appends to the list unless it holds `maxLength` items (returns false then). Refreshes the list's TTL. */
  listPush<T>(key: string, value: T, maxLength: number, ttlMs: number): Awaitable<boolean>;
  listLength(key: string): Awaitable<number>;
  /** Returns the whole list in order and deletes it. */
  listDrain<T>(key: string): Awaitable<T[]>;
  /**
   * The whole decision on one relayed signal, and its effects, in one atomic step (one Lua script on
   * Redis: one round trip instead of one per check). In order, the first that applies answers:
   * `not-member` when `receiver.peerId` is not a field of the hash at `receiver.roomKey`;
   * `buffer-full` when the receiver's session (at `receiver.sessionKey`: a value with `socketId`,
   * null while dropped, and `droppedSeq`) is dropped and its log has numbered `log.maxEntries`
   * signals since `droppedSeq`; `duplicate` when `messageId` is remembered (its TTL is refreshed);
   * `stale` when `sequence.value` is not above the number at `sequence.key` (nothing is recorded,
   * the key's TTL is refreshed). Otherwise the sequence is raised (or, without `value`, its key's TTL
   * refreshed) and `messageId` remembered; then `candidates` are de-duplicated, each as
   * {@link remember} does (a null member is always fresh), and with none fresh the answer is
   * `duplicate`. Last, the signal is logged for the receiver: the number at `log.seqKey` is
   * incremented (TTL `sequenceTtlMs`) and `"<seq> <entry>"` appended to the list at `log.listKey`
   * (its newest `maxEntries` kept, TTL `entryTtlMs`), where the entry is `log.head`, the fresh
   * candidates' `log.items` joined by commas, and `log.tail`; the answer is `accepted` with that seq.
   * With `publish`, the accepted signal is then published as {@link publishedMessage} builds it,
   * in the same step (so in log order), through the store's publisher.
   */
  admitSignal(step: SignalStep): Awaitable<SignalStepResult>;
  /** Number of keys held (for metrics and leak tests). */
  size(): Awaitable<number>;
  /** Stops background work. Safe to call twice. */
  close(): Awaitable<void>;
}

/** One relayed signal, as {@link StateStore.admitSignal} judges and records it. */
export interface SignalStep {
  receiver: { roomKey: string; peerId: string; sessionKey: string };
  /** Absent when the signal has no message id. */
  messageId?: { key: string; id: string; ttlMs: number; maxMembers: number };
  /** `value`: an offer's or answer's sequence, to be raised to; absent for candidates and unsequenced signals. */
  sequence: { key: string; value?: number; ttlMs: number };
  /** Absent for offers and answers; for a candidate, one member; for a batch, one per candidate (at least one). */
  candidates?: { key: string; members: (string | null)[]; ttlMs: number; maxMembers: number };
  log: {
    seqKey: string;
    listKey: string;
    maxEntries: number;
    entryTtlMs: number;
    sequenceTtlMs: number;
    head: string;
    /** One per candidate (a batch's entry lists only the fresh ones); absent otherwise. */
    items?: string[];
    tail: string;
  };
  /**
   * Absent unless an accepted signal is also to be published on pub/sub `channel` (as given: the
   * store does not prefix it), in the message {@link publishedMessage} builds from the entry: how
   * the cluster hands a signal to the instance of its receiver in the step that logs it.
   */
  publish?: SignalPublication;
}

/**
 * A message to publish with a logged signal: `head`, then the JSON object that starts at index `from`
 * of the log entry and ends one character before the entry's end, with `"seq":<seq>` added as its
 * last member, then `tail`.
 */
export interface SignalPublication {
  channel: string;
  head: string;
  tail: string;
  from: number;
}

/** The message published for a logged `entry` numbered `seq` (see {@link SignalPublication}). */
export function publishedMessage(publish: SignalPublication, entry: string, seq: number): string {
  const body = entry.slice(publish.from, -2);
  return `${publish.head}${body}${body.endsWith('{') ? '' : ','}"seq":${seq}}${publish.tail}`;
}

export type SignalStepResult =
  | { verdict: 'not-member' | 'buffer-full' | 'duplicate' }
  | { verdict: 'stale'; last: number | undefined }
  /** `fresh`: for each of `candidates.members`, whether it was new (empty without candidates). */
  | { verdict: 'accepted'; online: boolean; seq: number; fresh: boolean[] };

export const STATE_STORE = Symbol('STATE_STORE');
