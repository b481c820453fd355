import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, it } from 'node:test';
import {
  candidate,
  connect,
  cutTransport,
  join,
  request,
  SDP,
  sleep,
  startServer,
  until,
  type ConnectedClient,
  type TestServer,
} from '../support/harness';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap used after full collections. */
function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** Every gauge that must return to its idle value: internal collections, store keys, sockets, timers. */
async function sizes(server: TestServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m =
      /^(switchboard_internal_entries\{collection="[a-z_]+"\}|switchboard_state_keys|switchboard_connected_sockets|switchboard_dropped_peers) (\S+)$/.exec(
        line,
      );
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

const PAIRS = 10;
const CYCLES_PER_PAIR = 1000;
const DROPS = 2000;

describe('leaks', () => {
  it(`${PAIRS * CYCLES_PER_PAIR} join/signal/leave cycles and ${DROPS} abrupt drops leave every collection at its start size and the heap within 16 MB`, async () => {
    // Limits that would slow the cycles down are off: this is about what state is left behind.
    const server = await startServer({
      JOIN_RATE_PER_SEC: '0',
      SIGNAL_RATE_PER_SEC: '0',
      STATE_REPORT_RATE_PER_SEC: '0',
      MAX_CONNECTIONS_PER_IP: '0',
      CONNECTION_RATE_PER_IP: '0',
      RESUME_WINDOW_MS: '1000',
      PING_INTERVAL: '1000',
      PING_TIMEOUT: '1000',
    });
    try {
      // A warm-up cycle, so lazily created singletons count as the start.
      const warm = [await connect(server.url), await connect(server.url)];
      await join(warm[0]!, 'warm');
      await join(warm[1]!, 'warm');
      for (const c of warm) c.disconnect();
      await until(
        async () => (await sizes(server))['switchboard_connected_sockets'] === 0,
        3000,
        'warm-up gone',
      );
      await until(
        async () => (await sizes(server))['switchboard_state_keys'] === 0,
        3000,
        'warm-up state gone',
      );
      const start = await sizes(server);
      const heapStart = heapAfterGc();

      // Join, offer/answer, candidates both ways, end of candidates, a state report, leave.
      const cycles = async (a: ConnectedClient, b: ConnectedClient, pair: number) => {
        for (let i = 0; i < CYCLES_PER_PAIR; i++) {
          const roomId = `leak-${pair}-${i}`;
          await join(a, roomId);
          await join(b, roomId);
          const results = await Promise.all([
            request(a, 'offer', { roomId, to: b.peerId, sdp: SDP, sequence: 1, messageId: `o${i}` }),
            request(a, 'iceCandidate', {
              roomId,
              to: b.peerId,
              candidate: candidate(1000 + i),
              messageId: `c${i}`,
            }),
            request(a, 'iceCandidate', { roomId, to: b.peerId, candidate: null }),
            request(b, 'answer', { roomId, to: a.peerId, sdp: SDP, sequence: 1, messageId: `a${i}` }),
            request(b, 'iceCandidate', { roomId, to: a.peerId, candidate: candidate(2000 + i) }),
            request(a, 'connectionState', {
              roomId,
              peerId: b.peerId,
              connectionState: i % 2 ? 'connected' : 'failed',
              iceConnectionState: i % 2 ? 'connected' : 'failed',
            }),
          ]);
          for (const r of results) assert.equal(r.ok, true, JSON.stringify(r));
          assert.deepEqual(await request(a, 'leaveRoom', { roomId }), { ok: true });
          assert.deepEqual(await request(b, 'leaveRoom', { roomId }), { ok: true });
        }
      };
      const pairs: [ConnectedClient, ConnectedClient][] = [];
      for (let p = 0; p < PAIRS; p++) pairs.push([await connect(server.url), await connect(server.url)]);
      await Promise.all(pairs.map(([a, b], p) => cycles(a, b, p)));
      for (const [a, b] of pairs) {
        a.disconnect();
        b.disconnect();
      }

      // Abrupt drops: joined peers whose transport is cut; each one's resume window has to pass.
      for (let batch = 0; batch < DROPS / 200; batch++) {
        const clients = await Promise.all(Array.from({ length: 200 }, () => connect(server.url)));
        await Promise.all(clients.map((c, i) => join(c, `drop-${batch}-${i % 20}`)));
        for (const c of clients) cutTransport(c);
      }

      // Back to the start size or below (the warm-up room's replay log may be pruned meanwhile).
      const settled = (now: Record<string, number>) =>
        Object.keys(now).join() === Object.keys(start).join() &&
        Object.entries(now).every(([k, v]) => v <= start[k]!);
      await until(
        async () => settled(await sizes(server)),
        20_000,
        'every collection back to its start size',
      ).catch(async (err: Error) => {
        assert.deepEqual(await sizes(server), start, err.message);
      });
      // The harness's connect() waits up to 5 s for a resume outcome; its timers hold the clients.
      await sleep(5500);
      const grown = heapAfterGc() - heapStart;
      assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MB`);
    } finally {
      await server.close();
    }
  });
});
