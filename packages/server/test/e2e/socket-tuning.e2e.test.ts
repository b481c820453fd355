import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientConfigResponse } from '@switchboard/protocol';
import { closeAll, connect, join, rawEmit, request, SDP, startServer } from '../support/harness';

describe('Socket.IO tuning', () => {
  it('GET /webrtc/config publishes the reconnection and ping settings from the environment', async () => {
    const server = await startServer({
      PING_INTERVAL: '7000',
      PING_TIMEOUT: '3000',
      RECONNECTION_DELAY: '250',
      RECONNECTION_DELAY_MAX: '4000',
      RESUME_WINDOW_MS: '20000',
    });
    try {
      const res = await fetch(`${server.url}/webrtc/config`);
      const body = (await res.json()) as ClientConfigResponse;
      assert.deepEqual(body, {
        namespace: '/webrtc',
        reconnectionDelay: 250,
        reconnectionDelayMax: 4000,
        pingInterval: 7000,
        pingTimeout: 3000,
        resumeWindowMs: 20000,
        maxSdpBytes: 65536,
        maxPeersPerRoom: 16,
        signalRate: { perSecond: 200, burst: 600 },
        authRequired: false,
      });
      // The engine really runs with them: the handshake advertises the ping settings.
      const client = await connect(server.url);
      const engine = (
        client.io as unknown as {
          engine: {
            _pingInterval?: number;
            pingInterval?: number;
            _pingTimeout?: number;
            pingTimeout?: number;
          };
        }
      ).engine;
      assert.equal(engine._pingInterval ?? engine.pingInterval, 7000);
      assert.equal(engine._pingTimeout ?? engine.pingTimeout, 3000);
      closeAll(client);
    } finally {
      await server.close();
    }
  });

  it('a message larger than MAX_HTTP_BUFFER_SIZE closes only that connection', async () => {
    // The buffer must hold an offer at MAX_SDP_BYTES (2 × 8192 + 4096 = 20480).
    const server = await startServer({ MAX_SDP_BYTES: '8192', MAX_HTTP_BUFFER_SIZE: '20480' });
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await join(a, 'big');
      await join(b, 'big');
      const closed = new Promise<string>((r) => a.on('disconnect', (reason) => r(reason)));
      rawEmit(a, 'offer', { roomId: 'big', to: b.peerId, sdp: SDP + 'a=x\r\n'.repeat(5000) });
      assert.equal(await closed, 'transport close');
      const c = await connect(server.url);
      await join(c, 'big');
      assert.equal((await request(c, 'offer', { roomId: 'big', to: b.peerId, sdp: SDP })).ok, true);
      closeAll(c);
    } finally {
      closeAll(a, b);
      await server.close();
    }
  });
});
