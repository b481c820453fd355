import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '@switchboard/protocol';
import {
  closeAll,
  connect,
  join,
  once,
  record,
  request,
  SDP,
  sleep,
  startCluster,
  startServer,
  until,
  type TestCluster,
  type TestServer,
} from '../support/harness';
import { SECRET, signHs256 } from '../support/tokens';

const ADMIN_TOKEN = 'admin-token-0123456789-0123456789-abcdef';

/** An admin API call: status and JSON body (undefined for 204). */
async function admin(
  url: string,
  method: string,
  path: string,
  token: string | undefined = ADMIN_TOKEN,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}/admin${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

describe('admin API', () => {
  describe('access', () => {
    it('without ADMIN_API_TOKEN and without authentication every /admin route answers 404', async () => {
      const server = await startServer();
      try {
        for (const [method, path] of [
          ['GET', '/rooms'],
          ['GET', '/rooms/r'],
          ['DELETE', '/rooms/r'],
          ['DELETE', '/rooms/r/peers/p'],
          ['POST', '/rooms/r/messages'],
        ] as const)
          assert.equal((await admin(server.url, method, path)).status, 404, `${method} ${path}`);
      } finally {
        await server.close();
      }
    });

    it('with ADMIN_API_TOKEN: no or a wrong bearer is refused 401, the token is let in', async () => {
      const server = await startServer({ ADMIN_API_TOKEN: ADMIN_TOKEN });
      try {
        const none = await admin(server.url, 'GET', '/rooms', '');
        assert.equal(none.status, 401);
        assert.deepEqual((none.body as { error: { code: string } }).error.code, ErrorCode.UNAUTHORIZED);
        assert.equal((await admin(server.url, 'GET', '/rooms', `${ADMIN_TOKEN.slice(0, -1)}x`)).status, 401);
        assert.deepEqual(await admin(server.url, 'GET', '/rooms'), { status: 200, body: { rooms: [] } });
      } finally {
        await server.close();
      }
    });

    it('with authentication on: a JWT with admin: true is let in, a valid one without it gets 403 FORBIDDEN, a bad one 401', async () => {
      const server = await startServer({ AUTH_JWT_SECRET: SECRET });
      try {
        const adminJwt = await signHs256({ sub: 'ops', admin: true });
        const userJwt = await signHs256({ sub: 'alice', room: '*' });
        assert.equal((await admin(server.url, 'GET', '/rooms', adminJwt)).status, 200);
        const forbidden = await admin(server.url, 'GET', '/rooms', userJwt);
        assert.equal(forbidden.status, 403);
        assert.equal((forbidden.body as { error: { code: string } }).error.code, ErrorCode.FORBIDDEN);
        assert.equal((await admin(server.url, 'GET', '/rooms', 'not-a-jwt')).status, 401);
        // The static token is not required when the admin grant comes from a JWT.
        assert.equal((await admin(server.url, 'GET', '/rooms', ADMIN_TOKEN)).status, 401);
      } finally {
        await server.close();
      }
    });
  });

  describe('rooms and peers', () => {
    let server: TestServer;
    before(async () => {
      server = await startServer({ ADMIN_API_TOKEN: ADMIN_TOKEN });
    });
    after(() => server.close());

    it('GET /admin/rooms and /admin/rooms/:roomId list the rooms, their peers, status and last reported link states', async () => {
      const a = await connect(server.url);
      const b = await connect(server.url);
      try {
        const before = Date.now();
        await request(a, 'joinRoom', { roomId: 'adm-1', displayName: 'Ada', metadata: { role: 'host' } });
        await join(b, 'adm-1', 'Bo');
        await request(a, 'connectionState', {
          roomId: 'adm-1',
          peerId: b.peerId,
          connectionState: 'connected',
          iceConnectionState: 'connected',
        });
        const list = await admin(server.url, 'GET', '/rooms');
        assert.equal(list.status, 200);
        const rooms = (list.body as { rooms: { roomId: string; createdAt: number; peers: number }[] }).rooms;
        const room = rooms.find((r) => r.roomId === 'adm-1');
        assert.equal(room?.peers, 2);
        assert.ok(room!.createdAt >= before - 5 && room!.createdAt <= Date.now());

        const detail = await admin(server.url, 'GET', '/rooms/adm-1');
        assert.equal(detail.status, 200);
        const peers = (detail.body as { peers: Record<string, unknown>[] }).peers;
        const ada = peers.find((p) => p.peerId === a.peerId)!;
        assert.equal(ada.displayName, 'Ada');
        assert.deepEqual(ada.metadata, { role: 'host' });
        assert.equal(ada.status, 'online');
        assert.deepEqual(ada.links, [{ peerId: b.peerId, connectionState: 'connected' }]);
        const bo = peers.find((p) => p.peerId === b.peerId)!;
        assert.deepEqual(bo.links, [{ peerId: a.peerId }]);
        assert.equal((await admin(server.url, 'GET', '/rooms/nobody-here')).status, 404);
      } finally {
        closeAll(a, b);
      }
    });

    it('DELETE a peer: it is told REMOVED and disconnected, cannot resume, the others see peerLeft removed', async () => {
      const a = await connect(server.url);
      const b = await connect(server.url);
      try {
        await join(a, 'adm-2');
        const { resumeToken } = await join(b, 'adm-2');
        const left = once(a, 'peerLeft');
        const reason = once(b, 'disconnectReason');
        const gone = new Promise<string>((resolve) => b.once('disconnect', resolve));
        assert.equal((await admin(server.url, 'DELETE', `/rooms/adm-2/peers/${b.peerId}`)).status, 204);
        assert.deepEqual(await left, { roomId: 'adm-2', peerId: b.peerId, reason: 'removed' });
        assert.equal((await reason).code, ErrorCode.REMOVED);
        assert.equal(await gone, 'io server disconnect');
        const back = await connect(server.url, { auth: { resumeToken } });
        assert.equal((await back.resumeOutcome).failed?.error.code, ErrorCode.RESUME_REJECTED);
        back.disconnect();
        assert.equal((await admin(server.url, 'DELETE', `/rooms/adm-2/peers/${b.peerId}`)).status, 404);
      } finally {
        closeAll(a, b);
      }
    });

    it('DELETE a room: every member is told roomClosed and is out of it; the room is gone from the list', async () => {
      const a = await connect(server.url);
      const b = await connect(server.url);
      try {
        await join(a, 'adm-3');
        await join(b, 'adm-3');
        const closedA = once(a, 'roomClosed');
        const closedB = once(b, 'roomClosed');
        assert.equal((await admin(server.url, 'DELETE', '/rooms/adm-3')).status, 204);
        assert.deepEqual(await closedA, { roomId: 'adm-3' });
        assert.deepEqual(await closedB, { roomId: 'adm-3' });
        const refused = await request(a, 'offer', { roomId: 'adm-3', to: b.peerId, sdp: SDP });
        assert.equal(!refused.ok && refused.error.code, ErrorCode.NOT_IN_ROOM);
        const rooms = (await admin(server.url, 'GET', '/rooms')).body as { rooms: { roomId: string }[] };
        assert.equal(
          rooms.rooms.some((r) => r.roomId === 'adm-3'),
          false,
        );
        // Still connected, and free to join again.
        await join(a, 'adm-3');
        assert.equal((await admin(server.url, 'DELETE', '/rooms/no-such-room')).status, 404);
      } finally {
        closeAll(a, b);
      }
    });

    it('POST a message reaches the whole room, or one peer with to; bad bodies are refused', async () => {
      const a = await connect(server.url);
      const b = await connect(server.url);
      try {
        await join(a, 'adm-4');
        await join(b, 'adm-4');
        const atA = record(a, 'serverMessage');
        const atB = record(b, 'serverMessage');
        const payload = { kind: 'notice', text: 'recording starts' };
        assert.equal(
          (await admin(server.url, 'POST', '/rooms/adm-4/messages', ADMIN_TOKEN, { payload })).status,
          202,
        );
        assert.equal(
          (
            await admin(server.url, 'POST', '/rooms/adm-4/messages', ADMIN_TOKEN, {
              payload: 1,
              to: b.peerId,
            })
          ).status,
          202,
        );
        await until(() => atA.length === 1 && atB.length === 2);
        await sleep(50);
        assert.deepEqual(atA, [{ roomId: 'adm-4', payload }]);
        assert.deepEqual(atB, [
          { roomId: 'adm-4', payload },
          { roomId: 'adm-4', payload: 1, to: b.peerId },
        ]);
        const big = await admin(server.url, 'POST', '/rooms/adm-4/messages', ADMIN_TOKEN, {
          payload: 'x'.repeat(5000),
        });
        assert.equal(big.status, 413);
        assert.equal((await admin(server.url, 'POST', '/rooms/adm-4/messages', ADMIN_TOKEN, {})).status, 400);
        assert.equal(
          (await admin(server.url, 'POST', '/rooms/adm-4/messages', ADMIN_TOKEN, { payload: 1, extra: 2 }))
            .status,
          400,
        );
        assert.equal(
          (
            await admin(server.url, 'POST', '/rooms/adm-4/messages', ADMIN_TOKEN, {
              payload: 1,
              to: 'stranger',
            })
          ).status,
          404,
        );
      } finally {
        closeAll(a, b);
      }
    });
  });

  describe('on two instances', () => {
    let cluster: TestCluster;
    before(async () => {
      cluster = await startCluster(2, { ADMIN_API_TOKEN: ADMIN_TOKEN });
    });
    after(() => cluster.close());

    it('instance A lists and acts on peers connected to B: removal disconnects the peer on B, messages reach it', async () => {
      const [A, B] = cluster.nodes;
      const a = await connect(A!.url);
      const b = await connect(B!.url);
      try {
        await join(a, 'adm-x');
        await join(b, 'adm-x');
        const detail = (await admin(A!.url, 'GET', '/rooms/adm-x')).body as { peers: { peerId: string }[] };
        assert.deepEqual(detail.peers.map((p) => p.peerId).sort(), [a.peerId, b.peerId].sort());
        const message = once(b, 'serverMessage');
        assert.equal(
          (await admin(A!.url, 'POST', '/rooms/adm-x/messages', ADMIN_TOKEN, { payload: 'hi', to: b.peerId }))
            .status,
          202,
        );
        assert.deepEqual(await message, { roomId: 'adm-x', payload: 'hi', to: b.peerId });
        const left = once(a, 'peerLeft');
        const gone = new Promise<string>((resolve) => b.once('disconnect', resolve));
        assert.equal((await admin(A!.url, 'DELETE', `/rooms/adm-x/peers/${b.peerId}`)).status, 204);
        assert.equal(await gone, 'io server disconnect');
        assert.deepEqual(await left, { roomId: 'adm-x', peerId: b.peerId, reason: 'removed' });
      } finally {
        closeAll(a, b);
      }
    });
  });
});
