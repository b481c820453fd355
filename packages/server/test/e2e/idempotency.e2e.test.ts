import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  closeAll,
  connect,
  join,
  once,
  rawEmit,
  record,
  request,
  SDP,
  sleep,
  startServer,
  type TestServer,
} from '../support/harness';

describe('idempotency', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('the same messageId sent twice is forwarded once and the retry is acked duplicate', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(a, 'idem-1');
      await join(b, 'idem-1');
      const offers = record(b, 'offer');
      const msg = { roomId: 'idem-1', to: b.peerId, sdp: SDP, sequence: 1, messageId: 'offer-1' };
      assert.deepEqual(await request(a, 'offer', msg), { ok: true });
      assert.deepEqual(await request(a, 'offer', msg), { ok: true, duplicate: true });
      await sleep(50);
      assert.equal(offers.length, 1);
      assert.equal(offers[0]?.messageId, 'offer-1');
    } finally {
      closeAll(a, b);
    }
  });

  it('an offer whose sequence is not above the last accepted one is refused STALE_SEQUENCE and not delivered', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(a, 'idem-2');
      await join(b, 'idem-2');
      const offers = record(b, 'offer');
      assert.equal(
        (await request(a, 'offer', { roomId: 'idem-2', to: b.peerId, sdp: SDP, sequence: 5 })).ok,
        true,
      );
      const stale = await request(a, 'offer', { roomId: 'idem-2', to: b.peerId, sdp: SDP, sequence: 5 });
      assert.equal(!stale.ok && stale.error.code, 'STALE_SEQUENCE');
      // Offers and answers share the direction's counter.
      const staleAnswer = await request(a, 'answer', {
        roomId: 'idem-2',
        to: b.peerId,
        sdp: SDP,
        sequence: 3,
      });
      assert.equal(!staleAnswer.ok && staleAnswer.error.code, 'STALE_SEQUENCE');
      // The other direction has its own counter.
      assert.equal(
        (await request(b, 'answer', { roomId: 'idem-2', to: a.peerId, sdp: SDP, sequence: 1 })).ok,
        true,
      );
      assert.equal(
        (await request(a, 'offer', { roomId: 'idem-2', to: b.peerId, sdp: SDP, sequence: 6 })).ok,
        true,
      );
      await sleep(50);
      assert.deepEqual(
        offers.map((o) => o.sequence),
        [5, 6],
      );
    } finally {
      closeAll(a, b);
    }
  });

  it('a signal with a messageId but no ack callback is answered with a signalAck event', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(a, 'idem-3');
      await join(b, 'idem-3');
      const acks = record(a, 'signalAck');
      const offer = once(b, 'offer');
      rawEmit(a, 'offer', { roomId: 'idem-3', to: b.peerId, sdp: SDP, messageId: 'no-ack-1' });
      await offer;
      rawEmit(a, 'offer', { roomId: 'idem-3', to: b.peerId, sdp: SDP, messageId: 'no-ack-1' });
      rawEmit(a, 'offer', { roomId: 'idem-3', to: 'nobody', sdp: SDP, messageId: 'no-ack-2' });
      await sleep(100);
      assert.deepEqual(acks, [
        { messageId: 'no-ack-1', ok: true },
        { messageId: 'no-ack-1', ok: true, duplicate: true },
        {
          messageId: 'no-ack-2',
          ok: false,
          error: { code: 'PEER_NOT_FOUND', message: 'peer nobody is not in room idem-3' },
        },
      ]);
    } finally {
      closeAll(a, b);
    }
  });
});
