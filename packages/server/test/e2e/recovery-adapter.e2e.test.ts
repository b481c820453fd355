import assert from 'node:assert/strict';
import { createServer, type Server as HttpServer } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Server, type Namespace } from 'socket.io';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { createRecoveryAdapter } from '../../src/common/recovery-adapter';
import { sleep, until } from '../support/harness';

// The adapter on its own, under a real Socket.IO server and client: what a dropped socket gets back.
const MAX = 5;
// Small enough that a few packets of ~130 bytes reach the cap.
const RING_BYTES = 1024;
// Four chunks of 256 B: one ~130 B test packet per chunk.
const CHUNK_BYTES = 256;

describe('recovery adapter', () => {
  let http: HttpServer;
  let server: Server;
  let nsp: Namespace;
  let url: string;

  before(async () => {
    http = createServer();
    server = new Server(http, {
      transports: ['websocket'],
      connectionStateRecovery: { maxDisconnectionDuration: 5000, skipMiddlewares: true },
      adapter: createRecoveryAdapter({
        maxDisconnectionMs: 5000,
        retentionMs: 10_000,
        maxPacketsPerRoom: MAX,
        bufferBytes: RING_BYTES,
        chunkBytes: CHUNK_BYTES,
        unloggedEvents: new Set(['connection-scoped']),
      }),
    });
    nsp = server.of('/t');
    nsp.on('connection', (socket) => {
      if (!socket.recovered) void socket.join(['mine', 'shared']);
      // A broadcast right away gives the client its first recovery offset.
      nsp.to('mine').emit('hello');
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const address = http.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/t`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  // The adapter's periodic prune, run now (its timer runs every 5 s here).
  function prune(): void {
    (nsp.adapter as unknown as { prune(): void }).prune();
  }

  async function connected(): Promise<{ client: ClientSocket; got: string[] }> {
    const client = connectClient(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnectionDelay: 300,
      reconnectionDelayMax: 300,
      randomizationFactor: 0,
    });
    const got: string[] = [];
    client.on('m', (v: string) => got.push(v));
    await new Promise<void>((r) => client.once('hello', () => r()));
    return { client, got };
  }

  // Drops the transport and waits until the server has persisted the session.
  async function drop(client: ClientSocket): Promise<void> {
    const before = nsp.sockets.size;
    (client.io as unknown as { engine: { close(): void } }).engine.close();
    await until(() => nsp.sockets.size < before, 2000, 'server noticed the drop');
  }

  it('a socket that comes back gets the packets of its rooms it missed, in order, once', async () => {
    const { client, got } = await connected();
    try {
      await drop(client);
      for (let i = 1; i <= 3; i++) nsp.to('mine').emit('m', `mine-${i}`);
      nsp.to('shared').emit('m', 'shared-1');
      nsp.to(['mine', 'shared']).emit('m', 'both'); // one packet to two rooms: replayed once
      nsp.to('someone-else').emit('m', 'not-mine');
      nsp.to('shared').except('mine').emit('m', 'excluded');
      await until(() => client.connected, 3000, 'reconnect');
      assert.equal(client.recovered, true);
      await sleep(50);
      assert.deepEqual(got, ['mine-1', 'mine-2', 'mine-3', 'shared-1', 'both']);
    } finally {
      client.disconnect();
    }
  });

  it('a socket that missed more than the per-room cap is not recovered, and retention stays bounded', async () => {
    const { client } = await connected();
    try {
      await drop(client);
      for (let i = 1; i <= MAX + 3; i++) nsp.to('mine').emit('m', `x-${i}`);
      const adapter = nsp.adapter as unknown as { retainedPackets: number };
      assert.ok(adapter.retainedPackets <= 2 * MAX, `retained ${adapter.retainedPackets}`);
      await until(() => client.connected, 3000, 'reconnect');
      // Replaying only part of what was missed would silently lose signals: a fresh session instead.
      assert.equal(client.recovered, false);
    } finally {
      client.disconnect();
    }
  });

  it('a socket whose missed packets were overwritten (memory at its cap, every chunk referenced) is not recovered', async () => {
    const { client, got } = await connected();
    try {
      await drop(client);
      // Packets of ~130 B to another room take the 4 chunks of the 1 KiB cap and then overwrite the
      // oldest ones, which hold the two to 'mine' (their log still references them)...
      nsp.to('mine').emit('m', `early-${'x'.repeat(100)}`);
      nsp.to('mine').emit('m', `early-${'y'.repeat(100)}`);
      for (let i = 0; i < 8; i++) nsp.to('elsewhere').emit('m', 'z'.repeat(100));
      await until(() => client.connected, 3000, 'reconnect');
      // ...so replaying the rest would silently lose them: a fresh session instead.
      assert.equal(client.recovered, false);
      assert.deepEqual(got, []);
    } finally {
      client.disconnect();
    }
  });

  it('a socket whose missed packets were written into reused chunks gets them back', async () => {
    // Packets beyond the per-room cap are released, so their chunks are written again.
    for (let i = 0; i < 6; i++) nsp.to('elsewhere').emit('m', 'w'.repeat(100));
    const { client, got } = await connected();
    try {
      await drop(client);
      nsp.to('mine').emit('m', `late-1-${'é'.repeat(50)}`); // multi-byte text survives the round trip
      nsp.to('mine').emit('m', 'late-2');
      await until(() => client.connected, 3000, 'reconnect');
      assert.equal(client.recovered, true);
      await until(() => got.length === 2, 1000, 'replay');
      assert.deepEqual(got, [`late-1-${'é'.repeat(50)}`, 'late-2']);
    } finally {
      client.disconnect();
    }
  });

  it('offsets are base 36 and parsed back; a socket that comes back with one the server never sent is not recovered', async () => {
    // Enough packets first that the offsets' sequence part has letters in it.
    for (let i = 0; i < 40; i++) nsp.to('elsewhere').emit('m', 'filler');
    const { client, got } = await connected();
    const state = client as unknown as { _lastOffset: string };
    try {
      assert.match(state._lastOffset, /^[0-9a-f]{8}\.[0-9a-z]+$/);
      // Past 9, a number's base-36 digits never read as the same number in decimal.
      const seq = state._lastOffset.split('.')[1]!;
      assert.ok(parseInt(seq, 36) > 40 && seq !== String(parseInt(seq, 36)), `offset sequence '${seq}'`);
      await drop(client);
      nsp.to('mine').emit('m', 'missed');
      await until(() => client.connected, 3000, 'reconnect');
      assert.equal(client.recovered, true);
      await until(() => got.length === 1, 1000, 'replay');
      for (const forged of ['-1', 'ZZ', '12345678901', '']) {
        await drop(client);
        state._lastOffset = `${state._lastOffset.split('.')[0]!}.${forged}`;
        await until(() => client.connected, 3000, 'reconnect');
        assert.equal(client.recovered, false, `offset sequence '${forged}'`);
      }
    } finally {
      client.disconnect();
    }
  });

  it('a prune while a dropped socket is away keeps the logs of its rooms: it gets what it missed before the prune', async () => {
    const { client, got } = await connected();
    try {
      await drop(client);
      // Nobody else is in 'mine' now; the persisted session is what keeps its log.
      nsp.to('mine').emit('m', 'before-prune');
      prune();
      nsp.to('mine').emit('m', 'after-prune');
      await until(() => client.connected, 3000, 'reconnect');
      assert.equal(client.recovered, true);
      await until(() => got.length === 2, 1000, 'replay');
      assert.deepEqual(got, ['before-prune', 'after-prune']);
    } finally {
      client.disconnect();
    }
  });

  it('an unlogged event advances the offset but is not replayed', async () => {
    const { client, got } = await connected();
    const scoped: string[] = [];
    client.on('connection-scoped', (v: string) => scoped.push(v));
    try {
      nsp.to('mine').emit('connection-scoped', 'seen-live');
      await until(() => scoped.length === 1, 1000, 'live event');
      await drop(client);
      nsp.to('mine').emit('connection-scoped', 'missed');
      nsp.to('mine').emit('m', 'after');
      await until(() => client.connected, 3000, 'reconnect');
      assert.equal(client.recovered, true);
      await until(() => got.length === 1, 1000, 'replay');
      assert.deepEqual(got, ['after']);
      assert.deepEqual(scoped, ['seen-live']);
    } finally {
      client.disconnect();
    }
  });
});

describe('recovery adapter memory', () => {
  type AdapterView = { allocatedBytes: number; retainedPackets: number; prune(): void };

  // No client needed: the logs and their memory are the adapter's own. 1 KiB chunks, 64 KiB cap.
  async function withNamespace(fn: (nsp: Namespace, adapter: AdapterView) => void): Promise<void> {
    const server = new Server(createServer(), {
      transports: ['websocket'],
      connectionStateRecovery: {},
      adapter: createRecoveryAdapter({
        maxDisconnectionMs: 5000,
        retentionMs: 10_000,
        maxPacketsPerRoom: MAX,
        bufferBytes: 64 * 1024,
        chunkBytes: 1024,
      }),
    });
    try {
      const nsp = server.of('/m');
      fn(nsp, nsp.adapter as unknown as AdapterView);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  }

  it('packets dropped from the logs release their chunks: 2,000 packets to one room keep 2 of 64 chunks allocated', () =>
    withNamespace((nsp, adapter) => {
      for (let i = 0; i < 2000; i++) nsp.to('busy').emit('m', `${i}`.padEnd(100, '.'));
      assert.equal(adapter.retainedPackets, MAX);
      // Without the releases every chunk would stay referenced and the allocation would reach the cap.
      assert.equal(adapter.allocatedBytes, 2 * 1024);
    }));

  it('a room nobody is in and no disconnected session can come back to loses its log at the next prune', () =>
    withNamespace((nsp, adapter) => {
      // One packet each to 30 rooms nobody is in: ~4 KiB of packets, every chunk referenced.
      for (let i = 0; i < 30; i++) nsp.to(`left-behind-${i}`).emit('m', `${i}`.padEnd(100, '.'));
      assert.equal(adapter.retainedPackets, 30);
      const allocated = adapter.allocatedBytes;
      adapter.prune();
      assert.equal(adapter.retainedPackets, 0);
      // Their chunks were released: as many packets again reuse them instead of adding memory.
      for (let i = 0; i < 30; i++) nsp.to('busy').emit('m', `${i}`.padEnd(100, '.'));
      assert.equal(adapter.allocatedBytes, allocated);
    }));
});
