import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { FakeClock } from '../../src/common/fake-clock';
import { SignalingStateMachineService } from '../../src/webrtc/services/signaling-state-machine.service';
import { MemoryStateStore } from '../../src/webrtc/store/memory-state-store';

const WINDOW_MS = 30_000;
const MAX_IDS = 1024;

describe('SignalingStateMachineService', () => {
  let clock: FakeClock;
  let store: MemoryStateStore;
  let sm: SignalingStateMachineService;

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryStateStore(clock);
    // The values the module wires in production.
    sm = new SignalingStateMachineService(store, { windowMs: WINDOW_MS, maxIdsPerDirection: MAX_IDS });
  });

  afterEach(async () => {
    await store.close();
  });

  describe('messageId de-duplication', () => {
    test('admit() with the same messageId from the same sender within 30 s returns duplicate (once accept)', async () => {
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'm1', undefined), 'accept');
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'm1', undefined), 'duplicate');
      await clock.advance(WINDOW_MS - 1);
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'm1', undefined), 'duplicate');
    });

    test('admit() with the same messageId after the window (30 001 ms) returns accept again', async () => {
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'm1', undefined), 'accept');
      await clock.advance(30_001);
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'm1', undefined), 'accept');
    });

    test('admit() with the same messageId from the other direction is independent', async () => {
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'm1', undefined), 'accept');
      assert.equal(await sm.admit('b', 'a', 'iceCandidate', 'm1', undefined), 'accept');
      // Ids are scoped to sender→receiver, so the same sender to a third peer is independent too.
      assert.equal(await sm.admit('a', 'c', 'iceCandidate', 'm1', undefined), 'accept');
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'm1', undefined), 'duplicate');
      assert.equal(await sm.admit('b', 'a', 'iceCandidate', 'm1', undefined), 'duplicate');
    });

    test('admit() of a retried, already accepted offer returns duplicate rather than stale', async () => {
      // The sender did not get the ack and resends: it must hear "duplicate" (delivered), not an error.
      assert.equal(await sm.admit('a', 'b', 'offer', 'o1', 5), 'accept');
      assert.equal(await sm.admit('a', 'b', 'offer', 'o1', 5), 'duplicate');
    });

    test('admit() without a messageId never returns duplicate', async () => {
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', undefined, undefined), 'accept');
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', undefined, undefined), 'accept');
    });

    test('admit() of 100 000 distinct ids from one sender keeps exactly the newest maxIdsPerDirection (oldest accepted again)', async () => {
      const n = 100_000;
      for (let i = 0; i < n; i++) {
        assert.equal(await sm.admit('a', 'b', 'iceCandidate', `id-${i}`, undefined), 'accept');
      }
      // One key for the direction's id set, however many ids went through.
      assert.equal(await store.size(), 1);
      // Duplicates do not modify the set, so probe the kept boundary first.
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', `id-${n - 1}`, undefined), 'duplicate');
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', `id-${n - MAX_IDS}`, undefined), 'duplicate');
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', `id-${n - MAX_IDS - 1}`, undefined), 'accept');
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'id-0', undefined), 'accept');
    });
  });

  describe('offer/answer sequence', () => {
    test('admit() of an offer whose sequence is not above the last accepted for its direction returns stale', async () => {
      assert.equal(await sm.admit('a', 'b', 'offer', 'o1', 5), 'accept');
      assert.equal(await sm.admit('a', 'b', 'offer', 'o2', 5), 'stale');
      assert.equal(await sm.admit('a', 'b', 'offer', 'o3', 4), 'stale');
      assert.equal(await sm.admit('a', 'b', 'offer', 'o4', 6), 'accept');
      assert.equal(await sm.lastSequence('a', 'b'), 6);
    });

    test('admit() sequences are per direction: each direction has its own counter', async () => {
      assert.equal(await sm.admit('a', 'b', 'offer', 'o1', 10), 'accept');
      assert.equal(await sm.admit('b', 'a', 'offer', 'o2', 1), 'accept');
      assert.equal(await sm.admit('b', 'a', 'answer', 'o3', 1), 'stale');
      assert.equal(await sm.admit('a', 'b', 'offer', 'o4', 2), 'stale');
      assert.equal(await sm.lastSequence('a', 'b'), 10);
      assert.equal(await sm.lastSequence('b', 'a'), 1);
    });

    test('admit() of offers and answers share the direction’s counter', async () => {
      assert.equal(await sm.admit('a', 'b', 'offer', 'o1', 3), 'accept');
      assert.equal(await sm.admit('a', 'b', 'answer', 'a1', 3), 'stale');
      assert.equal(await sm.admit('a', 'b', 'answer', 'a2', 4), 'accept');
      assert.equal(await sm.admit('a', 'b', 'offer', 'o2', 4), 'stale');
    });

    test('admit() of candidates is never stale, whatever their sequence', async () => {
      assert.equal(await sm.admit('a', 'b', 'offer', 'o1', 10), 'accept');
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'c1', 0), 'accept');
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'c2', 0), 'accept');
      assert.equal(await sm.admit('a', 'b', 'iceCandidate', 'c3', 10), 'accept');
      // ...and do not move the offer/answer counter.
      assert.equal(await sm.lastSequence('a', 'b'), 10);
    });

    test('admit() refusing a stale offer does not poison its id: the same message retried is stale again, not duplicate', async () => {
      assert.equal(await sm.admit('a', 'b', 'offer', 'o1', 5), 'accept');
      assert.equal(await sm.admit('a', 'b', 'offer', 'o2', 3), 'stale');
      assert.equal(await sm.admit('a', 'b', 'offer', 'o2', 3), 'stale');
      // The id is still free for a message that is not stale.
      assert.equal(await sm.admit('a', 'b', 'offer', 'o2', 6), 'accept');
    });

    test('lastSequence() of a direction with no accepted offer/answer returns undefined', async () => {
      assert.equal(await sm.lastSequence('a', 'b'), undefined);
      await sm.admit('b', 'a', 'offer', 'o1', 1);
      assert.equal(await sm.lastSequence('a', 'b'), undefined);
    });

    test('admit() of two offers from one sender in flight at once never lowers lastSequence', async () => {
      // Two frames arriving in one socket read start both handlers before either finishes.
      const verdicts = await Promise.all([
        sm.admit('a', 'b', 'offer', 'o2', 2),
        sm.admit('a', 'b', 'offer', 'o1', 1),
      ]);
      assert.deepEqual(verdicts, ['accept', 'stale']);
      assert.equal(await sm.lastSequence('a', 'b'), 2);
    });
  });

  describe('lifetime', () => {
    test('pair contexts expire after 30 s idle: store.size() drops to 0 after advance and sweep', async () => {
      await sm.admit('a', 'b', 'offer', 'o1', 5);
      await sm.admit('b', 'a', 'answer', 'a1', 2);
      await sm.admit('a', 'b', 'iceCandidate', 'c1', undefined);
      await clock.advance(WINDOW_MS - 1);
      // Probe read-only: an admit() here would itself be traffic on the pair.
      assert.ok((await store.size()) > 0);
      assert.equal(await sm.lastSequence('a', 'b'), 5);

      await clock.advance(2);
      store.sweep();
      assert.equal(await store.size(), 0);
      // Forgotten for real: the old sequence no longer applies.
      assert.equal(await sm.lastSequence('a', 'b'), undefined);
      assert.equal(await sm.admit('a', 'b', 'offer', 'o3', 1), 'accept');
    });

    test('forgetPair() removes both directions’ ids and sequences (store.size() 0)', async () => {
      await sm.admit('a', 'b', 'offer', 'o1', 5);
      await sm.admit('b', 'a', 'answer', 'a1', 7);
      await sm.admit('a', 'b', 'iceCandidate', 'c1', undefined);
      // Argument order must not matter.
      await sm.forgetPair('b', 'a');
      assert.equal(await store.size(), 0);
      assert.equal(await sm.lastSequence('a', 'b'), undefined);
      assert.equal(await sm.lastSequence('b', 'a'), undefined);
      assert.equal(await sm.admit('a', 'b', 'offer', 'o1', 1), 'accept');
      assert.equal(await sm.admit('b', 'a', 'answer', 'a1', 1), 'accept');
    });

    test('forgetPair() leaves other pairs alone', async () => {
      await sm.admit('a', 'b', 'offer', 'o1', 5);
      await sm.admit('a', 'c', 'offer', 'o1', 5);
      await sm.forgetPair('a', 'b');
      assert.equal(await sm.admit('a', 'c', 'offer', 'o1', 5), 'duplicate');
      assert.equal(await sm.lastSequence('a', 'c'), 5);
    });

    test('admit() of candidates keeps the pair’s context alive: an older offer 40 s after the last offer is still stale', async () => {
      assert.equal(await sm.admit('a', 'b', 'offer', 'o5', 5), 'accept');
      for (let i = 0; i < 4; i++) {
        await clock.advance(10_000);
        assert.equal(await sm.admit('a', 'b', 'iceCandidate', `c${i}`, undefined), 'accept');
      }
      assert.equal(await sm.admit('a', 'b', 'offer', 'o3', 3), 'stale');
    });
  });
});
