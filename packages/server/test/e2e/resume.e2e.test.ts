import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  candidate,
  closeAll,
  cutTransport,
  connect,
  join,
  once,
  record,
  request,
  SDP,
  sleep,
  startServer,
  until,
  untilDropped,
  type ConnectedClient,
  type TestServer,
} from '../support/harness';

describe('resume', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ RESUME_WINDOW_MS: '1500' });
  });
  after(() => server.close());

  it('a dropped socket that reconnects is recovered with the same peerId, and others see no peerLeft', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url, { reconnection: true });
    try {
      await join(a, 'rec-1');
      await join(b, 'rec-1');
      const left = record(a, 'peerLeft');
      const resumed = once(b, 'resumed');
      cutTransport(b);
      const ev = await resumed;
      assert.equal(b.recovered, true);
      assert.equal(ev.peerId, b.peerId);
      assert.deepEqual(
        ev.rooms.map((r) => [r.roomId, r.peers.map((p) => p.peerId)]),
        [['rec-1', [a.peerId]]],
      );
      // Still addressable under its old id.
      const offer = once(b, 'offer');
      assert.deepEqual(await request(a, 'offer', { roomId: 'rec-1', to: b.peerId, sdp: SDP }), { ok: true });
      assert.equal((await offer).from, a.peerId);
      await sleep(1700); // past the window: a late peerLeft would show now
      assert.deepEqual(left, []);
    } finally {
      closeAll(a, b);
    }
  });

  it('signals sent while a recovering peer is away are delivered after it returns, in order', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url, { reconnection: true, reconnectionDelay: 400 });
    try {
      await join(a, 'rec-5');
      await join(b, 'rec-5');
      const got: number[] = [];
      b.on('iceCandidate', (m) => got.push(m.sequence ?? -1));
      const resumed = once(b, 'resumed');
      cutTransport(b);
      await untilDropped(server, b.peerId);
      for (let i = 1; i <= 4; i++) {
        const res = await request(a, 'iceCandidate', {
          roomId: 'rec-5',
          to: b.peerId,
          candidate: candidate(8000 + i),
          sequence: i,
        });
        assert.deepEqual(res, { ok: true, queued: true });
      }
      await resumed;
      assert.equal(b.recovered, true);
      await until(() => got.length === 4, 2000, 'held signals');
      assert.deepEqual(got, [1, 2, 3, 4]);
    } finally {
      closeAll(a, b);
    }
  });

  it('held signals past MAX_BUFFERED_SIGNALS_PER_PAIR are refused BUFFER_FULL, and a retry after the resume is accepted', async () => {
    const s = await startServer({ RESUME_WINDOW_MS: '5000', MAX_BUFFERED_SIGNALS_PER_PAIR: '3' });
    const a = await connect(s.url);
    const b = await connect(s.url);
    let b2: ConnectedClient | undefined;
    try {
      await join(a, 'cap');
      const { resumeToken } = await join(b, 'cap');
      cutTransport(b);
      await untilDropped(s, b.peerId);
      const send = (i: number) =>
        request(a, 'iceCandidate', {
          roomId: 'cap',
          to: b.peerId,
          candidate: candidate(9000 + i),
          messageId: `c${i}`,
        });
      for (let i = 1; i <= 3; i++) assert.deepEqual(await send(i), { ok: true, queued: true });
      const full = await send(4);
      assert.equal(!full.ok && full.error.code, 'BUFFER_FULL');
      const got: number[] = [];
      b2 = await connect(s.url, {
        auth: { resumeToken },
        setup: (sock) => sock.on('iceCandidate', (m) => got.push(Number(m.messageId?.slice(1)))),
      });
      await until(() => got.length === 3, 2000, 'held signals');
      // The refused message was not remembered as sent: its retry goes through.
      assert.deepEqual(await send(4), { ok: true });
      await until(() => got.length === 4, 2000, 'the retried signal');
      assert.deepEqual(got, [1, 2, 3, 4]);
    } finally {
      closeAll(a, b, b2);
      await s.close();
    }
  });

  it('with CONNECTION_STATE_RECOVERY=false, a dropped socket reconnecting with its token resumes the same peer', async () => {
    const s = await startServer({ CONNECTION_STATE_RECOVERY: 'false', RESUME_WINDOW_MS: '5000' });
    // socket.io-client sends this same object on every reconnection, so the token can be added later.
    const auth: Record<string, unknown> = {};
    const a = await connect(s.url);
    const b = await connect(s.url, { reconnection: true, auth });
    try {
      await join(a, 'no-rec');
      auth.resumeToken = (await join(b, 'no-rec')).resumeToken;
      const left = record(a, 'peerLeft');
      const resumed = once(b, 'resumed');
      cutTransport(b);
      const ev = await resumed;
      assert.notEqual(b.recovered, true); // no recovery session: the token did it
      assert.equal(ev.peerId, b.peerId);
      const offer = once(b, 'offer');
      assert.deepEqual(await request(a, 'offer', { roomId: 'no-rec', to: b.peerId, sdp: SDP }), { ok: true });
      assert.equal((await offer).from, a.peerId);
      assert.deepEqual(left, []);
    } finally {
      closeAll(a, b);
      await s.close();
    }
  });

  it('a fresh connection with the resume token gets resumed with the same peerId and the signals held meanwhile, in order', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url);
    let b2: ConnectedClient | undefined;
    try {
      await join(a, 'rec-2');
      const { resumeToken } = await join(b, 'rec-2');
      const left = record(a, 'peerLeft');
      cutTransport(b); // b has reconnection off: its session can only come back by token
      await untilDropped(server, b.peerId);
      const sent = [];
      for (let i = 1; i <= 5; i++) {
        const res = await request(a, 'iceCandidate', {
          roomId: 'rec-2',
          to: b.peerId,
          candidate: candidate(7000 + i),
          sequence: i,
        });
        assert.deepEqual(res, { ok: true, queued: true });
        sent.push(i);
      }
      assert.deepEqual(await request(a, 'offer', { roomId: 'rec-2', to: b.peerId, sdp: SDP, sequence: 6 }), {
        ok: true,
        queued: true,
      });
      sent.push(6);

      // Listeners must exist before the handshake completes: held signals follow `resumed` at once.
      const got: number[] = [];
      b2 = await connect(server.url, {
        auth: { resumeToken },
        setup: (s) => {
          s.on('iceCandidate', (m) => got.push(m.sequence ?? -1));
          s.on('offer', (m) => got.push(m.sequence ?? -1));
        },
      });
      const ev = (await b2.resumeOutcome).resumed;
      assert.ok(ev, 'resume refused');
      assert.equal(ev.peerId, b.peerId);
      assert.equal(b2.peerId, b.peerId);
      assert.notEqual(ev.resumeToken, resumeToken);
      await until(() => got.length === 6, 2000, 'held signals');
      assert.deepEqual(got, sent);
      // The resumed peer can signal under its old id.
      const atA = once(a, 'answer');
      assert.equal((await request(b2, 'answer', { roomId: 'rec-2', to: a.peerId, sdp: SDP })).ok, true);
      assert.equal((await atA).from, b.peerId);
      assert.deepEqual(left, []);
    } finally {
      closeAll(a, b, b2);
    }
  });

  it('a resume token is good once: a reused or forged one gets resumeFailed and a new peerId', async () => {
    const a = await connect(server.url);
    let b2: ConnectedClient | undefined;
    let b3: ConnectedClient | undefined;
    let b4: ConnectedClient | undefined;
    try {
      const { resumeToken } = await join(a, 'rec-3');
      cutTransport(a);
      b2 = await connect(server.url, { auth: { resumeToken } });
      assert.ok((await b2.resumeOutcome).resumed);
      cutTransport(b2);
      b3 = await connect(server.url, { auth: { resumeToken } });
      const failed = (await b3.resumeOutcome).failed;
      assert.equal(failed?.error.code, 'RESUME_REJECTED');
      const fresh = await request(b3, 'joinRoom', { roomId: 'rec-3' });
      assert.ok(fresh.ok);
      assert.notEqual(fresh.peerId, a.peerId);
      b4 = await connect(server.url, { auth: { resumeToken: 'forged-token-forged-token-forged' } });
      assert.equal((await b4.resumeOutcome).failed?.error.code, 'RESUME_REJECTED');
    } finally {
      closeAll(a, b2, b3, b4);
    }
  });

  it('when the resume window passes, the others see peerLeft with reason timeout and the token stops working', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url);
    let b2: ConnectedClient | undefined;
    try {
      await join(a, 'rec-4');
      const { resumeToken } = await join(b, 'rec-4');
      const left = once(a, 'peerLeft', 4000);
      const cutAt = Date.now();
      cutTransport(b);
      const ev = await left;
      assert.deepEqual(ev, { roomId: 'rec-4', peerId: b.peerId, reason: 'timeout' });
      assert.ok(Date.now() - cutAt >= 1400, 'peerLeft came before the window passed');
      b2 = await connect(server.url, { auth: { resumeToken } });
      assert.equal((await b2.resumeOutcome).failed?.error.code, 'RESUME_REJECTED');
    } finally {
      closeAll(a, b, b2);
    }
  });
});

describe('resume after expiry', () => {
  it('a socket Socket.IO restores after its peer expired gets a new peer id and none of the old rooms', async () => {
    // Our window runs on a fake clock, Socket.IO's on the real one: the race at the window's edge, made wide.
    const clock = new FakeClock(Date.now());
    const s = await startServer({ RESUME_WINDOW_MS: '20000' }, clock);
    const a = await connect(s.url);
    const b = await connect(s.url, { reconnection: true, reconnectionDelay: 300 });
    let c: ConnectedClient | undefined;
    try {
      await join(a, 'exp');
      await join(b, 'exp');
      const left = once(a, 'peerLeft');
      const session = once(b, 'session');
      cutTransport(b);
      await untilDropped(s, b.peerId);
      await clock.advance(20_001);
      assert.deepEqual(await left, { roomId: 'exp', peerId: b.peerId, reason: 'timeout' });
      const fresh = await session;
      assert.equal(b.recovered, true);
      assert.notEqual(fresh.peerId, b.peerId);
      const res = await request(b, 'offer', { roomId: 'exp', to: a.peerId, sdp: SDP });
      assert.equal(!res.ok && res.error.code, 'NOT_IN_ROOM');
      const joins = record(b, 'peerJoined');
      c = await connect(s.url);
      await join(c, 'exp');
      await sleep(50);
      assert.deepEqual(joins, []);
    } finally {
      closeAll(a, b, c);
      await s.close();
    }
  });
});

// Imported late to keep the test's imports about behaviour.
import { FakeClock } from '../../src/common/fake-clock';
