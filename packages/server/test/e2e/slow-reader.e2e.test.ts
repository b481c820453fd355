import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket as EngineSocket } from 'engine.io';
import type { WebSocket } from 'ws';
import { WebrtcGateway } from '../../src/webrtc/webrtc.gateway';
import {
  candidate,
  closeAll,
  connect,
  join,
  once,
  rawEmit,
  record,
  request,
  sleep,
  startServer,
  until,
  type Client,
  type TestServer,
  metric,
} from '../support/harness';
import { RawClient } from '../support/raw-client';

const CAP = 256 * 1024;
const STALL_MS = 2000;
/** The guard's sweep period for STALL_MS: a quarter of it (capped at 1 s). */
const SWEEP_MS = STALL_MS / 4;
/** Largest growth of the test process's (server and clients) RSS allowed while a reader is flooded. */
const RSS_BOUND = 96 * 1024 * 1024;
const HEAP_BOUND = 64 * 1024 * 1024;

/** A unique candidate of about 1 KB (de-duplication forwards each once): fills buffers fast. */
function bigCandidate(n: number) {
  return {
    candidate: `candidate:${n} 1 udp 2122260223 192.0.2.1 ${1024 + (n % 60000)} typ host generation 0 x ${'y'.repeat(900)}`,
    sdpMid: '0',
    sdpMLineIndex: 0,
    usernameFragment: 'flood',
  };
}

/** Value of one sample in the Prometheus text of GET /metrics (0 when absent). */
const forced = (reason: string) => `switchboard_forced_disconnects_total{reason="${reason}"}`;
const TRACKED = 'switchboard_internal_entries{collection="outbound_tracked"}';

/**
 * What the server holds in this process for the raw client's connection: its engine socket, found by
 * the sid of the open packet, and the `ws` socket under it. White-box, to know when the kernel's
 * buffers are full and the server's own begin to fill.
 */
function serverSide(server: TestServer, client: RawClient): { conn: EngineSocket; ws: WebSocket } {
  const engine = server.sb.app.get(WebrtcGateway).namespace?.server.engine;
  const clients = (engine as unknown as { clients: Record<string, EngineSocket> }).clients;
  const conn = clients[client.open?.sid ?? ''];
  assert.ok(conn, 'the server knows the raw client');
  return { conn, ws: (conn.transport as unknown as { socket: WebSocket }).socket };
}

/** Peak growth of RSS and heap over a baseline, sampled every 10 ms until stopped. */
function sampleMemory(): { stop(): { rss: number; heap: number } } {
  const base = process.memoryUsage();
  let rss = 0;
  let heap = 0;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss - base.rss);
    heap = Math.max(heap, m.heapUsed - base.heapUsed);
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      return { rss, heap };
    },
  };
}

/** An ack body, loosely typed: `{ ok: true, queued?: true }` or `{ ok: false, error }`. */
type Ack = Record<string, unknown>;

/**
 * Sends `total` big candidates from `from` to `to` in room `roomId`, 99 without an ack then one with,
 * so the sender never runs ahead of the server; stops early when `stop` returns true after an ack.
 * Returns how many were sent and the last ack.
 */
async function flood(
  from: Client,
  roomId: string,
  to: string,
  total: number,
  stop: (ack: Ack) => boolean = () => false,
  first = 0,
): Promise<{ sent: number; last: Ack }> {
  let n = first;
  let last: Ack = {};
  while (n < first + total) {
    for (let i = 0; i < 99 && n < first + total - 1; i++) {
      rawEmit(from, 'iceCandidate', { roomId, to, candidate: bigCandidate(n++) });
    }
    last = (await request(from, 'iceCandidate', { roomId, to, candidate: bigCandidate(n++) })) as Ack;
    if (stop(last)) break;
  }
  return { sent: n - first, last };
}

describe('outbound backpressure (slow readers)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      MAX_OUTBOUND_BUFFER_BYTES: String(CAP),
      // A cap this small needs small SDPs: it must hold the largest offer twice.
      MAX_SDP_BYTES: '16384',
      OUTBOUND_STALL_TIMEOUT_MS: String(STALL_MS),
      // Heartbeats fast enough that a client without pongs would be gone within 2.5 s, well inside
      // the flood, yet slow enough that the honest clients of this busy process keep up (at 500/500
      // a starved test process lost them on a loaded machine).
      PING_INTERVAL: '1000',
      PING_TIMEOUT: '1500',
      // A dropped peer is reported `peerLeft` 1 s later.
      RESUME_WINDOW_MS: '1000',
      // The flood is the point here; per-connection signal rate limits are tested elsewhere.
      SIGNAL_RATE_PER_SEC: '0',
    });
  });
  after(() => server.close());

  it(
    'a reader that stops reading but sends pongs, flooded by its partner, is disconnected as slow_consumer; memory stays bounded and other pairs keep relaying',
    { timeout: 60_000 },
    async () => {
      const slowBefore = await metric(server, forced('slow_consumer'));
      const reader = await RawClient.connect(server.url);
      const sender = await connect(server.url);
      const honestA = await connect(server.url, { localAddress: '127.0.0.2' });
      const honestB = await connect(server.url, { localAddress: '127.0.0.2' });
      let honestRunning = true;
      try {
        assert.equal(((await reader.request('joinRoom', { roomId: 'flood' })) as { ok: boolean }).ok, true);
        await join(sender, 'flood');
        await join(honestA, 'honest');
        await join(honestB, 'honest');
        const left = once(sender, 'peerLeft', 30_000);
        left.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
        reader.startPongs(100);
        reader.stopReading();

        // An honest pair on another IP relays with acks throughout.
        const atB = record(honestB, 'iceCandidate');
        let honestAcked = 0;
        let honestSlowest = 0;
        const honest = (async () => {
          for (let n = 0; honestRunning; n++) {
            const t0 = Date.now();
            const res = await request(honestA, 'iceCandidate', {
              roomId: 'honest',
              to: honestB.peerId,
              candidate: candidate(10_000 + n, 'honest'),
            });
            assert.deepEqual(res, { ok: true });
            honestSlowest = Math.max(honestSlowest, Date.now() - t0);
            honestAcked++;
            await sleep(20);
          }
        })();
        honest.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled

        const memory = sampleMemory();
        const t0 = Date.now();
        // Once the reader's connection is gone, signals to it are held for its resume (`queued`).
        // Unguarded, the reader is never dropped: the flood gives up after 15 s (some 150 MB sent).
        const { sent, last } = await flood(
          sender,
          'flood',
          reader.peerId,
          1_000_000,
          (ack) => ack.ok !== true || ack.queued === true || Date.now() - t0 > 15_000,
        );
        const floodMs = Date.now() - t0;
        const peak = memory.stop();
        const during = honestAcked;
        console.log(
          `slow consumer: flood of ${sent} signals in ${floodMs} ms; peak growth RSS ${mib(peak.rss)} MiB, heap ${mib(peak.heap)} MiB; honest acks during the flood ${during}, slowest ${honestSlowest} ms`,
        );
        assert.ok(peak.rss < RSS_BOUND, `RSS grew by ${mib(peak.rss)} MiB (bound ${mib(RSS_BOUND)})`);
        assert.ok(peak.heap < HEAP_BOUND, `heap grew by ${mib(peak.heap)} MiB (bound ${mib(HEAP_BOUND)})`);
        assert.equal(last.queued, true, `the reader was dropped (last ack ${JSON.stringify(last)})`);
        assert.equal(await metric(server, forced('slow_consumer')), slowBefore + 1);
        assert.deepEqual(await left, { roomId: 'flood', peerId: reader.peerId, reason: 'timeout' });

        // The honest pair relayed during the flood and still does after it.
        await until(() => honestAcked >= during + 5, 3000, 'honest relays after the flood');
        honestRunning = false;
        await honest;
        await until(() => atB.length === honestAcked, 2000, 'honest candidates delivered');
        assert.ok(during > 0, 'honest pair relayed during the flood');
      } finally {
        honestRunning = false;
        reader.terminate();
        closeAll(sender, honestA, honestB);
      }
    },
  );

  it(
    'a reader that stops reading and gets only a trickle is closed as stalled after about the stall timeout, though it sends pongs',
    { timeout: 30_000 },
    async () => {
      const slowBefore = await metric(server, forced('slow_consumer'));
      const stalledBefore = await metric(server, forced('stalled'));
      const reader = await RawClient.connect(server.url);
      const sender = await connect(server.url);
      let trickle: NodeJS.Timeout | undefined;
      try {
        assert.equal(((await reader.request('joinRoom', { roomId: 'trickle' })) as { ok: boolean }).ok, true);
        await join(sender, 'trickle');
        const left = once(sender, 'peerLeft', 15_000);
        left.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
        reader.startPongs(100);
        reader.stopReading();
        const { ws } = serverSide(server, reader);

        // Fill the kernel's buffers in small steps, until the server starts holding bytes itself.
        let n = 0;
        while (ws.bufferedAmount === 0) {
          assert.ok(n < 100_000, 'the kernel buffers filled');
          n += (await flood(sender, 'trickle', reader.peerId, 20, undefined, n)).sent;
          await sleep(5);
        }
        const stuckAt = Date.now();
        const held = ws.bufferedAmount;
        assert.ok(held < CAP / 2, `${held} bytes held, well under the cap`);

        // Then a trickle: one small candidate every 200 ms, while pongs keep the heartbeat alive.
        let port = 20_000;
        trickle = setInterval(() => {
          rawEmit(sender, 'iceCandidate', {
            roomId: 'trickle',
            to: reader.peerId,
            candidate: candidate(port++, 't'),
          });
        }, 200);
        await until(
          async () => (await metric(server, forced('stalled'))) === stalledBefore + 1,
          STALL_MS + 2 * SWEEP_MS + 3000,
          'a stalled close',
        );
        const elapsed = Date.now() - stuckAt;
        // Past PING_INTERVAL + PING_TIMEOUT: the volunteered pongs kept the heartbeat alive, and only
        // the guard noticed that nothing was read.
        assert.ok(elapsed >= STALL_MS - 100, `closed after ${elapsed} ms, not before the stall timeout`);
        assert.ok(elapsed <= STALL_MS + 2 * SWEEP_MS + 1000, `closed after ${elapsed} ms`);
        assert.equal(await metric(server, forced('slow_consumer')), slowBefore);
        assert.ok(port > 20_000 + STALL_MS / 200 - 3, 'the trickle ran throughout');
        assert.deepEqual(await left, { roomId: 'trickle', peerId: reader.peerId, reason: 'timeout' });
        console.log(
          `stalled: ${n} signals filled the kernel buffers; ${held} bytes held; closed ${elapsed} ms later`,
        );
      } finally {
        clearInterval(trickle);
        reader.terminate();
        closeAll(sender);
      }
    },
  );

  it('a client that reads normally under the same load is never closed', { timeout: 30_000 }, async () => {
    const slowBefore = await metric(server, forced('slow_consumer'));
    const stalledBefore = await metric(server, forced('stalled'));
    const reader = await RawClient.connect(server.url);
    const sender = await connect(server.url);
    try {
      assert.equal(((await reader.request('joinRoom', { roomId: 'reading' })) as { ok: boolean }).ok, true);
      await join(sender, 'reading');
      let received = 0;
      reader.on('iceCandidate', () => received++);
      const { sent } = await flood(sender, 'reading', reader.peerId, 2000);
      await until(() => received === sent, 5000, 'every signal received');
      // Past the stall timeout, answering pings the ordinary way: still connected, still served.
      await sleep(STALL_MS + 2 * SWEEP_MS);
      assert.ok(reader.isOpen);
      assert.deepEqual(await reader.request('leaveRoom', { roomId: 'reading' }), { ok: true });
      assert.equal(await metric(server, forced('slow_consumer')), slowBefore);
      assert.equal(await metric(server, forced('stalled')), stalledBefore);
    } finally {
      reader.terminate();
      closeAll(sender);
    }
  });

  it(
    'the tracked-connections count returns to 0 once every client has closed',
    { timeout: 30_000 },
    async () => {
      await until(async () => (await metric(server, TRACKED)) === 0, 5000, 'earlier clients forgotten');
      const raw = await RawClient.connect(server.url);
      const stopped = await RawClient.connect(server.url);
      stopped.stopReading();
      const [a, b] = await Promise.all([connect(server.url), connect(server.url)]);
      assert.equal(await metric(server, TRACKED), 4);
      raw.close();
      stopped.terminate();
      closeAll(a, b);
      await until(async () => (await metric(server, TRACKED)) === 0, 5000, 'tracked count back to 0');
    },
  );
});

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
