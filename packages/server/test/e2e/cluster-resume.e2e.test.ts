import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  candidate,
  closeAll,
  connect,
  cutTransport,
  join,
  once,
  record,
  request,
  SDP,
  sleep,
  startCluster,
  untilDropped,
  type ConnectedClient,
  type TestCluster,
} from '../support/harness';

// Sessions, resume tokens and held signals live in Redis: a peer whose connection to one instance
// drops comes back on another (as it does behind a load balancer) and is the same peer there.
describe('resume across two instances', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster(2, { RESUME_WINDOW_MS: '1500' });
  });
  after(() => cluster.close());

  it('a peer dropped on B that reconnects to A with its resume token keeps its peerId and rooms; no peerLeft', async () => {
    const [A, B] = cluster.nodes;
    const a = await connect(A!.url);
    const b = await connect(B!.url);
    let back: ConnectedClient | undefined;
    try {
      await join(a, 'move-1');
      const { resumeToken } = await join(b, 'move-1');
      const left = record(a, 'peerLeft');
      cutTransport(b);
      await untilDropped(B!, b.peerId);
      back = await connect(A!.url, { auth: { resumeToken } });
      const { resumed } = await back.resumeOutcome;
      assert.equal(resumed?.peerId, b.peerId);
      assert.equal(back.peerId, b.peerId);
      assert.deepEqual(
        resumed?.rooms.map((r) => [r.roomId, r.peers.map((p) => p.peerId)]),
        [['move-1', [a.peerId]]],
      );
      // Addressable under its old id on its new instance, and able to send.
      const offer = once(back, 'offer');
      assert.deepEqual(await request(a, 'offer', { roomId: 'move-1', to: b.peerId, sdp: SDP }), { ok: true });
      assert.equal((await offer).from, a.peerId);
      const answer = once(a, 'answer');
      assert.deepEqual(await request(back, 'answer', { roomId: 'move-1', to: a.peerId, sdp: SDP }), {
        ok: true,
      });
      assert.equal((await answer).from, b.peerId);
      await sleep(1800); // past B's resume window: a late peerLeft from B's timer would show now
      assert.deepEqual(left, []);
    } finally {
      closeAll(a, b, back);
    }
  });

  it('signals sent from both instances while the peer is away arrive after resumed on the other one, in order', async () => {
    const [A, B] = cluster.nodes;
    const onA = await connect(A!.url);
    const onB = await connect(B!.url);
    const away = await connect(B!.url);
    let back: ConnectedClient | undefined;
    try {
      await join(onA, 'held-1');
      await join(onB, 'held-1');
      const { resumeToken } = await join(away, 'held-1');
      cutTransport(away);
      await untilDropped(B!, away.peerId);
      for (let i = 1; i <= 3; i++) {
        assert.deepEqual(
          await request(onA, 'offer', {
            roomId: 'held-1',
            to: away.peerId,
            sdp: SDP,
            sequence: i,
            messageId: `a${i}`,
          }),
          { ok: true, queued: true },
        );
        assert.deepEqual(
          await request(onB, 'iceCandidate', {
            roomId: 'held-1',
            to: away.peerId,
            candidate: candidate(9000 + i),
            messageId: `b${i}`,
          }),
          { ok: true, queued: true },
        );
      }
      const events: string[] = [];
      back = await connect(A!.url, {
        auth: { resumeToken },
        setup: (socket) =>
          socket.onAny((event: string, payload: { messageId?: string }) => {
            if (event !== 'session')
              events.push(payload?.messageId ? `${event}:${payload.messageId}` : event);
          }),
      });
      assert.equal(back.peerId, away.peerId);
      await sleep(200);
      assert.equal(events[0], 'resumed');
      const held = events.slice(1);
      assert.equal(held.length, 6);
      assert.deepEqual(
        held.filter((e) => e.startsWith('offer')),
        ['offer:a1', 'offer:a2', 'offer:a3'],
      );
      assert.deepEqual(
        held.filter((e) => e.startsWith('iceCandidate')),
        ['iceCandidate:b1', 'iceCandidate:b2', 'iceCandidate:b3'],
      );
      // Nothing is held any more: the next signal goes straight through.
      const next = once(back, 'offer');
      assert.deepEqual(
        await request(onA, 'offer', {
          roomId: 'held-1',
          to: away.peerId,
          sdp: SDP,
          sequence: 4,
          messageId: 'a4',
        }),
        { ok: true },
      );
      assert.equal((await next).messageId, 'a4');
    } finally {
      closeAll(onA, onB, away, back);
    }
  });

  it("a resume on A while the peer's connection to B is still open closes that one with SESSION_REPLACED", async () => {
    const [A, B] = cluster.nodes;
    const a = await connect(A!.url);
    const old = await connect(B!.url);
    let next: ConnectedClient | undefined;
    try {
      await join(a, 'takeover-1');
      const { resumeToken } = await join(old, 'takeover-1');
      const reason = once(old, 'disconnectReason');
      const gone = new Promise<string>((resolve) => old.once('disconnect', resolve));
      const left = record(a, 'peerLeft');
      next = await connect(A!.url, { auth: { resumeToken } });
      assert.equal(next.peerId, old.peerId);
      assert.equal((await reason).code, 'SESSION_REPLACED');
      assert.equal(await gone, 'io server disconnect');
      // The peer lives on, on A.
      const offer = once(next, 'offer');
      assert.deepEqual(await request(a, 'offer', { roomId: 'takeover-1', to: old.peerId, sdp: SDP }), {
        ok: true,
      });
      await offer;
      await sleep(100);
      assert.deepEqual(left, []);
    } finally {
      closeAll(a, old, next);
    }
  });

  it('a peer dropped on B that never returns leaves with peerLeft timeout after the window (B alive)', async () => {
    const [A, B] = cluster.nodes;
    const a = await connect(A!.url);
    const b = await connect(B!.url);
    try {
      await join(a, 'gone-1');
      await join(b, 'gone-1');
      const left = once(a, 'peerLeft', 4000);
      const cutAt = Date.now();
      cutTransport(b);
      assert.deepEqual(await left, { roomId: 'gone-1', peerId: b.peerId, reason: 'timeout' });
      assert.ok(Date.now() - cutAt >= 1400, 'not before the window');
    } finally {
      closeAll(a, b);
    }
  });

  it('one resume token presented to A and B at the same moment resumes the peer on exactly one of them', async () => {
    const [A, B] = cluster.nodes;
    for (let round = 0; round < 5; round++) {
      const a = await connect(A!.url);
      const b = await connect(B!.url);
      const clients: ConnectedClient[] = [];
      try {
        await join(a, `race-${round}`);
        const { resumeToken } = await join(b, `race-${round}`);
        cutTransport(b);
        await untilDropped(B!, b.peerId);
        const both = await Promise.all([A!, B!].map((node) => connect(node.url, { auth: { resumeToken } })));
        clients.push(...both);
        const outcomes = await Promise.all(both.map((c) => c.resumeOutcome));
        assert.equal(outcomes.filter((o) => o.resumed?.peerId === b.peerId).length, 1, `round ${round}`);
        assert.equal(outcomes.filter((o) => o.failed?.error.code === 'RESUME_REJECTED').length, 1);
      } finally {
        closeAll(a, b, ...clients);
      }
    }
  });
});
