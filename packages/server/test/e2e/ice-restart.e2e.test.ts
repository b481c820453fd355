import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { iceRestartSide } from '@switchboard/protocol';
import {
  closeAll,
  connect,
  join,
  metric,
  once,
  record,
  request,
  sleep,
  startServer,
  type ConnectedClient,
  type TestServer,
} from '../support/harness';

type State = { connectionState: string; iceConnectionState: string };
const FAILED: State = { connectionState: 'failed', iceConnectionState: 'failed' };
const CONNECTED: State = { connectionState: 'connected', iceConnectionState: 'connected' };
const DISCONNECTED: State = { connectionState: 'disconnected', iceConnectionState: 'disconnected' };

function report(from: ConnectedClient, to: ConnectedClient, roomId: string, state: State) {
  return request(from, 'connectionState', { roomId, peerId: to.peerId, ...state });
}

describe('ICE restart orchestration', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      ICE_RESTART_MAX_ATTEMPTS: '2',
      ICE_RESTART_MIN_INTERVAL_MS: '300',
      ICE_RESTART_TIMEOUT_MS: '300',
      DISCONNECTED_TIMEOUT_MS: '200',
    });
  });
  after(() => server.close());

  async function pair(roomId: string) {
    const a = await connect(server.url);
    const b = await connect(server.url);
    await join(a, roomId);
    await join(b, roomId);
    const chosen = iceRestartSide(a.peerId, b.peerId) === a.peerId ? a : b;
    const other = chosen === a ? b : a;
    return { a, b, chosen, other };
  }

  it('/metrics counts orchestrated restarts by outcome: each request, one recovery however many sides report it, one exhaustion', async () => {
    const counts = async () => {
      const of = (outcome: string) => metric(server, `switchboard_ice_restarts_total{outcome="${outcome}"}`);
      return {
        requested: await of('requested'),
        recovered: await of('recovered'),
        exhausted: await of('exhausted'),
      };
    };
    const start = await counts();
    const recovering = await pair('ir-m1');
    const exhausting = await pair('ir-m2');
    try {
      const req = once(recovering.chosen, 'iceRestartRequired');
      await report(recovering.other, recovering.chosen, 'ir-m1', FAILED);
      await req;
      await report(recovering.chosen, recovering.other, 'ir-m1', CONNECTED);
      await report(recovering.other, recovering.chosen, 'ir-m1', CONNECTED);
      const failed = once(exhausting.chosen, 'connectionFailed', 3000);
      await report(exhausting.chosen, exhausting.other, 'ir-m2', FAILED);
      await failed;
      const end = await counts();
      assert.deepEqual(
        {
          requested: end.requested - start.requested,
          recovered: end.recovered - start.recovered,
          exhausted: end.exhausted - start.exhausted,
        },
        { requested: 3, recovered: 1, exhausted: 1 },
      );
    } finally {
      closeAll(recovering.a, recovering.b, exhausting.a, exhausting.b);
    }
  });

  it('a failed report sends iceRestartRequired to the deterministic side only, whichever side reported', async () => {
    const { a, b, chosen, other } = await pair('ir-1');
    try {
      const atOther = record(other, 'iceRestartRequired');
      const req = once(chosen, 'iceRestartRequired');
      // Report from the side that is NOT chosen, to show the choice does not depend on the reporter.
      assert.deepEqual(await report(other, chosen, 'ir-1', FAILED), { ok: true });
      assert.deepEqual(await req, { roomId: 'ir-1', peerId: other.peerId, attempt: 1, maxAttempts: 2 });
      await sleep(50);
      assert.equal(atOther.length, 0);
      await report(chosen, other, 'ir-1', CONNECTED);
    } finally {
      closeAll(a, b);
    }
  });

  it('repeated failures get at most 2 attempts at least the interval apart, then connectionFailed to both', async () => {
    const { a, b, chosen, other } = await pair('ir-2');
    try {
      const restarts: number[] = [];
      const times: number[] = [];
      chosen.on('iceRestartRequired', (e) => {
        restarts.push(e.attempt);
        times.push(Date.now());
      });
      const failedA = once(a, 'connectionFailed', 3000);
      const failedB = once(b, 'connectionFailed', 3000);
      await report(chosen, other, 'ir-2', FAILED);
      await report(other, chosen, 'ir-2', FAILED); // both sides report: still one request
      const [fa, fb] = await Promise.all([failedA, failedB]);
      assert.deepEqual(restarts, [1, 2]);
      assert.ok(times[1]! - times[0]! >= 280, `attempts ${times[1]! - times[0]!} ms apart`);
      assert.deepEqual(fa, { roomId: 'ir-2', peerId: b.peerId, reason: 'ice-restart-exhausted' });
      assert.deepEqual(fb, { roomId: 'ir-2', peerId: a.peerId, reason: 'ice-restart-exhausted' });
    } finally {
      closeAll(a, b);
    }
  });

  it('a connected report resets the count, and disconnected for too long counts as failed', async () => {
    const { a, b, chosen, other } = await pair('ir-3');
    try {
      const attempts = record(chosen, 'iceRestartRequired');
      await report(other, chosen, 'ir-3', FAILED);
      await sleep(50);
      await report(chosen, other, 'ir-3', CONNECTED);
      // A brief disconnection that recovers in time is not acted on.
      await report(other, chosen, 'ir-3', DISCONNECTED);
      await sleep(100);
      await report(other, chosen, 'ir-3', CONNECTED);
      await sleep(250);
      assert.deepEqual(
        attempts.map((e) => e.attempt),
        [1],
      );
      // One that lasts past DISCONNECTED_TIMEOUT_MS is; the count starts at 1 again.
      await report(other, chosen, 'ir-3', DISCONNECTED);
      await sleep(400);
      assert.deepEqual(
        attempts.map((e) => e.attempt),
        [1, 1],
      );
      await report(chosen, other, 'ir-3', CONNECTED);
    } finally {
      closeAll(a, b);
    }
  });
});
