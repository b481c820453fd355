import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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

// Two instances on one Redis (REDIS_URL), each with its own clients: a room spans both.
describe('rooms across two instances', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster(2, { MAX_PEERS_PER_ROOM: '4', JOIN_RATE_PER_SEC: '0' });
  });
  after(() => cluster.close());

  it('joinRoom on B lists the peer that joined on A, and A gets peerJoined', async () => {
    const [A, B] = cluster.nodes;
    const a = await connect(A!.url);
    const b = await connect(B!.url);
    try {
      const ra = await join(a, 'span-1', 'Alice');
      assert.deepEqual(ra.peers, []);
      const joined = once(a, 'peerJoined');
      const rb = await join(b, 'span-1', 'Bob');
      assert.deepEqual(
        rb.peers.map((p) => [p.peerId, p.displayName]),
        [[a.peerId, 'Alice']],
      );
      const ev = await joined;
      assert.deepEqual([ev.roomId, ev.peerId, ev.displayName], ['span-1', b.peerId, 'Bob']);
    } finally {
      closeAll(a, b);
    }
  });

  it('leaveRoom on B sends peerLeft to the peer on A, and B stops getting the room events', async () => {
    const [A, B] = cluster.nodes;
    const a = await connect(A!.url);
    const b = await connect(B!.url);
    const c = await connect(A!.url);
    try {
      await join(a, 'span-2');
      await join(b, 'span-2');
      const left = once(a, 'peerLeft');
      assert.deepEqual(await request(b, 'leaveRoom', { roomId: 'span-2' }), { ok: true });
      assert.deepEqual(await left, { roomId: 'span-2', peerId: b.peerId, reason: 'left' });
      // B's socket left the room's channel: a later join is not announced to it.
      const seenByB = record(b, 'peerJoined');
      const joinedA = once(a, 'peerJoined');
      await join(c, 'span-2');
      await joinedA;
      await sleep(50);
      assert.deepEqual(seenByB, []);
    } finally {
      closeAll(a, b, c);
    }
  });

  it('a peer on B that disconnects is announced to the peer on A (peerLeft disconnected)', async () => {
    const [A, B] = cluster.nodes;
    const a = await connect(A!.url);
    const b = await connect(B!.url);
    try {
      await join(a, 'span-3');
      await join(b, 'span-3');
      const left = once(a, 'peerLeft');
      b.disconnect();
      assert.deepEqual(await left, { roomId: 'span-3', peerId: b.peerId, reason: 'disconnected' });
    } finally {
      closeAll(a, b);
    }
  });

  it('24 joins racing from both instances for the last seat admit exactly one; the rest get ROOM_FULL', async () => {
    const [A, B] = cluster.nodes;
    const seated = [await connect(A!.url), await connect(B!.url), await connect(A!.url)];
    const racers: ConnectedClient[] = [];
    try {
      for (const s of seated) await join(s, 'last-seat');
      for (let i = 0; i < 24; i++) racers.push(await connect((i % 2 === 0 ? A : B)!.url));
      const results = await Promise.all(racers.map((r) => request(r, 'joinRoom', { roomId: 'last-seat' })));
      const admitted = racers.filter((_, i) => results[i]!.ok);
      assert.equal(admitted.length, 1);
      for (const r of results) if (!r.ok) assert.equal(r.error.code, 'ROOM_FULL');
      // The room holds exactly its capacity, as both instances see it.
      for (const node of [A!, B!]) {
        const late = await connect(node.url);
        racers.push(late);
        const full = await request(late, 'joinRoom', { roomId: 'last-seat' });
        assert.equal(!full.ok && full.error.code, 'ROOM_FULL');
      }
      const again = await request(seated[1]!, 'joinRoom', { roomId: 'last-seat' });
      assert.ok(again.ok);
      const peers = (again as unknown as { peers: { peerId: string }[] }).peers.map((p) => p.peerId).sort();
      assert.deepEqual(peers, [seated[0]!, seated[2]!, admitted[0]!].map((p) => p.peerId).sort());
    } finally {
      closeAll(...seated, ...racers);
    }
  });
});
