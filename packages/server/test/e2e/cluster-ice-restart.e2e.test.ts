import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { iceRestartSide } from '@switchboard/protocol';
import {
  closeAll,
  connect,
  join,
  once,
  record,
  request,
  sleep,
  startCluster,
  type ConnectedClient,
  type TestCluster,
} from '../support/harness';

const FAILED = { connectionState: 'failed', iceConnectionState: 'failed' } as const;
const CONNECTED = { connectionState: 'connected', iceConnectionState: 'connected' } as const;

// The pair's restart record lives in Redis and every step is a compare-and-set: reports of one
// pair reaching two instances at once still make one request per attempt, spaced by the interval.
describe('ICE restart orchestration across two instances', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster(2, {
      ICE_RESTART_MAX_ATTEMPTS: '2',
      ICE_RESTART_MIN_INTERVAL_MS: '400',
      ICE_RESTART_TIMEOUT_MS: '400',
      STATE_REPORT_BURST: '200',
    });
  });
  after(() => cluster.close());

  /** Peers on A and on B in `roomId`; `chosen` is the side asked to restart. */
  async function pair(roomId: string) {
    const [A, B] = cluster.nodes;
    const a = await connect(A!.url);
    const b = await connect(B!.url);
    await join(a, roomId);
    await join(b, roomId);
    const chosen = iceRestartSide(a.peerId, b.peerId) === a.peerId ? a : b;
    return { a, b, chosen, other: chosen === a ? b : a };
  }

  const report = (from: ConnectedClient, to: ConnectedClient, roomId: string, state: object) =>
    request(from, 'connectionState', { roomId, peerId: to.peerId, ...state });

  it('failed reports from both sides at once, on both instances: one side asked, attempts 1 and 2 at least the interval apart, then connectionFailed to both', async () => {
    const { a, b, chosen, other } = await pair('xir-1');
    try {
      const asked: { attempt: number; at: number }[] = [];
      chosen.on('iceRestartRequired', (e) => asked.push({ attempt: e.attempt, at: Date.now() }));
      const atOther = record(other, 'iceRestartRequired');
      const failedA = once(a, 'connectionFailed', 5000);
      const failedB = once(b, 'connectionFailed', 5000);
      // Ten reports from each side, all in flight together, through both instances.
      await Promise.all(
        Array.from({ length: 10 }, () => [
          report(a, b, 'xir-1', FAILED),
          report(b, a, 'xir-1', FAILED),
        ]).flat(),
      );
      const [fa, fb] = await Promise.all([failedA, failedB]);
      assert.deepEqual(fa, { roomId: 'xir-1', peerId: b.peerId, reason: 'ice-restart-exhausted' });
      assert.deepEqual(fb, { roomId: 'xir-1', peerId: a.peerId, reason: 'ice-restart-exhausted' });
      await sleep(300);
      assert.deepEqual(
        asked.map((x) => x.attempt),
        [1, 2],
      );
      assert.ok(asked[1]!.at - asked[0]!.at >= 380, `attempts ${asked[1]!.at - asked[0]!.at} ms apart`);
      assert.equal(atOther.length, 0);
    } finally {
      closeAll(a, b);
    }
  });

  it('a failure reported on B within the interval after a request made through A waits for the interval', async () => {
    const { a, b, chosen, other } = await pair('xir-2');
    try {
      const asked: number[] = [];
      chosen.on('iceRestartRequired', () => asked.push(Date.now()));
      await report(a, b, 'xir-2', FAILED);
      await sleep(50);
      await report(a, b, 'xir-2', CONNECTED);
      await report(b, a, 'xir-2', FAILED); // through the other instance, 50 ms after the first request
      await sleep(700);
      assert.equal(asked.length, 2);
      assert.ok(asked[1]! - asked[0]! >= 380, `second request ${asked[1]! - asked[0]!} ms after the first`);
      await report(chosen, other, 'xir-2', CONNECTED);
    } finally {
      closeAll(a, b);
    }
  });
});
