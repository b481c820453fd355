import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  candidate,
  closeAll,
  connect,
  join,
  once,
  record,
  request,
  SDP,
  sleep,
  startServer,
  type TestServer,
} from '../support/harness';

describe('relay', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('offer reaches only the named peer, with from set by the server', async () => {
    const [a, b, c] = await Promise.all([connect(server.url), connect(server.url), connect(server.url)]);
    try {
      for (const s of [a, b, c]) await join(s, 'relay-1');
      const atC = record(c, 'offer');
      const atB = once(b, 'offer');
      // A forged `from` in the payload must not survive: the server sets it from the session.
      const res = await request(a, 'offer', {
        roomId: 'relay-1',
        to: b.peerId,
        sdp: SDP,
        from: c.peerId,
        sequence: 1,
      });
      assert.deepEqual(res, { ok: true });
      assert.deepEqual(await atB, { roomId: 'relay-1', from: a.peerId, sdp: SDP, sequence: 1 });
      await sleep(50);
      assert.equal(atC.length, 0);
    } finally {
      closeAll(a, b, c);
    }
  });

  it('answer and iceCandidate (including end-of-candidates) are relayed', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(a, 'relay-2');
      await join(b, 'relay-2');
      const answer = once(a, 'answer');
      assert.equal((await request(b, 'answer', { roomId: 'relay-2', to: a.peerId, sdp: SDP })).ok, true);
      assert.equal((await answer).from, b.peerId);
      const cands = record(a, 'iceCandidate');
      const c = candidate(5000);
      assert.equal(
        (await request(b, 'iceCandidate', { roomId: 'relay-2', to: a.peerId, candidate: c })).ok,
        true,
      );
      assert.equal(
        (await request(b, 'iceCandidate', { roomId: 'relay-2', to: a.peerId, candidate: null })).ok,
        true,
      );
      await sleep(50);
      assert.deepEqual(cands, [
        { roomId: 'relay-2', from: b.peerId, candidate: c },
        { roomId: 'relay-2', from: b.peerId, candidate: null },
      ]);
    } finally {
      closeAll(a, b);
    }
  });

  it('a signal to a peer of another room is refused PEER_NOT_FOUND and not delivered', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(a, 'room-a');
      await join(b, 'room-b');
      const atB = record(b, 'offer');
      const res = await request(a, 'offer', { roomId: 'room-a', to: b.peerId, sdp: SDP });
      assert.equal(!res.ok && res.error.code, 'PEER_NOT_FOUND');
      // Naming b's room does not help: a is not in it.
      const res2 = await request(a, 'offer', { roomId: 'room-b', to: b.peerId, sdp: SDP });
      assert.equal(!res2.ok && res2.error.code, 'NOT_IN_ROOM');
      const res3 = await request(a, 'offer', { roomId: 'room-a', to: 'no-such-peer', sdp: SDP });
      assert.equal(!res3.ok && res3.error.code, 'PEER_NOT_FOUND');
      const self = await request(a, 'offer', { roomId: 'room-a', to: a.peerId, sdp: SDP });
      assert.equal(!self.ok && self.error.code, 'PEER_NOT_FOUND');
      await sleep(50);
      assert.equal(atB.length, 0);
    } finally {
      closeAll(a, b);
    }
  });

  it('a peer that never joined is refused NOT_IN_ROOM', async () => {
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(b, 'relay-3');
      const atB = record(b, 'iceCandidate');
      const res = await request(a, 'iceCandidate', {
        roomId: 'relay-3',
        to: b.peerId,
        candidate: candidate(1),
      });
      assert.equal(!res.ok && res.error.code, 'NOT_IN_ROOM');
      await sleep(50);
      assert.equal(atB.length, 0);
    } finally {
      closeAll(a, b);
    }
  });
});

describe('relay ordering', () => {
  it('signals sent back to back arrive in the order they were sent', async () => {
    const server = await startServer();
    const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
    try {
      await join(a, 'order');
      await join(b, 'order');
      const seen: string[] = [];
      b.on('offer', (m) => seen.push(`offer:${m.sequence}`));
      b.on('iceCandidate', (m) => seen.push(`cand:${m.sequence}`));
      b.on('answer', (m) => seen.push(`answer:${m.sequence}`));
      const sent: string[] = [];
      // No awaiting between sends: the paths through the server differ in length per kind.
      const acks: Promise<unknown>[] = [];
      for (let i = 1; i <= 30; i++) {
        const kind = i % 3 === 1 ? 'offer' : 'iceCandidate';
        sent.push(`${kind === 'offer' ? 'offer' : 'cand'}:${i}`);
        acks.push(
          kind === 'offer'
            ? request(a, 'offer', { roomId: 'order', to: b.peerId, sdp: SDP, sequence: i })
            : request(a, 'iceCandidate', {
                roomId: 'order',
                to: b.peerId,
                candidate: candidate(i),
                sequence: i,
              }),
        );
      }
      await Promise.all(acks);
      await sleep(50);
      assert.deepEqual(seen, sent);
    } finally {
      closeAll(a, b);
      await server.close();
    }
  });
});
