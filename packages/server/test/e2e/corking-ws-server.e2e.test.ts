import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Server, type Socket } from 'socket.io';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { CorkingWebSocketServer } from '../../src/common/corking-ws-server';
import { until } from '../support/harness';

interface Counted {
  socket: Socket;
  /** Times the TCP socket handed data to the kernel (one `_write` or `_writev` each). */
  writes: () => number;
}

// A real Socket.IO server on the corking `ws` engine, and real clients.
describe('corking WebSocket server', () => {
  let http: HttpServer;
  let server: Server;
  let url: string;
  const connected: Counted[] = [];

  before(async () => {
    http = createServer();
    server = new Server(http, { transports: ['websocket'], wsEngine: CorkingWebSocketServer });
    server.on('connection', (socket) => {
      // The engine.io transport's `ws` WebSocket and, under it, the TCP socket.
      const tcp = (socket.conn as unknown as { transport: { socket: { _socket: NetSocket } } }).transport
        .socket._socket as NetSocket & { _write: unknown; _writev: unknown };
      let writes = 0;
      for (const name of ['_write', '_writev'] as const) {
        const original = tcp[name] as (...a: unknown[]) => unknown;
        tcp[name] = function (this: unknown, ...a: unknown[]) {
          writes++;
          return original.apply(this, a);
        };
      }
      connected.push({ socket, writes: () => writes });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const address = http.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  async function connect(): Promise<{ client: ClientSocket; got: number[]; server: Counted }> {
    const n = connected.length;
    const client = connectClient(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    const got: number[] = [];
    client.on('m', (v: number) => got.push(v));
    await until(() => client.connected && connected.length > n, 2000, 'connected');
    return { client, got, server: connected[n]! };
  }

  it('frames emitted in one turn arrive in order and leave in one write', async () => {
    const { client, got, server: s } = await connect();
    try {
      await new Promise((r) => setTimeout(r, 50)); // let the handshake's writes settle
      const before = s.writes();
      for (let i = 0; i < 20; i++) s.socket.emit('m', i);
      await until(() => got.length === 20, 2000, 'all frames');
      assert.deepEqual(
        got,
        Array.from({ length: 20 }, (_, i) => i),
      );
      // Without corking each frame is its own write: 20 (engine.io batches the rest into a second turn).
      assert.ok(s.writes() - before <= 2, `${s.writes() - before} writes for 20 frames`);
    } finally {
      client.disconnect();
    }
  });

  it('a socket destroyed while corked does not hold back another socket', async () => {
    const a = await connect();
    const b = await connect();
    try {
      a.server.socket.emit('m', 1);
      // Destroyed in the same turn, with its frame still corked.
      (
        a.server.socket.conn as unknown as { transport: { socket: { _socket: NetSocket } } }
      ).transport.socket._socket.destroy();
      b.server.socket.emit('m', 2);
      await until(() => b.got.length === 1, 2000, 'the other socket flushed');
      assert.deepEqual(b.got, [2]);
      await until(() => !a.client.connected, 2000, 'the destroyed socket closed');
    } finally {
      a.client.disconnect();
      b.client.disconnect();
    }
  });
});
