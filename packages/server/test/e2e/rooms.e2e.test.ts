import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PeerConnectionTrackerService } from '../../src/webrtc/services/peer-connection-tracker.service';
import { SignalingService } from '../../src/webrtc/signaling.service';
import {
  closeAll,
  connect,
  join,
  once,
  record,
  request,
  sleep,
  startServer,
  until,
  type TestServer,
} from '../support/harness';

describe('rooms', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ MAX_PEERS_PER_ROOM: '3' });
  });
  after(() => server.close());

  it('joinRoom returns the server-assigned peerId, the peers already there and a resume token', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      const ra = await join(a, 'lobby-1', 'Alice');
      assert.equal(ra.peerId, a.peerId);
      assert.equal(ra.roomId, 'lobby-1');
      assert.deepEqual(ra.peers, []);
      assert.ok(ra.resumeToken.length >= 20);
      const joined = once(a, 'peerJoined');
      const rb = await join(b, 'lobby-1', 'Bob');
      assert.deepEqual(
        rb.peers.map((p) => [p.peerId, p.displayName]),
        [[a.peerId, 'Alice']],
      );
      assert.equal(typeof rb.peers[0]?.joinedAt, 'number');
      const ev = await joined;
      assert.equal(ev.peerId, b.peerId);
      assert.equal(ev.displayName, 'Bob');
      assert.equal(ev.roomId, 'lobby-1');
    } finally {
      closeAll(a, b);
    }
  });

  it('joinRoom past MAX_PEERS_PER_ROOM answers ROOM_FULL and the others see no peerJoined', async () => {
    const peers = await Promise.all([1, 2, 3, 4].map(() => connect(server.url)));
    try {
      for (const p of peers.slice(0, 3)) await join(p, 'full-room');
      const joins = record(peers[0]!, 'peerJoined');
      const res = await request(peers[3]!, 'joinRoom', { roomId: 'full-room' });
      assert.equal(res.ok, false);
      assert.equal(!res.ok && res.error.code, 'ROOM_FULL');
      await sleep(50);
      assert.equal(joins.length, 0);
    } finally {
      closeAll(...peers);
    }
  });

  it('leaveRoom sends peerLeft with reason left to the others at once', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await join(a, 'leave-room');
      await join(b, 'leave-room');
      const left = once(a, 'peerLeft');
      assert.deepEqual(await request(b, 'leaveRoom', { roomId: 'leave-room' }), { ok: true });
      assert.deepEqual(await left, { roomId: 'leave-room', peerId: b.peerId, reason: 'left' });
      const again = await request(b, 'leaveRoom', { roomId: 'leave-room' });
      assert.equal(!again.ok && again.error.code, 'NOT_IN_ROOM');
    } finally {
      closeAll(a, b);
    }
  });

  it('a voluntary disconnect sends peerLeft with reason disconnected at once', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await join(a, 'bye-room');
      await join(b, 'bye-room');
      const left = once(a, 'peerLeft', 1000);
      b.disconnect();
      assert.deepEqual(await left, { roomId: 'bye-room', peerId: b.peerId, reason: 'disconnected' });
    } finally {
      closeAll(a, b);
    }
  });

  it('leave and disconnect remove every trace of the peers from the store', async () => {
    // A fresh server, so the store holds only what these peers create.
    const s = await startServer({ ICE_RESTART_MIN_INTERVAL_MS: '0' });
    try {
      const a = await connect(s.url);
      const b = await connect(s.url);
      await join(a, 'trace');
      await join(b, 'trace');
      // Touch every service: a pair context, a candidate sighting, a tracker record.
      await request(a, 'offer', {
        roomId: 'trace',
        to: b.peerId,
        sdp: 'v=0\r\ns=-\r\n',
        sequence: 1,
        messageId: 'm1',
      });
      await request(a, 'iceCandidate', {
        roomId: 'trace',
        to: b.peerId,
        candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 1000 typ host', usernameFragment: 'u' },
      });
      await request(a, 'connectionState', {
        roomId: 'trace',
        peerId: b.peerId,
        connectionState: 'connecting',
        iceConnectionState: 'checking',
      });
      assert.ok((await s.store.size()) > 4);
      await request(b, 'leaveRoom', { roomId: 'trace' });
      a.disconnect();
      b.disconnect();
      await until(async () => (await s.store.size()) === 0, 2000, 'an empty store');
      // Nothing left ticking for them either.
      assert.equal(s.sb.app.get(PeerConnectionTrackerService).pendingTimers, 0);
      assert.equal(s.sb.app.get(SignalingService).pendingResumes, 0);
    } finally {
      await s.close();
    }
  });
});
