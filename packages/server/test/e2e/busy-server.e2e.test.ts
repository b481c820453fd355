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

// Issue 13 item 3: when the server is busy, a new call's offer and answer are handled before the
// relay traffic that arrived ahead of them, and that traffic still arrives, all of it, in order.
describe('busy server: new calls first', () => {
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

  it('an offer sent right after a burst of relay traffic reaches its callee before most of the burst, and the whole burst arrives in order', async () => {
    const [bulkFrom, bulkTo] = await pair('busy-bulk');
    const [caller, callee] = await pair('busy-call');
    // Joins make a sender's events urgent for a while (call setup); the bulk sender's burst must not be.
    await new Promise((r) => setTimeout(r, 5_100));
    try {
      const relayed = record(bulkTo, 'iceCandidate');
      let relayedAtOffer = -1;
      callee.on('offer', () => {
        relayedAtOffer = relayed.length;
      });
      let acked = 0;
      const deferredBefore = await metric(server, 'switchboard_deferred_events_total');
      // One synchronous burst, then the offer on another connection: both are read by the server in
      // the same few turns of its event loop.
      for (let i = 0; i < BULK; i++)
        bulkFrom.emit(
          'iceCandidate',
          { roomId: 'busy-bulk', to: bulkTo.peerId, candidate: candidate(10_000 + i), messageId: `b${i}` },
          () => acked++,
        );
      caller.emit(
        'offer',
        { roomId: 'busy-call', to: callee.peerId, sdp: SDP, messageId: 'offer-1' },
        () => {},
      );
      await until(() => relayed.length === BULK && acked === BULK, 20_000);
      assert.ok(relayedAtOffer >= 0, 'the offer arrived');
      // Without the scheduler the server handles every frame it has read, in order, before the offer's:
      // what it read before the offer arrived (340-360 frames seen); with it, the burst waits its turn
      // after the first few (0-120 seen).
      assert.ok(
        relayedAtOffer < 240,
        `the offer reached the callee after ${relayedAtOffer} of ${BULK} bulk candidates`,
      );
      assert.deepEqual(
        relayed.map((m) => m.messageId),
        Array.from({ length: BULK }, (_, i) => `b${i}`),
        'every bulk candidate, in the order sent',
      );
      assert.ok((await metric(server, 'switchboard_deferred_events_total')) > deferredBefore);
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
      await new Promise((r) => setTimeout(r, 5_100));
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
