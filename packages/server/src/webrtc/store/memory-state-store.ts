import type { Clock, TimerHandle } from '../../common/clock';
import { DigestSet } from './digest-set';
import { publishedMessage, type SignalStep, type SignalStepResult, type StateStore } from './state-store';

type Entry =
  | { kind: 'value'; value: unknown; expiresAt: number }
  /** Member → expiry time. (What de-duplication remembers is in `digests`, off the heap.) */
  | { kind: 'set'; members: Map<string, number>; expiresAt: number }
  | { kind: 'digests'; digests: DigestSet; expiresAt: number }
  | { kind: 'hash'; fields: Map<string, unknown>; expiresAt: number }
  | { kind: 'list'; items: unknown[]; expiresAt: number };

const NEVER = Number.POSITIVE_INFINITY;

/**
 * The single-node store: a Map with lazy expiry on access plus a periodic sweep, so memory stays
 * bounded by live state even for keys nobody reads again.
 */
export class MemoryStateStore implements StateStore {
  private readonly entries = new Map<string, Entry>();
  private sweepTimer: TimerHandle | undefined;
  private closed = false;

  /**
   * @param clock time source (fake in tests)
   * @param sweepIntervalMs how often expired keys are purged. Default 10000.
   * @param publisher where `admitSignal` publishes a signal with `publish`. Default none: one
   *   process has no other instance to publish to, and such steps publish nothing.
   */
  constructor(
    private readonly clock: Clock,
    private readonly sweepIntervalMs = 10_000,
    private readonly publisher?: (channel: string, message: string) => void,
  ) {
    this.scheduleSweep();
  }

  private scheduleSweep(): void {
    if (this.closed) return;
    this.sweepTimer = this.clock.setTimeout(() => {
      this.sweep();
      this.scheduleSweep();
    }, this.sweepIntervalMs);
  }

  /** Purges expired keys and set members now. */
  sweep(): void {
    const now = this.clock.now();
    for (const [key, e] of this.entries) {
      if (e.expiresAt <= now) {
        this.entries.delete(key);
      } else if (e.kind === 'set') {
        for (const [m, exp] of e.members) if (exp <= now) e.members.delete(m);
        if (e.members.size === 0) this.entries.delete(key);
      } else if (e.kind === 'digests') {
        e.digests.sweep(now);
        if (e.digests.size === 0) this.entries.delete(key);
      }
    }
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && e.expiresAt <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private ofKind<K extends Entry['kind']>(key: string, kind: K): Extract<Entry, { kind: K }> | undefined {
    const e = this.live(key);
    if (!e) return undefined;
    if (e.kind !== kind) throw new Error(`key ${key} holds a ${e.kind}, not a ${kind}`);
    return e as Extract<Entry, { kind: K }>;
  }

  get<T>(key: string): T | undefined {
    return this.ofKind(key, 'value')?.value as T | undefined;
  }

  set<T>(key: string, value: T, ttlMs?: number): void {
    this.entries.set(key, {
      kind: 'value',
      value,
      expiresAt: ttlMs === undefined ? NEVER : this.clock.now() + ttlMs,
    });
  }

  compareAndSet<T>(key: string, expected: T, value: T, ttlMs: number): boolean {
    const current = this.get<T>(key);
    // The store hands out its own objects, so an unchanged value is the very object read.
    if (
      current === undefined ||
      (current !== expected && JSON.stringify(current) !== JSON.stringify(expected))
    )
      return false;
    this.set(key, value, ttlMs);
    return true;
  }

  delete(...keys: string[]): void {
    for (const k of keys) this.entries.delete(k);
  }

  raiseTo(key: string, value: number, ttlMs: number): boolean {
    const e = this.ofKind(key, 'value');
    const expiresAt = this.clock.now() + ttlMs;
    if (e && typeof e.value === 'number' && e.value >= value) {
      e.expiresAt = expiresAt;
      return false;
    }
    if (e) {
      // In place: a new entry per raised sequence would be old-generation garbage soon after.
      e.value = value;
      e.expiresAt = expiresAt;
    } else {
      this.entries.set(key, { kind: 'value', value, expiresAt });
    }
    return true;
  }

  expire(key: string, ttlMs: number): void {
    const e = this.live(key);
    if (e) e.expiresAt = this.clock.now() + ttlMs;
  }

  addToSet(key: string, member: string, ttlMs: number, maxMembers: number): boolean {
    const now = this.clock.now();
    let e = this.ofKind(key, 'set');
    if (!e) {
      e = { kind: 'set', members: new Map(), expiresAt: NEVER };
      this.entries.set(key, e);
    }
    const exp = e.members.get(member);
    const fresh = exp === undefined || exp <= now;
    // Re-insert so Map order stays least-recently-added first for eviction.
    if (exp !== undefined) e.members.delete(member);
    e.members.set(member, now + ttlMs);
    if (!fresh) return false;
    while (e.members.size > maxMembers) {
      const oldest = e.members.keys().next().value as string;
      e.members.delete(oldest);
    }
    return true;
  }

  removeFromSet(key: string, member: string): void {
    const e = this.ofKind(key, 'set');
    if (!e) return;
    e.members.delete(member);
    if (e.members.size === 0) this.entries.delete(key);
  }

  setMembers(key: string): string[] {
    const e = this.ofKind(key, 'set');
    if (!e) return [];
    const now = this.clock.now();
    const out: string[] = [];
    for (const [m, exp] of e.members) if (exp > now) out.push(m);
    return out;
  }

  remember(key: string, member: string, ttlMs: number, maxMembers: number): boolean {
    let e = this.ofKind(key, 'digests');
    if (!e) {
      e = { kind: 'digests', digests: new DigestSet(), expiresAt: NEVER };
      this.entries.set(key, e);
    }
    const now = this.clock.now();
    return e.digests.add(member, now, now + ttlMs, maxMembers);
  }

  forget(key: string, member: string): void {
    const e = this.ofKind(key, 'digests');
    if (!e) return;
    e.digests.delete(member);
    if (e.digests.size === 0) this.entries.delete(key);
  }

  hashSetIfCapacity<T>(key: string, field: string, value: T, maxFields: number): 'added' | 'exists' | 'full' {
    let e = this.ofKind(key, 'hash');
    if (!e) {
      e = { kind: 'hash', fields: new Map(), expiresAt: NEVER };
      this.entries.set(key, e);
    }
    if (e.fields.has(field)) {
      e.fields.set(field, value);
      return 'exists';
    }
    if (e.fields.size >= maxFields) return 'full';
    e.fields.set(field, value);
    return 'added';
  }

  hashGet<T>(key: string, field: string): T | undefined {
    return this.ofKind(key, 'hash')?.fields.get(field) as T | undefined;
  }

  hashGetAll<T>(key: string): Map<string, T> {
    const e = this.ofKind(key, 'hash');
    return new Map(e ? (e.fields as Map<string, T>) : []);
  }

  hashDelete(key: string, field: string): boolean {
    const e = this.ofKind(key, 'hash');
    if (!e) return false;
    const had = e.fields.delete(field);
    if (e.fields.size === 0) this.entries.delete(key);
    return had;
  }

  listPush<T>(key: string, value: T, maxLength: number, ttlMs: number): boolean {
    const e = this.listOf(key);
    e.expiresAt = this.clock.now() + ttlMs;
    if (e.items.length >= maxLength) return false;
    e.items.push(value);
    return true;
  }

  listLength(key: string): number {
    return this.ofKind(key, 'list')?.items.length ?? 0;
  }

  listDrain<T>(key: string): T[] {
    const e = this.ofKind(key, 'list');
    this.entries.delete(key);
    return e ? (e.items as T[]) : [];
  }

  admitSignal(step: SignalStep): SignalStepResult {
    const { receiver, messageId, sequence, candidates, log } = step;
    if (this.hashGet(receiver.roomKey, receiver.peerId) === undefined) return { verdict: 'not-member' };
    const session = this.get<{ socketId?: string | null; droppedSeq?: number | null }>(receiver.sessionKey);
    const online = typeof session?.socketId === 'string';
    if (!online && typeof session?.droppedSeq === 'number') {
      const numbered = this.get<number>(log.seqKey) ?? 0;
      if (numbered - session.droppedSeq >= log.maxEntries) return { verdict: 'buffer-full' };
    }
    if (messageId && this.isRemembered(messageId.key, messageId.id)) {
      this.remember(messageId.key, messageId.id, messageId.ttlMs, messageId.maxMembers);
      return { verdict: 'duplicate' };
    }
    if (sequence.value === undefined) this.expire(sequence.key, sequence.ttlMs);
    else if (!this.raiseTo(sequence.key, sequence.value, sequence.ttlMs))
      return { verdict: 'stale', last: this.get<number>(sequence.key) };
    if (messageId) this.remember(messageId.key, messageId.id, messageId.ttlMs, messageId.maxMembers);
    const fresh: boolean[] = [];
    let entry = log.head;
    if (candidates) {
      let any = false;
      candidates.members.forEach((member, i) => {
        const first =
          member === null || this.remember(candidates.key, member, candidates.ttlMs, candidates.maxMembers);
        fresh.push(first);
        if (!first) return;
        if (log.items) entry += (any ? ',' : '') + log.items[i];
        any = true;
      });
      if (!any) return { verdict: 'duplicate' };
    }
    entry += log.tail;
    const seq = (this.get<number>(log.seqKey) ?? 0) + 1;
    this.set(log.seqKey, seq, log.sequenceTtlMs);
    const list = this.listOf(log.listKey);
    list.items.push(`${seq} ${entry}`);
    if (list.items.length > log.maxEntries) list.items.splice(0, list.items.length - log.maxEntries);
    list.expiresAt = this.clock.now() + log.entryTtlMs;
    if (step.publish && this.publisher)
      this.publisher(step.publish.channel, publishedMessage(step.publish, entry, seq));
    return { verdict: 'accepted', online, seq, fresh };
  }

  /** The list at `key`, created empty (no expiry yet) when there is none. */
  private listOf(key: string) {
    let e = this.ofKind(key, 'list');
    if (!e) {
      e = { kind: 'list', items: [], expiresAt: NEVER };
      this.entries.set(key, e);
    }
    return e;
  }

  private isRemembered(key: string, member: string): boolean {
    return this.ofKind(key, 'digests')?.digests.has(member, this.clock.now()) ?? false;
  }

  size(): number {
    this.sweep();
    return this.entries.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer) this.clock.clearTimeout(this.sweepTimer);
  }
}
