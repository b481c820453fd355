import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  closeAll,
  connect,
  cutTransport,
  join,
  once,
  record,
  request,
  SDP,
  sleep,
  startServer,
  untilDropped,
  type ConnectedClient,
  type TestServer,
} from '../support/harness';
import { SECRET, signHs256, type TestClaims } from '../support/tokens';

const TURN_SECRET = 'turn-shared-secret';

describe('room grants', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      AUTH_JWT_SECRET: SECRET,
      TURN_URL: 'turn:127.0.0.1:3478',
      TURN_SECRET,
      RESUME_WINDOW_MS: '5000',
    });
  });
  after(() => server.close());

  const as = async (claims: TestClaims, opts: Parameters<typeof connect>[1] = {}) =>
    connect(server.url, { ...opts, auth: { ...opts.auth, token: await signHs256(claims) } });

  it('joinRoom of a granted room is accepted; the peer list and peerJoined carry userId (the sub)', async () => {
    const a = await as({ sub: 'user-a', rooms: ['g-1'] });
    const b = await as({ sub: 'user-b', room: 'g-1' });
    try {
      await join(a, 'g-1', 'Ann');
      const joined = once(a, 'peerJoined');
      const res = await join(b, 'g-1', 'Bob');
      assert.deepEqual(
        res.peers.map((p) => [p.peerId, p.userId, p.displayName]),
        [[a.peerId, 'user-a', 'Ann']],
      );
      const ev = await joined;
      assert.equal(ev.peerId, b.peerId);
      assert.equal(ev.userId, 'user-b');
      assert.equal(ev.displayName, 'Bob');
    } finally {
      closeAll(a, b);
    }
  });

  it('joinRoom outside the grant answers FORBIDDEN and the room sees nothing', async () => {
    const a = await as({ sub: 'user-a', rooms: ['g-2'] });
    const b = await as({ sub: 'user-b', rooms: ['elsewhere'] });
    try {
      await join(a, 'g-2');
      const joins = record(a, 'peerJoined');
      const res = await request(b, 'joinRoom', { roomId: 'g-2' });
      assert.equal(!res.ok && res.error.code, 'FORBIDDEN');
      assert.match(!res.ok ? res.error.message : '', /does not grant room g-2/);
      // Not a member: it cannot signal there either.
      const offer = await request(b, 'offer', { roomId: 'g-2', to: a.peerId, sdp: SDP });
      assert.equal(!offer.ok && offer.error.code, 'NOT_IN_ROOM');
      await sleep(50);
      assert.deepEqual(joins, []);
    } finally {
      closeAll(a, b);
    }
  });

  it('a token without room or rooms grants no room: every joinRoom answers FORBIDDEN', async () => {
    const a = await as({ sub: 'user-a' });
    try {
      for (const roomId of ['g-3', 'lobby']) {
        const res = await request(a, 'joinRoom', { roomId });
        assert.equal(!res.ok && res.error.code, 'FORBIDDEN');
      }
    } finally {
      closeAll(a);
    }
  });

  it('a wildcard grant (* in rooms) lets the peer join any room', async () => {
    const a = await as({ sub: 'admin', rooms: ['*'] });
    try {
      for (const roomId of ['g-4a', 'g-4b', 'anything:at.all'])
        assert.equal((await join(a, roomId)).roomId, roomId);
    } finally {
      closeAll(a);
    }
  });

  it('joinRoom without displayName takes the token’s name; without either, peer-<id>', async () => {
    const a = await as({ sub: 'user-a', name: 'Ada Lovelace', room: 'g-5' });
    const b = await as({ sub: 'user-b', room: 'g-5' });
    try {
      await join(a, 'g-5');
      const res = await join(b, 'g-5');
      assert.equal(res.peers[0]?.displayName, 'Ada Lovelace');
      const again = await join(a, 'g-5');
      assert.equal(again.peers[0]?.displayName, `peer-${b.peerId.slice(0, 6)}`);
    } finally {
      closeAll(a, b);
    }
  });

  it('the joinRoom ack’s TURN username is <expiry>:<sub>, with a credential coturn accepts', async () => {
    const a = await as({ sub: 'ada@example.com', room: 'g-6' });
    try {
      const res = await join(a, 'g-6');
      const turn = res.iceServers.find((s) => String(s.urls).startsWith('turn:'));
      assert.ok(turn?.username);
      assert.match(turn.username, /^\d+:ada@example\.com$/);
      assert.equal(turn.credential, createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64'));
    } finally {
      closeAll(a);
    }
  });

  it('a resumed peer’s rooms list their peers with userId', async () => {
    const a = await as({ sub: 'user-a', room: 'g-7' });
    const b = await as({ sub: 'user-b', room: 'g-7' });
    let b2: ConnectedClient | undefined;
    try {
      await join(a, 'g-7');
      const { resumeToken } = await join(b, 'g-7');
      cutTransport(b);
      await untilDropped(server, b.peerId);
      b2 = await as({ sub: 'user-b', room: 'g-7' }, { auth: { resumeToken } });
      const resumed = (await b2.resumeOutcome).resumed;
      assert.deepEqual(resumed?.rooms, [
        {
          roomId: 'g-7',
          peers: [
            {
              peerId: a.peerId,
              userId: 'user-a',
              displayName: `peer-${a.peerId.slice(0, 6)}`,
              joinedAt: resumed?.rooms[0]?.peers[0]?.joinedAt,
            },
          ],
        },
      ]);
    } finally {
      closeAll(a, b, b2);
    }
  });

  it('a peer resumed with a token that no longer grants one of its rooms leaves that room (others see peerLeft left)', async () => {
    const a = await as({ sub: 'user-a', rooms: ['g-8a', 'g-8b'] });
    const b = await as({ sub: 'user-b', rooms: ['g-8a', 'g-8b'] });
    let b2: ConnectedClient | undefined;
    try {
      await join(a, 'g-8a');
      await join(a, 'g-8b');
      await join(b, 'g-8a');
      const { resumeToken } = await join(b, 'g-8b');
      cutTransport(b);
      await untilDropped(server, b.peerId);
      const left = once(a, 'peerLeft');
      b2 = await as({ sub: 'user-b', rooms: ['g-8a'] }, { auth: { resumeToken } });
      const resumed = (await b2.resumeOutcome).resumed;
      assert.deepEqual(
        resumed?.rooms.map((r) => r.roomId),
        ['g-8a'],
      );
      assert.deepEqual(await left, { roomId: 'g-8b', peerId: b.peerId, reason: 'left' });
    } finally {
      closeAll(a, b, b2);
    }
  });
});

describe('room grants with authentication off', () => {
  it('peers and peerJoined carry no userId, and any room may be joined', async () => {
    const server = await startServer();
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await join(a, 'open');
      const joined = once(a, 'peerJoined');
      const res = await join(b, 'open');
      assert.equal('userId' in res.peers[0]!, false);
      assert.equal('userId' in (await joined), false);
    } finally {
      closeAll(a, b);
      await server.close();
    }
  });
});
