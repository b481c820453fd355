import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SystemClock } from '../../src/common/clock';
import { deferredStore } from '../support/deferred-store';
import {
  candidate,
  closeAll,
  connect,
  cutTransport,
  join,
  record,
  request,
  SDP,
  startServer,
  until,
  untilDropped,
  type ConnectedClient,
  type TestServer,
} from '../support/harness';

// The in-memory store answers synchronously, so the relay never waits; a shared store answers with
// promises. These run the relay's promise paths end to end, with every store answer a turn late.
describe('relay over a store that answers asynchronously', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ RESUME_WINDOW_MS: '3000' }, new SystemClock(), deferredStore);
  });
  after(() => server.close());

  it('an offer and 30 candidates sent back to back arrive in send order', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(a, 'd-order');
      await join(b, 'd-order');
      const got: string[] = [];
      b.on('offer', () => got.push('offer'));
      b.on('iceCandidate', (m) => got.push(`c${m.sequence}`));
      const acks = [request(a, 'offer', { roomId: 'd-order', to: b.peerId, sdp: SDP, sequence: 1 })];
      for (let i = 1; i <= 30; i++) {
        acks.push(
          request(a, 'iceCandidate', {
            roomId: 'd-order',
            to: b.peerId,
            candidate: candidate(9000 + i),
            sequence: i,
          }),
        );
      }
      for (const r of await Promise.all(acks)) assert.deepEqual(r, { ok: true });
      await until(() => got.length === 31, 2000, 'all signals');
      assert.deepEqual(got, ['offer', ...Array.from({ length: 30 }, (_, i) => `c${i + 1}`)]);
    } finally {
      closeAll(a, b);
    }
  });

  it('a signal sent right behind joinRoom, without waiting for its ack, is handled after the join', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(a, 'd-pipeline');
      const offers = record(a, 'offer');
      // The join takes several store round trips, the offer fewer: only the per-socket queue keeps
      // the offer from being judged before b is in the room.
      const [joined, offered] = await Promise.all([
        request(b, 'joinRoom', { roomId: 'd-pipeline' }),
        request(b, 'offer', { roomId: 'd-pipeline', to: a.peerId, sdp: SDP, sequence: 1 }),
      ]);
      assert.equal(joined.ok, true);
      assert.deepEqual(offered, { ok: true });
      await until(() => offers.length === 1, 1000, 'the offer');
    } finally {
      closeAll(a, b);
    }
  });

  it('a repeated messageId is a duplicate, a lower sequence is stale, and neither is delivered', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(a, 'd-idem');
      await join(b, 'd-idem');
      const offers = record(b, 'offer');
      const msg = { roomId: 'd-idem', to: b.peerId, sdp: SDP, sequence: 5, messageId: 'm-1' };
      assert.deepEqual(await request(a, 'offer', msg), { ok: true });
      assert.deepEqual(await request(a, 'offer', msg), { ok: true, duplicate: true });
      const stale = await request(a, 'offer', { ...msg, sequence: 4, messageId: 'm-2' });
      assert.equal(!stale.ok && stale.error.code, 'STALE_SEQUENCE');
      assert.match(!stale.ok ? stale.error.message : '', /not above 5/);
      const c = { roomId: 'd-idem', to: b.peerId, candidate: candidate(9100) };
      assert.deepEqual(await request(a, 'iceCandidate', c), { ok: true });
      assert.deepEqual(await request(a, 'iceCandidate', c), { ok: true, duplicate: true });
      await until(() => offers.length === 1, 1000, 'the offer');
      assert.equal(offers.length, 1);
    } finally {
      closeAll(a, b);
    }
  });

  it('a peer outside the room is refused, and so is a sender that left it', async () => {
    const [a, b, c] = await Promise.all([connect(server.url), connect(server.url), connect(server.url)]);
    try {
      await join(a, 'd-member');
      await join(b, 'd-member');
      await join(c, 'd-other');
      const toC = await request(a, 'offer', { roomId: 'd-member', to: c.peerId, sdp: SDP });
      assert.equal(!toC.ok && toC.error.code, 'PEER_NOT_FOUND');
      assert.deepEqual(await request(a, 'leaveRoom', { roomId: 'd-member' }), { ok: true });
      const afterLeave = await request(a, 'offer', { roomId: 'd-member', to: b.peerId, sdp: SDP });
      assert.equal(!afterLeave.ok && afterLeave.error.code, 'NOT_IN_ROOM');
    } finally {
      closeAll(a, b, c);
    }
  });

  it('signals to a dropped peer are held and delivered in order when it resumes by token', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url);
    let b2: ConnectedClient | undefined;
    try {
      await join(a, 'd-held');
      const { resumeToken } = await join(b, 'd-held');
      cutTransport(b);
      await untilDropped(server, b.peerId);
      for (let i = 1; i <= 5; i++) {
        const res = await request(a, 'iceCandidate', {
          roomId: 'd-held',
          to: b.peerId,
          candidate: candidate(9200 + i),
          sequence: i,
        });
        assert.deepEqual(res, { ok: true, queued: true });
      }
      const got: number[] = [];
      b2 = await connect(server.url, {
        auth: { resumeToken },
        setup: (s) => s.on('iceCandidate', (m) => got.push(m.sequence ?? -1)),
      });
      assert.equal(b2.peerId, b.peerId);
      await until(() => got.length === 5, 2000, 'held signals');
      assert.deepEqual(got, [1, 2, 3, 4, 5]);
    } finally {
      closeAll(a, b, b2);
    }
  });
});
