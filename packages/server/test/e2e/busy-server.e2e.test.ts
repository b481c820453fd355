import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  SDP,
  candidate,
  closeAll,
  connect,
  join,
  metric,
  record,
  startServer,
  until,
  type ConnectedClient,
  type TestServer,
} from '../support/harness';

// Issue 13 item 3: when the server is busy, relay traffic that is not call setup is deferred and
// served in turns; nothing deferred is lost, duplicated or reordered.
describe('busy server: call setup first', () => {
  const BULK = 3000;
  let server: TestServer;
  before(async () => {
    // The bulk sender sends far past the default signal burst; the limits are not what is tested.
    server = await startServer({ SIGNAL_RATE_PER_SEC: '1000000', SIGNAL_BURST: '1000000' });
  });
  after(() => server.close());

  async function pair(roomId: string): Promise<[ConnectedClient, ConnectedClient]> {
    const a = await connect(server.url);
    const b = await connect(server.url);
    await join(a, roomId);
    await join(b, roomId);
    return [a, b];
  }

  // Which of the burst's signals the offer overtakes depends on when each frame reaches the server
  // (the client flushes its writes a tick apart), so that is left to the bench (docs/performance.md
  // "New calls first when busy") and to test/unit/fair-scheduler (an urgent event runs before a
  // backlog). Here: that the scheduler engages on real traffic and that what it defers is neither
  // lost, duplicated nor reordered, and that an offer sent meanwhile goes through.
  it('a burst of relay traffic past the call-setup window is deferred, and still arrives whole and in order while an offer sent meanwhile is delivered and acknowledged ok', async () => {
    const [bulkFrom, bulkTo] = await pair('busy-bulk');
    const [caller, callee] = await pair('busy-call');
    // Joins make a sender's events urgent for 5-6 s (call setup); the bulk sender's burst must not be.
    await new Promise((r) => setTimeout(r, 6_100));
    try {
      const relayed = record(bulkTo, 'iceCandidate');
      const offers = record(callee, 'offer');
      const acks: unknown[] = [];
      const deferredBefore = await metric(server, 'switchboard_deferred_events_total');
      for (let i = 0; i < BULK; i++)
        bulkFrom.emit(
          'iceCandidate',
          { roomId: 'busy-bulk', to: bulkTo.peerId, candidate: candidate(10_000 + i), messageId: `b${i}` },
          (res) => acks.push(res),
        );
      let offerAck: unknown;
      caller.emit(
        'offer',
        { roomId: 'busy-call', to: callee.peerId, sdp: SDP, messageId: 'offer-1' },
        (res) => {
          offerAck = res;
        },
      );
      await until(() => relayed.length === BULK && acks.length === BULK && offerAck !== undefined, 20_000);
      assert.deepEqual(offerAck, { ok: true });
      assert.equal(offers.length, 1);
      assert.deepEqual(
        relayed.map((m) => m.messageId),
        Array.from({ length: BULK }, (_, i) => `b${i}`),
        'every bulk candidate, once, in the order sent',
      );
      assert.ok(
        acks.every((a) => (a as { ok?: boolean }).ok === true),
        'every bulk candidate acknowledged ok',
      );
      assert.ok(
        (await metric(server, 'switchboard_deferred_events_total')) > deferredBefore,
        'some were deferred',
      );
      assert.equal(await metric(server, 'switchboard_internal_entries{collection="deferred_events"}'), 0);
    } finally {
      closeAll(bulkFrom, bulkTo, caller, callee);
    }
  });
});

describe('busy server with CALL_SETUP_FIRST=false', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      CALL_SETUP_FIRST: 'false',
      SIGNAL_RATE_PER_SEC: '1000000',
      SIGNAL_BURST: '1000000',
    });
  });
  after(() => server.close());

  it('the same burst is handled first come, first served: nothing is deferred, everything arrives in order', async () => {
    const from = await connect(server.url);
    const to = await connect(server.url);
    try {
      await join(from, 'fifo');
      await join(to, 'fifo');
      // Past the joins' call-setup window, as above: with the scheduler on, this burst would be deferred.
      await new Promise((r) => setTimeout(r, 6_100));
      const relayed = record(to, 'iceCandidate');
      for (let i = 0; i < 3000; i++)
        from.emit(
          'iceCandidate',
          { roomId: 'fifo', to: to.peerId, candidate: candidate(20_000 + i), messageId: `f${i}` },
          () => {},
        );
      await until(() => relayed.length === 3000, 20_000);
      assert.deepEqual(
        relayed.map((m) => m.messageId),
        Array.from({ length: 3000 }, (_, i) => `f${i}`),
      );
      assert.equal(await metric(server, 'switchboard_deferred_events_total'), 0);
    } finally {
      closeAll(from, to);
    }
  });
});
