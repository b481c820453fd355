import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeAll, connect, join, startServer, type ConnectedClient, metric } from '../support/harness';

/** Connects with `origin` (none when undefined); resolves the client or the handshake error. */
async function tryConnect(url: string, origin?: string): Promise<ConnectedClient | Error> {
  try {
    return await connect(url, origin === undefined ? {} : { origin });
  } catch (err) {
    return err as Error;
  }
}

describe('origin check on the WebSocket upgrade', () => {
  it('CORS_ORIGIN=https://good.example: Origin good connects and joins, evil and "null" are refused (counted), no Origin connects', async () => {
    const server = await startServer({ CORS_ORIGIN: 'https://other.example, https://good.example' });
    const clients: ConnectedClient[] = [];
    try {
      const good = await tryConnect(server.url, 'https://good.example');
      assert.ok(!(good instanceof Error), String(good));
      clients.push(good);
      await join(good, 'origin');

      for (const origin of [
        'https://evil.example',
        'null',
        'https://good.example.evil.example',
        'http://good.example',
      ]) {
        const evil = await tryConnect(server.url, origin);
        assert.ok(evil instanceof Error, `${origin} was let in`);
        assert.equal(evil.message, 'websocket error');
      }
      assert.equal(await metric(server, 'switchboard_connections_refused_total{reason="origin"}'), 4);

      // Non-browser clients send no Origin; they are not what the check is about (see ConnectionAdmission).
      const native = await tryConnect(server.url);
      assert.ok(!(native instanceof Error), String(native));
      clients.push(native);
    } finally {
      closeAll(...clients);
      await server.close();
    }
  });

  it('CORS_ORIGIN=* lets any Origin connect', async () => {
    const server = await startServer({ CORS_ORIGIN: '*' });
    const clients: ConnectedClient[] = [];
    try {
      for (const origin of ['https://evil.example', 'null', undefined]) {
        const client = await tryConnect(server.url, origin);
        assert.ok(!(client instanceof Error), `${origin}: ${String(client)}`);
        clients.push(client);
      }
      assert.equal(await metric(server, 'switchboard_connections_refused_total{reason="origin"}'), 0);
    } finally {
      closeAll(...clients);
      await server.close();
    }
  });
});
