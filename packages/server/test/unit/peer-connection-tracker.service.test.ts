import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { iceRestartSide } from '@switchboard/protocol';
import { FakeClock } from '../../src/common/fake-clock';
import {
  PeerConnectionTrackerService,
  type TrackerNotifier,
} from '../../src/webrtc/services/peer-connection-tracker.service';
import { MemoryStateStore } from '../../src/webrtc/store/memory-state-store';

const ROOM = 'room-1';
// 'peer-a' < 'peer-b', so 'peer-a' is the side that must restart ICE.
const A = 'peer-a';
const B = 'peer-b';

type Call =
  | {
      kind: 'requestRestart';
      roomId: string;
      target: string;
      remote: string;
      attempt: number;
      maxAttempts: number;
    }
  | { kind: 'connectionFailed'; roomId: string; a: string; b: string };

/** The tracker's real output channel, recorded. */
class RecordingNotifier implements TrackerNotifier {
  readonly calls: Call[] = [];
  /** restartRecovered calls, apart: most tests are about requests and failures. */
  readonly recoveries: { a: string; b: string; attempts: number }[] = [];
  requestRestart(roomId: string, target: string, remote: string, attempt: number, maxAttempts: number): void {
    this.calls.push({ kind: 'requestRestart', roomId, target, remote, attempt, maxAttempts });
  }
  connectionFailed(roomId: string, a: string, b: string): void {
    this.calls.push({ kind: 'connectionFailed', roomId, a, b });
  }
  restartRecovered(roomId: string, a: string, b: string, attempts: number): void {
    assert.equal(roomId, ROOM);
    this.recoveries.push({ a, b, attempts });
  }
  get restarts() {
    return this.calls.filter((c) => c.kind === 'requestRestart');
  }
  get failures() {
    return this.calls.filter((c) => c.kind === 'connectionFailed');
  }
}

function restart(attempt: number, roomId = ROOM) {
  return { kind: 'requestRestart', roomId, target: A, remote: B, attempt, maxAttempts: 2 };
}

describe('PeerConnectionTrackerService', () => {
  let clock: FakeClock;
  let store: MemoryStateStore;
  let notifier: RecordingNotifier;
  let tracker: PeerConnectionTrackerService;

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryStateStore(clock);
    notifier = new RecordingNotifier();
    tracker = new PeerConnectionTrackerService(
      store,
      clock,
      {
        maxAttempts: 2,
        minIntervalMs: 5000,
        restartTimeoutMs: 15_000,
        disconnectedTimeoutMs: 5000,
        recordTtlMs: 10 * 60_000,
      },
      notifier,
    );
  });

  afterEach(async () => {
    tracker.close();
    await store.close();
  });

  const failed = (from: string, remote: string) => tracker.report(ROOM, from, remote, 'failed', 'failed');
  const connected = (from: string, remote: string) =>
    tracker.report(ROOM, from, remote, 'connected', 'connected');
  const disconnected = (from: string, remote: string) =>
    tracker.report(ROOM, from, remote, 'disconnected', 'disconnected');

  describe('restart requests', () => {
    test('report(failed) from the larger id requests a restart of iceRestartSide(a, b) with attempt 1', async () => {
      assert.equal(iceRestartSide(B, A), A);
      await failed(B, A);
      assert.deepEqual(notifier.calls, [restart(1)]);
    });

    test('report(failed) from the smaller id requests a restart of the same side, iceRestartSide(a, b)', async () => {
      await failed(A, B);
      assert.deepEqual(notifier.calls, [restart(1)]);
    });

    test('report() with only iceConnectionState failed counts as failed', async () => {
      await tracker.report(ROOM, B, A, 'connecting', 'failed');
      assert.deepEqual(notifier.calls, [restart(1)]);
    });

    test('report(failed) from both sides in the same tick requests a single restart', async () => {
      await Promise.all([failed(A, B), failed(B, A)]);
      assert.deepEqual(notifier.calls, [restart(1)]);
    });

    test('report(failed) again 1 s later requests nothing before 5 s since the first, and attempt 2 at 5 s', async () => {
      await failed(B, A);
      await clock.advance(1000);
      await failed(A, B);
      assert.equal(notifier.calls.length, 1);
      await clock.advance(3999);
      assert.equal(notifier.calls.length, 1);
      await clock.advance(1);
      assert.deepEqual(notifier.calls, [restart(1), restart(2)]);
    });

    test('report(failed) 5 s after the first request requests attempt 2 at once', async () => {
      await failed(B, A);
      await clock.advance(5000);
      await failed(B, A);
      assert.deepEqual(notifier.calls, [restart(1), restart(2)]);
    });

    test('a restart that never reports connected gets the next attempt after restartTimeoutMs', async () => {
      await failed(B, A);
      // What a restarting link reports: neither up nor down.
      await clock.advance(2000);
      await tracker.report(ROOM, A, B, 'connecting', 'checking');
      await tracker.report(ROOM, B, A, 'connecting', 'checking');
      await clock.advance(15_000 - 2000 - 1);
      assert.equal(notifier.calls.length, 1);
      await clock.advance(1);
      assert.deepEqual(notifier.calls, [restart(1), restart(2)]);
    });

    test('pairs in different rooms are tracked separately', async () => {
      await failed(B, A);
      await tracker.report('room-2', B, A, 'failed', 'failed');
      assert.deepEqual(notifier.calls, [restart(1), restart(1, 'room-2')]);
    });
  });

  describe('giving up', () => {
    test('report(failed) after the last attempt sends connectionFailed once, naming both sides', async () => {
      await failed(B, A);
      await clock.advance(5000);
      await failed(B, A);
      await clock.advance(1000);
      await failed(A, B);
      await failed(B, A);
      await clock.advance(60_000);
      await failed(A, B);
      assert.deepEqual(notifier.calls, [
        restart(1),
        restart(2),
        { kind: 'connectionFailed', roomId: ROOM, a: A, b: B },
      ]);
      assert.equal(tracker.pendingTimers, 0);
    });

    test('the restart timeout after the last attempt alone sends connectionFailed once', async () => {
      await failed(B, A);
      await clock.advance(15_000);
      assert.equal(notifier.restarts.length, 2);
      await clock.advance(15_000 - 1);
      assert.equal(notifier.failures.length, 0);
      await clock.advance(1);
      assert.equal(notifier.failures.length, 1);
      await clock.advance(120_000);
      assert.equal(notifier.calls.length, 3);
      assert.equal(tracker.pendingTimers, 0);
    });

    test('report(connected) after connectionFailed lets a later failure request restarts again', async () => {
      await failed(B, A);
      await clock.advance(30_000);
      assert.equal(notifier.failures.length, 1);
      await connected(A, B);
      await failed(B, A);
      assert.deepEqual(notifier.calls.at(-1), restart(1));
    });
  });

  describe('recovery', () => {
    test('report(connected) resets the count: a later failure starts at attempt 1 again', async () => {
      await failed(B, A);
      await clock.advance(5000);
      await failed(B, A);
      await connected(A, B);
      assert.equal(tracker.pendingTimers, 0);
      await clock.advance(5000);
      await failed(B, A);
      assert.deepEqual(notifier.calls, [restart(1), restart(2), restart(1)]);
      assert.deepEqual(notifier.recoveries, [{ a: A, b: B, attempts: 2 }]);
    });

    test('report(connected) after restart requests is one recovery, however many sides report it', async () => {
      await connected(A, B); // connected before any failure: no recovery
      await failed(B, A);
      await connected(B, A);
      await connected(A, B);
      await clock.advance(5000);
      assert.deepEqual(notifier.calls, [restart(1)]);
      assert.deepEqual(notifier.recoveries, [{ a: B, b: A, attempts: 1 }]);
    });

    test('report(failed) right after a recovery waits out the interval since the last request', async () => {
      await failed(B, A);
      // A peer alternating its reports: each failure after a recovery would otherwise ask at once.
      for (let i = 0; i < 100; i++) {
        await connected(A, B);
        await failed(A, B);
      }
      assert.deepEqual(notifier.calls, [restart(1)]);
      await clock.advance(5000);
      assert.deepEqual(notifier.calls, [restart(1), restart(1)]);
    });

    test('report(connected) cancels the pending restart timeout: nothing more is requested', async () => {
      await failed(B, A);
      await connected(B, A);
      await clock.advance(120_000);
      assert.deepEqual(notifier.calls, [restart(1)]);
    });

    test('report(disconnected) for less than disconnectedTimeoutMs then connected requests nothing', async () => {
      await disconnected(A, B);
      await clock.advance(4999);
      await connected(A, B);
      assert.equal(tracker.pendingTimers, 0);
      await clock.advance(120_000);
      assert.deepEqual(notifier.calls, []);
    });

    test('report(disconnected) held for disconnectedTimeoutMs requests a restart (attempt 1)', async () => {
      await disconnected(B, A);
      await clock.advance(4999);
      assert.deepEqual(notifier.calls, []);
      await clock.advance(1);
      assert.deepEqual(notifier.calls, [restart(1)]);
    });

    test('report(disconnected) from both sides restarts once, disconnectedTimeoutMs after the first report', async () => {
      await connected(A, B);
      await connected(B, A);
      await disconnected(A, B);
      await clock.advance(1000);
      // The second report must not push the deadline back.
      await disconnected(B, A);
      await clock.advance(4000);
      assert.deepEqual(notifier.calls, [restart(1)]);
    });

    test('report(disconnected) from one side after both reported connected restarts after disconnectedTimeoutMs', async () => {
      // The other side's older "connected" must not mask the fresher "disconnected".
      await connected(A, B);
      await connected(B, A);
      await disconnected(B, A);
      await clock.advance(5000);
      assert.deepEqual(notifier.calls, [restart(1)]);
    });

    test('report(connected) from the other side while one is disconnected cancels the pending restart', async () => {
      await disconnected(A, B);
      await clock.advance(1000);
      await connected(B, A);
      assert.equal(tracker.pendingTimers, 0);
      await clock.advance(120_000);
      assert.deepEqual(notifier.calls, []);
    });
  });

  describe('teardown', () => {
    test('forgetPeer() cancels the peer’s timers (pendingTimers 0) and deletes its records', async () => {
      await failed(B, A);
      await disconnected(A, 'peer-c');
      assert.equal(tracker.pendingTimers, 2);
      await tracker.forgetPeer(ROOM, A, [B, 'peer-c']);
      assert.equal(tracker.pendingTimers, 0);
      assert.equal(await store.size(), 0);
      await clock.advance(120_000);
      assert.deepEqual(notifier.calls, [restart(1)]);
    });

    test('forgetPeer() leaves the pairs of other peers running', async () => {
      await failed(B, A);
      await disconnected('peer-c', 'peer-d');
      await tracker.forgetPeer(ROOM, A, [B]);
      assert.equal(tracker.pendingTimers, 1);
      await clock.advance(5000);
      assert.equal(notifier.restarts.at(-1)?.target, 'peer-c');
    });

    test('close() cancels all timers, is safe to call twice, and later reports request nothing', async () => {
      await failed(B, A);
      await disconnected('peer-c', 'peer-d');
      tracker.close();
      tracker.close();
      assert.equal(tracker.pendingTimers, 0);
      await failed('peer-e', 'peer-f');
      await disconnected('peer-g', 'peer-h');
      await clock.advance(120_000);
      assert.deepEqual(notifier.calls, [restart(1)]);
      assert.equal(tracker.pendingTimers, 0);
    });
  });
});
