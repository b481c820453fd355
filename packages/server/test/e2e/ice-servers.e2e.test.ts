import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import type { IceServersResponse } from '@switchboard/protocol';
import { closeAll, connect, join, startServer } from '../support/harness';

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  return (await res.json()) as T;
}

describe('ICE servers', () => {
  it('GET /webrtc/ice-servers returns Google STUN by default, no TURN', async () => {
    const server = await startServer({ STUN_URLS: undefined });
    try {
      const body = await getJson<IceServersResponse>(`${server.url}/webrtc/ice-servers`);
      assert.deepEqual(body.iceServers, [{ urls: ['stun:stun.l.google.com:19302'] }]);
      assert.equal(body.hasTurn, false);
      assert.equal(body.ttl, 3600);
      assert.ok(Math.abs(body.expiresAt - (Date.now() + 3600_000)) < 5000);
    } finally {
      await server.close();
    }
  });

  it('TURN_SECRET mints fresh TURN REST credentials that verify as coturn checks them, also in the joinRoom ack', async () => {
    const secret = 'north-sea-secret';
    const server = await startServer({
      STUN_URLS: 'stun:stun.example.test:3478',
      TURN_URL: 'turn:turn.example.test:3478?transport=udp, turns:turn.example.test:5349?transport=tcp',
      TURN_SECRET: secret,
      TURN_TTL: '600',
    });
    const client = await connect(server.url);
    try {
      const one = await getJson<IceServersResponse>(`${server.url}/webrtc/ice-servers`);
      const two = await getJson<IceServersResponse>(`${server.url}/webrtc/ice-servers`);
      assert.equal(one.hasTurn, true);
      assert.equal(one.ttl, 600);
      const turn = one.iceServers[1]!;
      assert.deepEqual(turn.urls, [
        'turn:turn.example.test:3478?transport=udp',
        'turns:turn.example.test:5349?transport=tcp',
      ]);
      const [expiry, user] = turn.username!.split(':');
      const nowSec = Math.floor(Date.now() / 1000);
      assert.ok(Math.abs(Number(expiry) - (nowSec + 600)) <= 2, `expiry ${expiry}`);
      assert.ok(user && user.length > 0);
      assert.equal(turn.credential, createHmac('sha1', secret).update(turn.username!).digest('base64'));
      assert.notEqual(two.iceServers[1]!.username, turn.username, 'each caller gets its own credentials');

      const ack = await join(client, 'turn-room');
      const fromAck = ack.iceServers.find((s) => String(s.urls).startsWith('turn'))!;
      assert.equal(fromAck.username!.split(':')[1], client.peerId);
      assert.equal(fromAck.credential, createHmac('sha1', secret).update(fromAck.username!).digest('base64'));
      assert.ok(ack.iceServersExpiresAt > Date.now());
    } finally {
      closeAll(client);
      await server.close();
    }
  });

  it('static TURN credentials are passed through', async () => {
    const server = await startServer({
      TURN_URL: 'turn:10.0.0.1:3478',
      TURN_USERNAME: 'u',
      TURN_PASSWORD: 'p',
    });
    try {
      const body = await getJson<IceServersResponse>(`${server.url}/webrtc/ice-servers`);
      assert.deepEqual(body.iceServers, [{ urls: ['turn:10.0.0.1:3478'], username: 'u', credential: 'p' }]);
      assert.equal(body.hasTurn, true);
    } finally {
      await server.close();
    }
  });
});
