import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { IceCandidateInit } from '@switchboard/protocol';
import { FakeClock } from '../../src/common/fake-clock';
import {
  IceCandidateBufferService,
  type HeldSignal,
} from '../../src/webrtc/services/ice-candidate-buffer.service';
import { MemoryStateStore } from '../../src/webrtc/store/memory-state-store';
import { deferredStore } from '../support/deferred-store';

const HOLD_TTL_MS = 30_000;
const SEEN_TTL_MS = 120_000;
const MAX_PER_PAIR = 3;
const OPTIONS = {
  maxPerPair: MAX_PER_PAIR,
  holdTtlMs: HOLD_TTL_MS,
  maxSeenPerPair: 512,
  seenTtlMs: SEEN_TTL_MS,
};

const LINE =
  'candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0';

function cand(usernameFragment: string, candidate = LINE): IceCandidateInit {
  return { candidate, sdpMid: '0', sdpMLineIndex: 0, usernameFragment };
}

function signal(event: HeldSignal['event'], n: number): HeldSignal {
  return { event, payload: { n } };
}

describe('IceCandidateBufferService', () => {
  let clock: FakeClock;
  let store: MemoryStateStore;
  let buffer: IceCandidateBufferService;

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryStateStore(clock);
    buffer = new IceCandidateBufferService(store, OPTIONS);
  });

  afterEach(async () => {
    await store.close();
  });

  describe('isFirstSighting()', () => {
    test('isFirstSighting() of the same candidate line and usernameFragment for the same pair is true once', async () => {
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), true);
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), false);
      // A structurally equal copy, as a retry would deserialize it, is still the same candidate.
      assert.equal(await buffer.isFirstSighting('a', 'b', { ...cand('uf1') }), false);
    });

    test('isFirstSighting() of the same line with a different usernameFragment (new ICE generation) is true again', async () => {
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), true);
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf2')), true);
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf2')), false);
    });

    test('isFirstSighting() of a different candidate line in the same generation is true', async () => {
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), true);
      const host = 'candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host generation 0';
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1', host)), true);
    });

    test('isFirstSighting() in the other direction is independent', async () => {
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), true);
      assert.equal(await buffer.isFirstSighting('b', 'a', cand('uf1')), true);
      assert.equal(await buffer.isFirstSighting('b', 'a', cand('uf1')), false);
    });

    test('isFirstSighting() of null (end-of-candidates) is always true', async () => {
      for (let i = 0; i < 3; i++) assert.equal(await buffer.isFirstSighting('a', 'b', null), true);
      assert.equal(await store.size(), 0);
    });

    test('isFirstSighting() of a candidate last seen more than seenTtlMs ago is true again', async () => {
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), true);
      await clock.advance(SEEN_TTL_MS - 1);
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), false);
      // That repeat counts as a sighting: the window runs from it.
      await clock.advance(SEEN_TTL_MS - 1);
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), false);
      await clock.advance(SEEN_TTL_MS);
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), true);
    });
  });

  describe('firstSightings()', () => {
    const batch = (): (IceCandidateInit | null)[] => [
      cand('uf1', `${LINE} 1`),
      cand('uf1', `${LINE} 2`),
      cand('uf1', `${LINE} 1`), // repeated within the batch
      null,
      cand('uf1', `${LINE} 3`),
      null,
    ];
    /** The same batch once all of it was seen: only the ends of candidates pass. */
    const SEEN_BEFORE = [false, false, false, true, false, true];

    test('firstSightings() answers each candidate of a batch in order: repeats within it and earlier sightings are false, null is true', async () => {
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1', `${LINE} 3`)), true);
      assert.deepEqual(await buffer.firstSightings('a', 'b', batch()), [
        true,
        true,
        false,
        true,
        false,
        true,
      ]);
      assert.deepEqual(await buffer.firstSightings('a', 'b', batch()), SEEN_BEFORE);
      // Both ways of asking share one record per direction.
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1', `${LINE} 2`)), false);
      assert.deepEqual(await buffer.firstSightings('b', 'a', batch()), [true, true, false, true, true, true]);
    });

    test('firstSightings() over a store that answers with promises answers the same, in order', async () => {
      const remote = new IceCandidateBufferService(deferredStore(store), OPTIONS);
      const first = remote.firstSightings('a', 'b', batch());
      assert.ok(first instanceof Promise);
      assert.deepEqual(await first, [true, true, false, true, true, true]);
      assert.deepEqual(await remote.firstSightings('a', 'b', batch()), SEEN_BEFORE);
    });
  });

  describe('hold() / drain()', () => {
    test('hold() then drain() returns each sender’s signals in arrival order', async () => {
      await buffer.hold('a', 'b', signal('offer', 1));
      await buffer.hold('c', 'b', signal('answer', 10));
      await buffer.hold('a', 'b', signal('iceCandidate', 2));
      await buffer.hold('c', 'b', signal('iceCandidate', 11));
      await buffer.hold('a', 'b', signal('iceCandidate', 3));

      // Only the order within a sender is promised, not the order of senders.
      const drained = (await buffer.drain('b')).sort((x, y) => x.from.localeCompare(y.from));
      assert.deepEqual(drained, [
        { from: 'a', signals: [signal('offer', 1), signal('iceCandidate', 2), signal('iceCandidate', 3)] },
        { from: 'c', signals: [signal('answer', 10), signal('iceCandidate', 11)] },
      ]);
    });

    test('drain() removes what it returns: a second drain() returns [] and store.size() is 0', async () => {
      await buffer.hold('a', 'b', signal('offer', 1));
      await buffer.drain('b');
      assert.deepEqual(await buffer.drain('b'), []);
      assert.equal(await store.size(), 0);
    });

    test('drain() of one peer leaves signals held for another peer', async () => {
      await buffer.hold('a', 'b', signal('offer', 1));
      await buffer.hold('a', 'c', signal('offer', 2));
      await buffer.drain('b');
      assert.deepEqual(await buffer.drain('c'), [{ from: 'a', signals: [signal('offer', 2)] }]);
    });

    test('hold() past maxPerPair returns false and the refused signal is never drained', async () => {
      for (let n = 1; n <= MAX_PER_PAIR; n++)
        assert.equal(await buffer.hold('a', 'b', signal('iceCandidate', n)), true);
      assert.equal(await buffer.hold('a', 'b', signal('iceCandidate', 99)), false);
      // The cap is per sender→receiver pair, not per receiver.
      assert.equal(await buffer.hold('c', 'b', signal('iceCandidate', 1)), true);

      const fromA = (await buffer.drain('b')).find((g) => g.from === 'a');
      assert.deepEqual(
        fromA?.signals.map((s) => s.payload.n),
        [1, 2, 3],
      );
    });

    test('hasRoom() is true until the pair holds maxPerPair signals, and again after drain()', async () => {
      for (let n = 1; n <= MAX_PER_PAIR; n++) {
        assert.equal(await buffer.hasRoom('a', 'b'), true);
        await buffer.hold('a', 'b', signal('iceCandidate', n));
      }
      assert.equal(await buffer.hasRoom('a', 'b'), false);
      // Per pair: another sender to the same receiver still has room.
      assert.equal(await buffer.hasRoom('c', 'b'), true);
      await buffer.drain('b');
      assert.equal(await buffer.hasRoom('a', 'b'), true);
    });

    test('held signals expire holdTtlMs after the last hold: drain() returns [] and store.size() is 0', async () => {
      await buffer.hold('a', 'b', signal('offer', 1));
      await clock.advance(HOLD_TTL_MS - 1);
      await buffer.hold('c', 'b', signal('offer', 2));
      await clock.advance(HOLD_TTL_MS);
      assert.deepEqual(await buffer.drain('b'), []);
      assert.equal(await store.size(), 0);
    });

    test('drain() returns signals held within holdTtlMs of the sender’s last hold even when its first hold is older', async () => {
      await buffer.hold('a', 'b', signal('offer', 1));
      await clock.advance(20_000);
      await buffer.hold('a', 'b', signal('iceCandidate', 2));
      // 35 s after the first hold, 15 s after the last: within the window for the list.
      await clock.advance(15_000);
      assert.deepEqual(await buffer.drain('b'), [
        { from: 'a', signals: [signal('offer', 1), signal('iceCandidate', 2)] },
      ]);
    });
  });

  describe('cleanup', () => {
    test('discardHeldFor() drops everything held for the peer and nothing held for others', async () => {
      await buffer.hold('a', 'b', signal('offer', 1));
      await buffer.hold('c', 'b', signal('offer', 2));
      await buffer.hold('a', 'c', signal('offer', 3));
      await buffer.discardHeldFor('b');
      assert.deepEqual(await buffer.drain('b'), []);
      assert.deepEqual(await buffer.drain('c'), [{ from: 'a', signals: [signal('offer', 3)] }]);
      assert.equal(await store.size(), 0);
    });

    test('forgetPair() clears both directions’ sightings and held signals (store.size() 0)', async () => {
      await buffer.isFirstSighting('a', 'b', cand('uf1'));
      await buffer.isFirstSighting('b', 'a', cand('uf2'));
      await buffer.hold('a', 'b', signal('offer', 1));
      await buffer.hold('b', 'a', signal('answer', 2));
      await buffer.forgetPair('b', 'a');
      assert.equal(await store.size(), 0);
      assert.deepEqual(await buffer.drain('a'), []);
      assert.deepEqual(await buffer.drain('b'), []);
      assert.equal(await buffer.isFirstSighting('a', 'b', cand('uf1')), true);
      assert.equal(await buffer.isFirstSighting('b', 'a', cand('uf2')), true);
    });

    test('forgetPair() keeps what a third peer holds for either of them', async () => {
      await buffer.hold('a', 'b', signal('offer', 1));
      await buffer.hold('c', 'b', signal('offer', 2));
      await buffer.forgetPair('a', 'b');
      assert.deepEqual(await buffer.drain('b'), [{ from: 'c', signals: [signal('offer', 2)] }]);
    });
  });
});
