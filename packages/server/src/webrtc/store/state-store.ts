/**
 * The small store every stateful service keeps its state in. Its operations mirror Redis
 * primitives (string with TTL, capped set with per-member expiry, capped hash, capped list) so a
 * Redis implementation is a direct mapping and each operation is atomic on its own.
 *
 * Values must be plain JSON data. Callers treat values they read as read-only and write changes
 * back with `set`: the in-memory store hands out its own objects, a Redis store would not.
 */
export interface StateStore {
  get<T>(key: string): Promise<T | undefined>;
  /** Stores `value`; with `ttlMs`, it disappears that long after this write. */
  set<T>(key: string, value: T, ttlMs?: number): Promise<void>;
  delete(...keys: string[]): Promise<void>;
  /**
   * Sets `key` to `value` when it is absent or holds a smaller number; returns whether it did.
   * Either way the key's TTL becomes `ttlMs`. One atomic step (a Lua script on Redis).
   */
  raiseTo(key: string, value: number, ttlMs: number): Promise<boolean>;
  /** Sets the TTL of an existing key; no-op when it is absent. */
  expire(key: string, ttlMs: number): Promise<void>;
  /**
   * Adds `member` to the set at `key`. Returns true when it was not already there (unexpired).
   * Either way the member now expires `ttlMs` from now (a retry keeps it remembered); the set keeps
   * at most `maxMembers`, dropping the least recently added.
   */
  addToSet(key: string, member: string, ttlMs: number, maxMembers: number): Promise<boolean>;
  removeFromSet(key: string, member: string): Promise<void>;
  setMembers(key: string): Promise<string[]>;
  /** Sets `field` unless the hash already holds `maxFields` other fields. */
  hashSetIfCapacity<T>(
    key: string,
    field: string,
    value: T,
    maxFields: number,
  ): Promise<'added' | 'exists' | 'full'>;
  hashGet<T>(key: string, field: string): Promise<T | undefined>;
  hashGetAll<T>(key: string): Promise<Map<string, T>>;
  /** Removes `field`; returns whether it was there. Deletes the hash when it becomes empty. */
  hashDelete(key: string, field: string): Promise<boolean>;
  /** Appends to the list unless it holds `maxLength` items (returns false then). Refreshes the list's TTL. */
  listPush<T>(key: string, value: T, maxLength: number, ttlMs: number): Promise<boolean>;
  listLength(key: string): Promise<number>;
  /** Returns the whole list in order and deletes it. */
  listDrain<T>(key: string): Promise<T[]>;
  /** Number of keys held (for metrics and leak tests). */
  size(): Promise<number>;
  /** Stops background work. Safe to call twice. */
  close(): Promise<void>;
}

export const STATE_STORE = Symbol('STATE_STORE');
