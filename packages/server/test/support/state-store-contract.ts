import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { SignalStep, StateStore } from '../../src/webrtc/store/state-store';

/** A store to run the contract against, with a way to let its time pass. */
export interface StoreUnderTest {
  store: StateStore;
  /**
   * Lets `ms` pass as the store's TTLs see it: a fake clock moves at once; a store on a real clock
   * (Redis) is waited for, so the time-based tests use TTLs of {@link T} and stay few.
   */
  advance(ms: number): Promise<void>;
  /** Closes the store and removes whatever the test left in it. */
  close(): Promise<void>;
  /**
   * Starts collecting what the store publishes on `channel` (`admitSignal` with `publish`); the
   * function returned answers the messages so far, in order, once there are `count` (or after 2 s).
   */
  subscribe(channel: string): Promise<(count: number) => Promise<string[]>>;
}

/**
 * The TTL unit of the time-based tests, ms. Each checks that a key is still there at most T/2 after
 * the write that should keep it (so a real clock may run up to T/2 late), and that it is gone at
 * least 1.2 T after the last write.
 */
export const T = 100;

/**
 * Registers the behaviour every {@link StateStore} must have (the JSDoc of state-store.ts) as tests
 * under `describe(name)`; each test gets a fresh store from `makeStore`.
 *
 * @example
 * stateStoreContract('MemoryStateStore', async () => {
 *   const clock = new FakeClock();
 *   const store = new MemoryStateStore(clock);
 *   return { store, advance: (ms) => clock.advance(ms), close: async () => store.close() };
 * });
 */
export function stateStoreContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`${name} (StateStore contract)`, () => {
    let under: StoreUnderTest;
    let store: StateStore;
    const advance = (ms: number): Promise<void> => under.advance(ms);

    beforeEach(async () => {
      under = await makeStore();
      store = under.store;
    });

    afterEach(async () => {
      await under.close();
    });

    describe('values', () => {
      test('get() of an absent key returns undefined', async () => {
        assert.equal(await store.get('absent'), undefined);
      });

      test('set() then get() returns equal JSON data of every kind', async () => {
        const values = {
          object: { a: 1, nested: { list: [1, 'two', null, true] } },
          array: [{ x: 1 }, []],
          text: 'ünïcødé \u0000 "quoted"',
          number: -12.5,
          zero: 0,
          flag: false,
          nothing: null,
        };
        for (const [key, value] of Object.entries(values)) await store.set(key, value);
        for (const [key, value] of Object.entries(values)) assert.deepEqual(await store.get(key), value);
      });

      test('compareAndSet() replaces a value only while it still equals the one read', async () => {
        await store.set('cas', { socketId: 'a', n: 1 });
        const read = await store.get<{ socketId: string; n: number }>('cas');
        assert.equal(await store.compareAndSet('cas', read, { socketId: 'b', n: 2 }, 10 * T), true);
        // A second writer that read the same old value loses, and the winner's value stays.
        assert.equal(await store.compareAndSet('cas', read, { socketId: 'c', n: 3 }, 10 * T), false);
        assert.deepEqual(await store.get('cas'), { socketId: 'b', n: 2 });
        assert.equal(await store.compareAndSet('absent', { x: 1 }, { x: 2 }, 10 * T), false);
        assert.equal(await store.get('absent'), undefined);
      });

      test('get() of a value set with a TTL returns it until the TTL elapses, then undefined', async () => {
        await store.set('k', { n: 1 }, T);
        await advance(T / 2);
        assert.deepEqual(await store.get('k'), { n: 1 });
        await advance(0.7 * T);
        assert.equal(await store.get('k'), undefined);
      });

      test('set() without a TTL keeps the value after keys set with one expired', async () => {
        await store.set('forever', 'v');
        await store.set('short', 'v', T);
        await advance(1.2 * T);
        assert.equal(await store.get('short'), undefined);
        assert.equal(await store.get('forever'), 'v');
      });

      test('set() again restarts the TTL from the new write', async () => {
        await store.set('k', 1, T);
        await advance(T / 2);
        await store.set('k', 2, T);
        await advance(T / 2);
        assert.equal(await store.get('k'), 2);
        await advance(0.7 * T);
        assert.equal(await store.get('k'), undefined);
      });

      test('delete() removes every key given, whatever it holds, and ignores absent ones', async () => {
        await store.set('a', 1);
        await store.addToSet('b', 'm', 60_000, 10);
        await store.remember('c', 'm', 60_000, 10);
        await store.hashSetIfCapacity('d', 'f', 1, 10);
        await store.listPush('e', 1, 10, 60_000);
        await store.set('kept', 3);
        await store.delete('a', 'b', 'c', 'd', 'e', 'missing');
        assert.equal(await store.size(), 1);
        assert.equal(await store.get('kept'), 3);
        assert.equal(await store.remember('c', 'm', 60_000, 10), true);
      });

      test('delete() with no keys does nothing', async () => {
        await store.set('a', 1);
        await store.delete();
        assert.equal(await store.get('a'), 1);
      });

      test('size() after TTLs elapse counts 0 even for keys nobody read again', async () => {
        await store.set('a', 1, T);
        await store.addToSet('s', 'm', T, 10);
        await store.remember('r', 'm', T, 10);
        await store.listPush('l', 'x', 10, T);
        assert.equal(await store.size(), 4);
        await advance(1.2 * T);
        assert.equal(await store.size(), 0);
      });

      test('get() of a key that holds another kind rejects instead of returning garbage', async () => {
        await store.listPush('l', 'a', 10, 60_000);
        await assert.rejects(async () => store.get('l'));
      });
    });

    describe('raiseTo() and expire()', () => {
      test('raiseTo() only raises, and refreshes the TTL either way', async () => {
        assert.equal(await store.raiseTo('k', 5, T), true);
        assert.equal(await store.raiseTo('k', 5, T), false);
        assert.equal(await store.raiseTo('k', 3, T), false);
        assert.equal(await store.get('k'), 5);
        await advance(T / 2);
        assert.equal(await store.raiseTo('k', 1, T), false);
        await advance(T / 2);
        assert.equal(await store.get('k'), 5);
        assert.equal(await store.raiseTo('k', 6, T), true);
        assert.equal(await store.get('k'), 6);
        await advance(1.2 * T);
        assert.equal(await store.get('k'), undefined);
        assert.equal(await store.raiseTo('k', 1, T), true);
      });

      test('raiseTo() of a key holding something other than a number replaces it', async () => {
        await store.set('k', '9');
        assert.equal(await store.raiseTo('k', 2, 60_000), true);
        assert.equal(await store.get('k'), 2);
      });

      test('raiseTo() compares large and fractional numbers exactly', async () => {
        assert.equal(await store.raiseTo('k', 2 ** 50 + 0.5, 60_000), true);
        assert.equal(await store.raiseTo('k', 2 ** 50, 60_000), false);
        assert.equal(await store.raiseTo('k', 2 ** 50 + 0.5, 60_000), false);
        assert.equal(await store.raiseTo('k', 2 ** 50 + 0.75, 60_000), true);
        assert.equal(await store.get('k'), 2 ** 50 + 0.75);
      });

      test('expire() moves the TTL of an existing key and ignores an absent one', async () => {
        await store.set('k', 1, T);
        await advance(T / 2);
        await store.expire('k', T);
        await advance(T / 2);
        assert.equal(await store.get('k'), 1);
        await store.expire('absent', T);
        assert.equal(await store.get('absent'), undefined);
        assert.equal(await store.size(), 1);
        await advance(0.7 * T);
        assert.equal(await store.get('k'), undefined);
      });

      test('expire() gives a value set without a TTL, and a hash, a TTL', async () => {
        await store.set('k', 1);
        await store.hashSetIfCapacity('h', 'f', 1, 10);
        await store.expire('k', T);
        await store.expire('h', T);
        await advance(1.2 * T);
        assert.equal(await store.get('k'), undefined);
        assert.deepEqual(await store.hashGetAll('h'), new Map());
        assert.equal(await store.size(), 0);
      });
    });

    describe('sets', () => {
      test('addToSet() of a member already present returns false and restarts its TTL; true once the TTL elapses', async () => {
        assert.equal(await store.addToSet('s', 'm', T, 10), true);
        await advance(T / 2);
        // A retry keeps it remembered: the TTL counts from the latest add.
        assert.equal(await store.addToSet('s', 'm', T, 10), false);
        await advance(T / 2);
        assert.deepEqual(await store.setMembers('s'), ['m']);
        await advance(0.7 * T);
        assert.equal(await store.addToSet('s', 'm', T, 10), true);
      });

      test('addToSet() past maxMembers evicts the oldest member', async () => {
        for (const m of ['m1', 'm2', 'm3']) await store.addToSet('s', m, 60_000, 2);
        assert.deepEqual(await store.setMembers('s'), ['m2', 'm3']);
        // Proof it is really gone, not just hidden: adding it again counts as new.
        assert.equal(await store.addToSet('s', 'm1', 60_000, 2), true);
        assert.deepEqual(await store.setMembers('s'), ['m3', 'm1']);
      });

      test('addToSet() of a member already present does not evict another', async () => {
        await store.addToSet('s', 'm1', 60_000, 2);
        await store.addToSet('s', 'm2', 60_000, 2);
        assert.equal(await store.addToSet('s', 'm1', 60_000, 2), false);
        assert.deepEqual(new Set(await store.setMembers('s')), new Set(['m1', 'm2']));
      });

      test('addToSet() of an expired member re-adds it as the newest, so the cap evicts the next oldest', async () => {
        await store.addToSet('s', 'm1', T, 2);
        await store.addToSet('s', 'm2', 60_000, 2);
        await advance(1.2 * T);
        assert.equal(await store.addToSet('s', 'm1', 60_000, 2), true);
        await store.addToSet('s', 'm3', 60_000, 2);
        assert.deepEqual(await store.setMembers('s'), ['m1', 'm3']);
      });

      test('addToSet() keeps members of any characters apart', async () => {
        const members = [
          'a\u0000b',
          'a\u0000c',
          'ünï cødé',
          ' ',
          '*',
          'candidate:1 1 udp 2122260223 10.0.0.1 9 typ host',
        ];
        for (const m of members) assert.equal(await store.addToSet('s', m, 60_000, 10), true);
        for (const m of members) assert.equal(await store.addToSet('s', m, 60_000, 10), false);
        assert.deepEqual(new Set(await store.setMembers('s')), new Set(members));
      });

      test('removeFromSet() removes one member; of the last one, the set key', async () => {
        await store.addToSet('s', 'a', 60_000, 10);
        await store.addToSet('s', 'b', 60_000, 10);
        await store.removeFromSet('s', 'a');
        assert.deepEqual(await store.setMembers('s'), ['b']);
        await store.removeFromSet('s', 'b');
        assert.deepEqual(await store.setMembers('s'), []);
        assert.equal(await store.size(), 0);
      });

      test('removeFromSet() of an absent member or set does nothing', async () => {
        await store.addToSet('s', 'a', 60_000, 10);
        await store.removeFromSet('s', 'other');
        await store.removeFromSet('absent', 'a');
        assert.deepEqual(await store.setMembers('s'), ['a']);
        assert.equal(await store.size(), 1);
      });

      test('setMembers() leaves out members whose TTL elapsed', async () => {
        await store.addToSet('s', 'short', T, 10);
        await store.addToSet('s', 'long', 60_000, 10);
        await advance(1.2 * T);
        assert.deepEqual(await store.setMembers('s'), ['long']);
      });

      test('setMembers() of an absent set returns []', async () => {
        assert.deepEqual(await store.setMembers('absent'), []);
      });
    });

    describe('remember() and forget()', () => {
      test('remember() returns true once per member, false while remembered, true after the TTL from its last add', async () => {
        assert.equal(await store.remember('r', 'm', T, 10), true);
        await advance(T / 2);
        assert.equal(await store.remember('r', 'm', T, 10), false);
        await advance(T / 2);
        assert.equal(await store.remember('r', 'm', T, 10), false);
        await advance(1.2 * T);
        assert.equal(await store.remember('r', 'm', T, 10), true);
      });

      test('remember() past maxMembers forgets the least recently added', async () => {
        for (const m of ['m1', 'm2', 'm3']) await store.remember('r', m, 60_000, 2);
        assert.equal(await store.remember('r', 'm3', 60_000, 2), false);
        assert.equal(await store.remember('r', 'm1', 60_000, 2), true);
      });

      test('remember() of 1,000 distinct members returns true for each, then false for each', async () => {
        const members = Array.from({ length: 1000 }, (_, i) => `${i.toString(16).padStart(8, '0')}-id`);
        const first = await Promise.all(members.map((m) => store.remember('r', m, 60_000, 1024)));
        assert.deepEqual(
          first,
          members.map(() => true),
        );
        const again = await Promise.all(members.map((m) => store.remember('r', m, 60_000, 1024)));
        assert.deepEqual(
          again,
          members.map(() => false),
        );
      });

      test('forget() of the last remembered member removes the key; of an unknown key or member is a no-op', async () => {
        await store.remember('r', 'm', 60_000, 10);
        await store.forget('r', 'other');
        await store.forget('absent', 'm');
        assert.equal(await store.size(), 1);
        await store.forget('r', 'm');
        assert.equal(await store.size(), 0);
        assert.equal(await store.remember('r', 'm', 60_000, 10), true);
      });

      test('size() after every remembered member expired counts 0', async () => {
        await store.remember('r', 'a', T, 10);
        await store.remember('r', 'b', 2 * T, 10);
        await advance(1.2 * T);
        assert.equal(await store.size(), 1);
        await advance(T);
        assert.equal(await store.size(), 0);
      });
    });

    describe('admitSignal()', () => {
      /** A signal to `b` in `room`: no message id, no sequence, no candidates; a log of 3 entries. */
      const step = (change: Partial<SignalStep> = {}): SignalStep => ({
        receiver: { roomKey: 'room', peerId: 'b', sessionKey: 'session:b' },
        sequence: { key: 'seq', ttlMs: 60_000 },
        log: {
          seqKey: 'dseq',
          listKey: 'dlog',
          maxEntries: 3,
          entryTtlMs: 60_000,
          sequenceTtlMs: 60_000,
          head: '{"e":"offer","p":{}}',
          tail: '',
        },
        ...change,
      });
      const withId = (id: string): Partial<SignalStep> => ({
        messageId: { key: 'ids', id, ttlMs: 60_000, maxMembers: 8 },
      });
      const seen = (members: (string | null)[]): Partial<SignalStep> => ({
        candidates: { key: 'seen', members, ttlMs: 60_000, maxMembers: 8 },
      });
      /** `b` in the room, its session connected (or dropped, at `droppedSeq`). */
      const receiver = async (socketId: string | null, droppedSeq: number | null = null) => {
        await store.hashSetIfCapacity('room', 'b', { peerId: 'b' }, 16);
        await store.set('session:b', { peerId: 'b', socketId, droppedSeq }, 60_000);
      };

      test('admitSignal() to a receiver that is not in the room returns not-member and records nothing', async () => {
        await store.set('session:b', { peerId: 'b', socketId: 's', droppedSeq: null }, 60_000);
        assert.deepEqual(await store.admitSignal(step(withId('m1'))), { verdict: 'not-member' });
        assert.equal(await store.size(), 1);
      });

      test('admitSignal() numbers accepted signals 1, 2, 3, 4 in the log, keeps the newest maxEntries, and says whether the receiver is online', async () => {
        await receiver('s');
        for (const seq of [1, 2, 3])
          assert.deepEqual(await store.admitSignal(step()), {
            verdict: 'accepted',
            online: true,
            seq,
            fresh: [],
          });
        await receiver(null);
        assert.deepEqual(await store.admitSignal(step()), {
          verdict: 'accepted',
          online: false,
          seq: 4,
          fresh: [],
        });
        assert.equal(await store.get('dseq'), 4);
        assert.equal(await store.listLength('dlog'), 3);
      });

      test('admitSignal() with a message id already remembered returns duplicate and logs nothing', async () => {
        await receiver('s');
        assert.equal((await store.admitSignal(step(withId('m1')))).verdict, 'accepted');
        assert.deepEqual(await store.admitSignal(step(withId('m1'))), { verdict: 'duplicate' });
        // The same remembered set as remember()'s.
        await store.remember('ids', 'm2', 60_000, 8);
        assert.deepEqual(await store.admitSignal(step(withId('m2'))), { verdict: 'duplicate' });
        assert.equal(await store.remember('ids', 'm1', 60_000, 8), false);
        assert.equal(await store.get('dseq'), 1);
      });

      test('admitSignal() with a sequence not above the last returns stale with the last and leaves its message id unremembered', async () => {
        await receiver('s');
        const offer = (id: string, value: number) =>
          step({ ...withId(id), sequence: { key: 'seq', value, ttlMs: 60_000 } });
        assert.equal((await store.admitSignal(offer('m1', 5))).verdict, 'accepted');
        assert.deepEqual(await store.admitSignal(offer('m2', 5)), { verdict: 'stale', last: 5 });
        assert.deepEqual(await store.admitSignal(offer('m2', 4)), { verdict: 'stale', last: 5 });
        // A duplicate is reported before staleness.
        assert.deepEqual(await store.admitSignal(offer('m1', 3)), { verdict: 'duplicate' });
        // The refused id left no trace: sent again with a higher sequence, it goes through.
        assert.deepEqual(await store.admitSignal(offer('m2', 6)), {
          verdict: 'accepted',
          online: true,
          seq: 2,
          fresh: [],
        });
        assert.equal(await store.get('seq'), 6);
      });

      test('admitSignal() of candidates returns duplicate when none is new, and which are new otherwise (null always)', async () => {
        await receiver('s');
        assert.deepEqual(await store.admitSignal(step(seen(['c1']))), {
          verdict: 'accepted',
          online: true,
          seq: 1,
          fresh: [true],
        });
        assert.deepEqual(await store.admitSignal(step({ ...withId('m2'), ...seen(['c1']) })), {
          verdict: 'duplicate',
        });
        const batch = step({ ...seen(['c1', 'c2', null]) });
        batch.log = { ...batch.log, head: '[', items: ['"c1"', '"c2"', 'null'], tail: ']' };
        assert.deepEqual(await store.admitSignal(batch), {
          verdict: 'accepted',
          online: true,
          seq: 2,
          fresh: [false, true, true],
        });
        assert.deepEqual(await store.admitSignal(step(seen(['c2', 'c1']))), { verdict: 'duplicate' });
        // The same remembered set as remember()'s.
        assert.equal(await store.remember('seen', 'c2', 60_000, 8), false);
        // The message id of a signal whose candidates were all duplicates is remembered all the same.
        assert.deepEqual(await store.admitSignal(step(withId('m2'))), { verdict: 'duplicate' });
        assert.equal(await store.get('dseq'), 2);
      });

      test('admitSignal() keeps at most candidates.maxMembers per key, dropping the least recently added first', async () => {
        await receiver('s');
        const capped = (member: string): SignalStep =>
          step({ candidates: { key: 'seen', members: [member], ttlMs: 60_000, maxMembers: 3 } });
        for (const c of ['c1', 'c2', 'c3', 'c4'])
          assert.equal((await store.admitSignal(capped(c))).verdict, 'accepted');
        // c1 was dropped to make room for c4; c2-c4 are still remembered.
        assert.equal((await store.admitSignal(capped('c4'))).verdict, 'duplicate');
        assert.equal((await store.admitSignal(capped('c1'))).verdict, 'accepted');
        // Making room for c1 dropped c2, the least recently added (c4 was refreshed by its repeat).
        assert.equal((await store.admitSignal(capped('c2'))).verdict, 'accepted');
        assert.equal((await store.admitSignal(capped('c4'))).verdict, 'duplicate');
      });

      test('admitSignal() keeps message ids and candidates ttlMs after their last write, then they expire', async () => {
        await receiver('s');
        const short = (id: string, member: string): SignalStep =>
          step({
            messageId: { key: 'ids', id, ttlMs: T, maxMembers: 8 },
            candidates: { key: 'seen', members: [member], ttlMs: T, maxMembers: 8 },
          });
        assert.equal((await store.admitSignal(short('m1', 'c1'))).verdict, 'accepted');
        const keys = await store.size();
        await advance(T / 2);
        assert.equal((await store.admitSignal(short('m2', 'c2'))).verdict, 'accepted');
        await advance(T / 2);
        // m1 and c1 expired (T after their write), m2 and c2 not: the keys live on with them.
        assert.equal(await store.size(), keys);
        assert.equal((await store.admitSignal(short('m2', 'c3'))).verdict, 'duplicate');
        assert.equal((await store.admitSignal(short('m3', 'c2'))).verdict, 'duplicate');
        assert.equal((await store.admitSignal(short('m1', 'c1'))).verdict, 'accepted');
        await advance(1.2 * T);
        assert.equal(await store.size(), keys - 2);
      });

      test('admitSignal() with publish publishes each accepted signal once, in order, its payload numbered with seq, and nothing refused', async () => {
        await receiver('s');
        const channel = `published-${randomUUID()}`;
        const messages = await under.subscribe(channel);
        const publish = (event: string) => ({
          channel,
          head: '<',
          tail: '>',
          from: `{"e":"${event}","p":`.length,
        });
        const offer = (id: string, value: number) =>
          step({
            ...withId(id),
            sequence: { key: 'seq', value, ttlMs: 60_000 },
            log: { ...step().log, head: '{"e":"offer","p":{"roomId":"r","sdp":"v=0"}}' },
            publish: publish('offer'),
          });
        assert.equal((await store.admitSignal(offer('m1', 1))).verdict, 'accepted');
        assert.equal((await store.admitSignal(offer('m1', 2))).verdict, 'duplicate');
        assert.equal((await store.admitSignal(offer('m2', 1))).verdict, 'stale');
        const batch = step({ ...seen(['c1', 'c2']), publish: publish('iceCandidates') });
        batch.log = {
          ...batch.log,
          head: '{"e":"iceCandidates","p":{"candidates":[',
          items: ['"c1"', '"c2"'],
          tail: '],"roomId":"r"}}',
        };
        assert.equal((await store.admitSignal(step({ ...seen(['c1']) }))).verdict, 'accepted');
        assert.deepEqual(await store.admitSignal(batch), {
          verdict: 'accepted',
          online: true,
          seq: 3,
          fresh: [false, true],
        });
        assert.equal((await store.admitSignal(batch)).verdict, 'duplicate');
        // An empty payload gets seq as its only member.
        assert.equal((await store.admitSignal(step({ publish: publish('offer') }))).verdict, 'accepted');
        assert.deepEqual(await messages(3), [
          '<{"roomId":"r","sdp":"v=0","seq":1}>',
          '<{"candidates":["c2"],"roomId":"r","seq":3}>',
          '<{"seq":4}>',
        ]);
      });

      test('admitSignal() to a dropped receiver returns accepted offline until its log holds maxEntries since the drop, then buffer-full', async () => {
        await receiver('s');
        assert.equal((await store.admitSignal(step())).verdict, 'accepted');
        await receiver(null, 1);
        for (const seq of [2, 3, 4])
          assert.deepEqual(await store.admitSignal(step()), {
            verdict: 'accepted',
            online: false,
            seq,
            fresh: [],
          });
        assert.deepEqual(await store.admitSignal(step(withId('m9'))), { verdict: 'buffer-full' });
        // Refused before anything was recorded: the id is not remembered.
        assert.equal(await store.remember('ids', 'm9', 60_000, 8), true);
        assert.equal(await store.get('dseq'), 4);
      });
    });

    describe('hashes', () => {
      test('hashSetIfCapacity() returns added, exists (updating the value) and full at maxFields', async () => {
        assert.equal(await store.hashSetIfCapacity('h', 'f1', 'v1', 2), 'added');
        assert.equal(await store.hashSetIfCapacity('h', 'f2', { v: 2 }, 2), 'added');
        assert.equal(await store.hashSetIfCapacity('h', 'f3', 'v3', 2), 'full');
        assert.equal(await store.hashSetIfCapacity('h', 'f1', 'v1b', 2), 'exists');
        assert.deepEqual(
          await store.hashGetAll('h'),
          new Map<string, unknown>([
            ['f1', 'v1b'],
            ['f2', { v: 2 }],
          ]),
        );
      });

      test('hashGet() returns a field, and undefined for an absent field or hash', async () => {
        await store.hashSetIfCapacity('h', 'f', { peerId: 'p' }, 10);
        assert.deepEqual(await store.hashGet('h', 'f'), { peerId: 'p' });
        assert.equal(await store.hashGet('h', 'other'), undefined);
        assert.equal(await store.hashGet('absent', 'f'), undefined);
      });

      test('hashGetAll() of an absent hash returns an empty Map; field names come back as given', async () => {
        assert.deepEqual(await store.hashGetAll('absent'), new Map());
        for (const f of ['__proto__', '10', '2', 'constructor']) await store.hashSetIfCapacity('h', f, f, 10);
        assert.deepEqual([...(await store.hashGetAll<string>('h')).entries()].sort(), [
          ['10', '10'],
          ['2', '2'],
          ['__proto__', '__proto__'],
          ['constructor', 'constructor'],
        ]);
      });

      test('hashDelete() returns whether the field was there and removes the hash once empty', async () => {
        await store.hashSetIfCapacity('h', 'f', 1, 10);
        await store.hashSetIfCapacity('h', 'g', 2, 10);
        assert.equal(await store.hashDelete('h', 'f'), true);
        assert.equal(await store.hashDelete('h', 'f'), false);
        assert.equal(await store.hashDelete('absent', 'f'), false);
        assert.deepEqual(await store.hashGetAll('h'), new Map([['g', 2]]));
        assert.equal(await store.hashDelete('h', 'g'), true);
        assert.equal(await store.size(), 0);
      });
    });

    describe('lists', () => {
      test('listPush() past maxLength returns false and listDrain() returns the accepted items in order', async () => {
        assert.equal(await store.listPush('l', 'a', 3, 60_000), true);
        assert.equal(await store.listPush('l', { b: 2 }, 3, 60_000), true);
        assert.equal(await store.listPush('l', 'c', 3, 60_000), true);
        assert.equal(await store.listPush('l', 'd', 3, 60_000), false);
        assert.equal(await store.listLength('l'), 3);
        assert.deepEqual(await store.listDrain('l'), ['a', { b: 2 }, 'c']);
      });

      test('listDrain() deletes the list, so a second drain returns []', async () => {
        await store.listPush('l', 'a', 3, 60_000);
        await store.listDrain('l');
        assert.deepEqual(await store.listDrain('l'), []);
        assert.equal(await store.listLength('l'), 0);
        assert.equal(await store.size(), 0);
      });

      test('listPush() refreshes the TTL so the list lives ttlMs after the last push', async () => {
        await store.listPush('l', 'a', 10, T);
        await advance(T / 2);
        await store.listPush('l', 'b', 10, T);
        await advance(T / 2);
        assert.deepEqual(await store.listDrain('l'), ['a', 'b']);
        await store.listPush('l', 'c', 10, T);
        await advance(1.2 * T);
        assert.deepEqual(await store.listDrain('l'), []);
      });

      test('listPush() refused at maxLength still refreshes the TTL', async () => {
        await store.listPush('l', 'a', 1, T);
        await advance(T / 2);
        assert.equal(await store.listPush('l', 'b', 1, T), false);
        await advance(T / 2);
        assert.equal(await store.listLength('l'), 1);
      });
    });

    test('close() twice is harmless', async () => {
      await store.close();
      await store.close();
    });
  });
}
