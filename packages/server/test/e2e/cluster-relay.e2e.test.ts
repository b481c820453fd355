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

// Relay between peers on two instances of one Redis; the sender's pair state (message ids, sequences,
// candidates seen) lives in Redis, so it holds when the sender itself moves to the other instance.
describe('relay across two instances', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster(2);
  });
  after(() => cluster.close());

  /** A sender on A and a receiver on B in `roomId`; the sender's resume token from its join. */
  async function pair(roomId: string): Promise<{ s: ConnectedClient; r: ConnectedClient; token: string }> {
    const [A, B] = cluster.nodes;
    const s = await connect(A!.url);
    const r = await connect(B!.url);
    const { resumeToken } = await join(s, roomId);
    await join(r, roomId);
    return { s, r, token: resumeToken };
  }

  /** Drops the sender's connection to A and resumes it on B with its token; the same peer, now on B. */
  async function moveToB(s: ConnectedClient, token: string): Promise<ConnectedClient> {
    const [A, B] = cluster.nodes;
    cutTransport(s);
    await untilDropped(A!, s.peerId);
    const moved = await connect(B!.url, { auth: { resumeToken: token } });
    assert.equal(moved.peerId, s.peerId);
    return moved;
  }

  it('offer from A, answer from B and candidates both ways are acknowledged ok and delivered', async () => {
    const { s, r } = await pair('x-relay');
    try {
      const offer = once(r, 'offer');
      const sent = await request(s, 'offer', {
        roomId: 'x-relay',
        to: r.peerId,
        sdp: SDP,
        sequence: 1,
        messageId: 'o-1',
      });
      assert.deepEqual(sent, { ok: true });
      // seq: the receiver's own numbering of what it is sent (the delivery log), from 1.
      assert.deepEqual(await offer, {
        roomId: 'x-relay',
        from: s.peerId,
        sdp: SDP,
        sequence: 1,
        messageId: 'o-1',
        seq: 1,
      });
      const answer = once(s, 'answer');
      assert.deepEqual(
        await request(r, 'answer', {
          roomId: 'x-relay',
          to: s.peerId,
          sdp: SDP,
          sequence: 1,
          messageId: 'a-1',
        }),
        { ok: true },
      );
      assert.equal((await answer).from, r.peerId);
      assert.equal((await answer).seq, 1);
      const atR = record(r, 'iceCandidate');
      const atS = record(s, 'iceCandidate');
      for (let i = 0; i < 5; i++) {
        assert.deepEqual(
          await request(s, 'iceCandidate', {
            roomId: 'x-relay',
            to: r.peerId,
            candidate: candidate(5000 + i),
          }),
          {
            ok: true,
          },
        );
        assert.deepEqual(
          await request(r, 'iceCandidate', {
            roomId: 'x-relay',
            to: s.peerId,
            candidate: candidate(6000 + i),
          }),
          {
            ok: true,
          },
        );
      }
      await sleep(100);
      assert.deepEqual(
        atR.map((c) => c.candidate?.candidate),
        [0, 1, 2, 3, 4].map((i) => candidate(5000 + i).candidate),
      );
      assert.deepEqual(
        atR.map((c) => c.seq),
        [2, 3, 4, 5, 6],
      );
      assert.deepEqual(
        atS.map((c) => c.candidate?.candidate),
        [0, 1, 2, 3, 4].map((i) => candidate(6000 + i).candidate),
      );
    } finally {
      closeAll(s, r);
    }
  });

  it('a messageId sent through A and repeated through B is answered duplicate and delivered once', async () => {
    const { s, r, token } = await pair('x-idem');
    let moved: ConnectedClient | undefined;
    try {
      const offers = record(r, 'offer');
      const first = { roomId: 'x-idem', to: r.peerId, sdp: SDP, messageId: 'm-1' };
      assert.deepEqual(await request(s, 'offer', first), { ok: true });
      moved = await moveToB(s, token);
      assert.deepEqual(await request(moved, 'offer', first), { ok: true, duplicate: true });
      await sleep(100);
      assert.equal(offers.length, 1);
    } finally {
      closeAll(s, r, moved);
    }
  });

  it('a sequence not above the one sent through A is refused STALE_SEQUENCE through B', async () => {
    const { s, r, token } = await pair('x-seq');
    let moved: ConnectedClient | undefined;
    try {
      const offers = record(r, 'offer');
      assert.deepEqual(await request(s, 'offer', { roomId: 'x-seq', to: r.peerId, sdp: SDP, sequence: 5 }), {
        ok: true,
      });
      const onB = await moveToB(s, token);
      moved = onB;
      for (const sequence of [5, 4]) {
        const stale = await request(onB, 'offer', { roomId: 'x-seq', to: r.peerId, sdp: SDP, sequence });
        assert.equal(!stale.ok && stale.error.code, 'STALE_SEQUENCE');
      }
      assert.deepEqual(
        await request(onB, 'offer', { roomId: 'x-seq', to: r.peerId, sdp: SDP, sequence: 6 }),
        {
          ok: true,
        },
      );
      await sleep(100);
      assert.deepEqual(
        offers.map((o) => o.sequence),
        [5, 6],
      );
    } finally {
      closeAll(s, r, moved);
    }
  });

  it('a candidate sent through A and again through B (new messageId) is answered duplicate and delivered once', async () => {
    const { s, r, token } = await pair('x-cand');
    let moved: ConnectedClient | undefined;
    try {
      const seen = record(r, 'iceCandidate');
      const c = { roomId: 'x-cand', to: r.peerId, candidate: candidate(7000) };
      assert.deepEqual(await request(s, 'iceCandidate', { ...c, messageId: 'c-1' }), { ok: true });
      moved = await moveToB(s, token);
      assert.deepEqual(await request(moved, 'iceCandidate', { ...c, messageId: 'c-2' }), {
        ok: true,
        duplicate: true,
      });
      // Another candidate still goes through.
      assert.deepEqual(
        await request(moved, 'iceCandidate', { roomId: 'x-cand', to: r.peerId, candidate: candidate(7001) }),
        { ok: true },
      );
      await sleep(100);
      assert.deepEqual(
        seen.map((x) => x.candidate?.candidate),
        [candidate(7000).candidate, candidate(7001).candidate],
      );
    } finally {
      closeAll(s, r, moved);
    }
  });

  it('200 candidates and an offer emitted through A without waiting reach B once each, in order, numbered 1-201, before the leaveRoom sent after them', async () => {
    const { s, r } = await pair('x-burst');
    try {
      const arrived: string[] = [];
      const seqs: number[] = [];
      r.on('iceCandidate', (p) => (arrived.push(p.candidate?.candidate ?? 'end'), seqs.push(p.seq ?? 0)));
      r.on('offer', (p) => (arrived.push(`offer ${p.sequence}`), seqs.push(p.seq ?? 0)));
      const left = once(r, 'peerLeft');
      const sent: string[] = [];
      const acks: Promise<unknown>[] = [];
      for (let i = 0; i < 200; i++) {
        if (i === 100) {
          sent.push('offer 1');
          acks.push(request(s, 'offer', { roomId: 'x-burst', to: r.peerId, sdp: SDP, sequence: 1 }));
        }
        const c = candidate(10_000 + i);
        sent.push(c.candidate);
        acks.push(request(s, 'iceCandidate', { roomId: 'x-burst', to: r.peerId, candidate: c }));
      }
      const leave = request(s, 'leaveRoom', { roomId: 'x-burst' });
      assert.deepEqual(
        await Promise.all(acks),
        sent.map(() => ({ ok: true })),
      );
      assert.deepEqual(await leave, { ok: true });
      await left;
      assert.deepEqual(arrived, sent);
      assert.deepEqual(
        seqs,
        sent.map((_, i) => i + 1),
      );
    } finally {
      closeAll(s, r);
    }
  });
});
