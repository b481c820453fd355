import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from '../../src/common/fake-clock';
import {
  closeAll,
  connect,
  cutTransport,
  join,
  metric,
  once,
  record,
  request,
  sleep,
  startServer,
  until,
  type Client,
  type TestServer,
} from '../support/harness';
import { SECRET, signHs256, type TestClaims } from '../support/tokens';

// The server's clock is fake: tokens are signed relative to it and time moves only when a test says so.
describe('token expiry and refreshToken', () => {
  let clock: FakeClock;
  let server: TestServer;
  before(async () => {
    clock = new FakeClock(Date.now());
    server = await startServer({ AUTH_JWT_SECRET: SECRET, AUTH_FAILURES_PER_IP: '0' }, clock);
  });
  after(() => server.close());

  const token = (claims: TestClaims, lifetime = 3600) => signHs256(claims, { now: clock.now(), lifetime });
  const as = async (claims: TestClaims, lifetime?: number) =>
    connect(server.url, { auth: { token: await token(claims, lifetime) } });

  it('a connection whose token expires without a refresh gets disconnectReason TOKEN_EXPIRED and is disconnected; others see peerLeft disconnected', async () => {
    const a = await as({ sub: 'a', room: 'x-1' });
    const b = await as({ sub: 'b', room: 'x-1' }, 60);
    try {
      await join(a, 'x-1');
      await join(b, 'x-1');
      const reasons = record(b, 'disconnectReason');
      const left = once(a, 'peerLeft');
      const closed = new Promise<string>((resolve) => b.once('disconnect', resolve));
      await clock.advance(59_000); // the token is still good (and 5 s of tolerance follow)
      await sleep(50);
      assert.equal(reasons.length, 0);
      await clock.advance(7_000);
      assert.equal(await closed, 'io server disconnect');
      assert.deepEqual(
        reasons.map((r) => r.code),
        ['TOKEN_EXPIRED'],
      );
      assert.deepEqual(await left, { roomId: 'x-1', peerId: b.peerId, reason: 'disconnected' });
      assert.equal(await metric(server, 'switchboard_forced_disconnects_total{reason="token_expired"}'), 1);
      assert.equal(a.connected, true);
    } finally {
      closeAll(a, b);
    }
  });

  it('refreshToken with a token of the same sub answers { ok, expiresAt } and the connection outlives its first token', async () => {
    const b = await as({ sub: 'b', room: 'x-2' }, 60);
    try {
      await join(b, 'x-2');
      await clock.advance(30_000);
      const fresh = await token({ sub: 'b', room: 'x-2' }, 120);
      const res = await request(b, 'refreshToken', { token: fresh });
      const exp = Math.floor(clock.now() / 1000) + 120;
      assert.deepEqual(res, { ok: true, expiresAt: exp * 1000 });
      const reasons = record(b, 'disconnectReason');
      await clock.advance(60_000); // past the first token's end
      await sleep(50);
      assert.equal(reasons.length, 0);
      assert.equal(b.connected, true);
      assert.equal((await join(b, 'x-2')).roomId, 'x-2');
      const closed = new Promise<string>((resolve) => b.once('disconnect', resolve));
      await clock.advance(66_000); // past the second one's
      assert.equal(await closed, 'io server disconnect');
      assert.deepEqual(
        reasons.map((r) => r.code),
        ['TOKEN_EXPIRED'],
      );
    } finally {
      closeAll(b);
    }
  });

  it('refreshToken with another user’s token answers FORBIDDEN and changes nothing (the first token still ends the connection)', async () => {
    const b = await as({ sub: 'b', room: 'x-3' }, 60);
    try {
      await join(b, 'x-3');
      const forbiddenBefore =
        (await metric(server, 'switchboard_auth_failures_total{reason="forbidden"}')) || 0;
      const res = await request(b, 'refreshToken', {
        token: await token({ sub: 'mallory', room: '*' }, 3600),
      });
      assert.equal(!res.ok && res.error.code, 'FORBIDDEN');
      assert.equal(
        await metric(server, 'switchboard_auth_failures_total{reason="forbidden"}'),
        forbiddenBefore + 1,
      );
      // Still b, still b's grant.
      const other = await request(b, 'joinRoom', { roomId: 'elsewhere' });
      assert.equal(!other.ok && other.error.code, 'FORBIDDEN');
      const closed = new Promise<string>((resolve) => b.once('disconnect', resolve));
      await clock.advance(66_000);
      assert.equal(await closed, 'io server disconnect');
    } finally {
      closeAll(b);
    }
  });

  it('refreshToken with an expired, forged or malformed token answers UNAUTHORIZED and the connection keeps its token', async () => {
    const b = await as({ sub: 'b', room: 'x-4' });
    try {
      const expired = await signHs256({ sub: 'b', exp: Math.floor(clock.now() / 1000) - 60 });
      const forged = await signHs256(
        { sub: 'b' },
        { now: clock.now() },
        'not-the-secret-0123456789-0123456789-xyz',
      );
      for (const [t, message] of [
        [expired, /expired/],
        [forged, /signature/],
        ['junk', /malformed/],
      ] as const) {
        const res = await request(b, 'refreshToken', { token: t });
        assert.equal(!res.ok && res.error.code, 'UNAUTHORIZED');
        assert.match(!res.ok ? res.error.message : '', message);
      }
      assert.equal((await join(b, 'x-4')).roomId, 'x-4');
      const empty = await request(b, 'refreshToken', { token: '' });
      assert.equal(!empty.ok && empty.error.code, 'VALIDATION_FAILED');
      const huge = await request(b, 'refreshToken', { token: 'x'.repeat(9000) });
      assert.equal(!huge.ok && huge.error.code, 'PAYLOAD_TOO_LARGE');
    } finally {
      closeAll(b);
    }
  });

  it('refreshToken with a narrower grant leaves the rooms it no longer covers: leftRooms in the answer, peerLeft left for the others', async () => {
    const a = await as({ sub: 'a', rooms: ['x-5a', 'x-5b'] });
    const b = await as({ sub: 'b', rooms: ['x-5a', 'x-5b'] });
    try {
      await join(a, 'x-5a');
      await join(a, 'x-5b');
      await join(b, 'x-5a');
      await join(b, 'x-5b');
      const left = record(a, 'peerLeft');
      const res = await request(b, 'refreshToken', { token: await token({ sub: 'b', rooms: ['x-5a'] }) });
      assert.equal(res.ok, true);
      assert.deepEqual((res as { leftRooms?: string[] }).leftRooms, ['x-5b']);
      await sleep(50);
      assert.deepEqual(left, [{ roomId: 'x-5b', peerId: b.peerId, reason: 'left' }]);
      // Out of x-5b for good (the new grant does not cover it); still in x-5a.
      const back = await request(b, 'joinRoom', { roomId: 'x-5b' });
      assert.equal(!back.ok && back.error.code, 'FORBIDDEN');
      const offer = once(a, 'offer');
      assert.equal(
        (await request(b, 'offer', { roomId: 'x-5a', to: a.peerId, sdp: 'v=0\r\ns=-\r\n' })).ok,
        true,
      );
      assert.equal((await offer).from, b.peerId);
    } finally {
      closeAll(a, b);
    }
  });
});

describe('token expiry bookkeeping', () => {
  it('closing authenticated connections, cleanly or by a drop, after a refresh or not, leaves the expiry schedule empty', async () => {
    const server = await startServer({ AUTH_JWT_SECRET: SECRET, RESUME_WINDOW_MS: '1000' });
    const entries = () => metric(server, 'switchboard_internal_entries{collection="token_expiries"}');
    const clients: Client[] = [];
    try {
      for (let i = 0; i < 20; i++)
        clients.push(await connect(server.url, { auth: { token: await signHs256({ sub: `u${i}` }) } }));
      assert.equal(await entries(), 20);
      for (const [i, c] of clients.entries()) {
        if (i % 3 === 0)
          assert.equal(
            (
              await request(c, 'refreshToken', {
                token: await signHs256({ sub: `u${i}` }, { lifetime: 7200 }),
              })
            ).ok,
            true,
          );
      }
      assert.equal(await entries(), 20);
      for (const [i, c] of clients.entries()) {
        if (i % 2 === 0) c.disconnect();
        else cutTransport(c);
      }
      await until(async () => (await entries()) === 0, 3000, 'an empty schedule');
    } finally {
      closeAll(...clients);
      await server.close();
    }
  });
});

describe('refreshToken limits', () => {
  it('refreshToken shares the join bucket: past JOIN_BURST it answers RATE_LIMITED', async () => {
    const clock = new FakeClock(Date.now());
    const server = await startServer(
      { AUTH_JWT_SECRET: SECRET, JOIN_BURST: '2', JOIN_RATE_PER_SEC: '1' },
      clock,
    );
    const b = await connect(server.url, {
      auth: { token: await signHs256({ sub: 'b' }, { now: clock.now() }) },
    });
    try {
      const t = await signHs256({ sub: 'b' }, { now: clock.now() });
      assert.equal((await request(b, 'refreshToken', { token: t })).ok, true);
      assert.equal((await request(b, 'refreshToken', { token: t })).ok, true);
      const third = await request(b, 'refreshToken', { token: t });
      assert.equal(!third.ok && third.error.code, 'RATE_LIMITED');
    } finally {
      closeAll(b);
      await server.close();
    }
  });

  it('refreshToken on a server without authentication answers VALIDATION_FAILED', async () => {
    const server = await startServer();
    const a = await connect(server.url);
    try {
      const res = await request(a, 'refreshToken', { token: await signHs256({ sub: 'a' }) });
      assert.equal(!res.ok && res.error.code, 'VALIDATION_FAILED');
      assert.match(!res.ok ? res.error.message : '', /authentication is off/);
    } finally {
      closeAll(a);
      await server.close();
    }
  });
});
