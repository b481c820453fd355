import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignalingService } from '../../src/webrtc/signaling.service';
import { closeAll, connect, join, once, request, startServer } from '../support/harness';
import { spawnServer } from '../support/process';

describe('graceful shutdown', () => {
  it('SIGTERM tells connected clients to reconnect, closes their transports and exits 0 within the bound', async () => {
    const server = await spawnServer({ SHUTDOWN_TIMEOUT_MS: '3000', RECONNECTION_DELAY: '321' });
    const a = await connect(server.url);
    try {
      await join(a, 'drain');
      const notice = once(a, 'serverShutdown', 3000);
      const closed = new Promise<string>((r) => a.on('disconnect', (reason) => r(reason)));
      const t0 = Date.now();
      server.child.kill('SIGTERM');
      assert.deepEqual(await notice, { reconnectAfterMs: 321 });
      // "transport close" (not "io server disconnect") is what makes socket.io-client reconnect by itself.
      assert.equal(await closed, 'transport close');
      assert.equal(await server.exited, 0);
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
      assert.match(server.output(), /SIGTERM received: draining/);
    } finally {
      closeAll(a);
      server.child.kill('SIGKILL');
    }
  });

  it('while draining, joins are refused SERVER_SHUTTING_DOWN, new connections are refused and /ready is 503', async () => {
    const server = await startServer();
    const a = await connect(server.url);
    try {
      server.sb.app.get(SignalingService).startDraining();
      const res = await request(a, 'joinRoom', { roomId: 'late' });
      assert.equal(!res.ok && res.error.code, 'SERVER_SHUTTING_DOWN');
      await assert.rejects(connect(server.url), /SERVER_SHUTTING_DOWN/);
      const ready = await fetch(`${server.url}/ready`);
      assert.equal(ready.status, 503);
    } finally {
      closeAll(a);
      await server.close();
    }
  });
});
