import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DisconnectReasonEvent, Result } from '@switchboard/protocol';
import {
  candidate,
  closeAll,
  connect,
  fire,
  join,
  metric,
  once,
  record,
  request,
  SDP,
  sleep,
  startServer,
  until,
  type ConnectedClient,
  type TestServer,
  honestCall,
} from '../support/harness';

type Answer = Result<Record<string, unknown>>;
const codeOf = (r: Answer) => (r.ok ? 'ok' : r.error.code);

/** Counts answers by outcome. */
function tally(answers: Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) counts[codeOf(a)] = (counts[codeOf(a)] ?? 0) + 1;
  return counts;
}

describe('per-connection rate limits (defaults)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('a candidate flood is answered RATE_LIMITED with retryAfterMs, then cut off with disconnectReason; others keep working', async () => {
    const a = await connect(server.url, { localAddress: '127.0.0.3' });
    const b = await connect(server.url, { localAddress: '127.0.0.3' });
    try {
      await join(a, 'flood');
      await join(b, 'flood');
      const relayed = record(b, 'iceCandidate');
      const left = once(b, 'peerLeft', 5000);
      const reason = new Promise<DisconnectReasonEvent>((resolve) => a.on('disconnectReason', resolve));
      const answers: Answer[] = [];
      const started = Date.now();
      for (let i = 0; i < 5000; i++)
        fire(a, 'iceCandidate', { roomId: 'flood', to: b.peerId, candidate: candidate(10_000 + i) }, (r) =>
          answers.push(r),
        );
      assert.equal((await reason).code, 'RATE_LIMITED');
      const elapsedS = (Date.now() - started) / 1000;
      assert.deepEqual(await left, { roomId: 'flood', peerId: a.peerId, reason: 'disconnected' });
      await until(() => !a.connected, 2000, 'flooder disconnected');
      const counts = tally(answers);
      // The burst (600) passes, plus what the bucket refilled (200/s) while the flood was read, then
      // refusals until the tolerance (50) runs out.
      assert.ok(counts.ok! >= 600 && counts.ok! <= 600 + Math.ceil(200 * elapsedS), JSON.stringify(counts));
      assert.ok(counts.RATE_LIMITED! >= 1 && counts.RATE_LIMITED! <= 51, JSON.stringify(counts));
      const limited = answers.find((r) => !r.ok);
      assert.ok(limited && !limited.ok && (limited.error.retryAfterMs ?? 0) > 0);
      assert.equal(relayed.length, counts.ok);
      assert.equal(await metric(server, 'switchboard_forced_disconnects_total{reason="rate_limited"}'), 1);
      assert.ok((await metric(server, 'switchboard_rate_limited_total{limit="signal"}')) >= 1);
      await honestCall(server, 'honest-1');
    } finally {
      closeAll(a, b);
    }
  });

  it('a 16-peer mesh joining at once, each sending an offer and 21 candidates to every other peer, is never limited', async () => {
    const peers: ConnectedClient[] = [];
    try {
      for (let i = 0; i < 16; i++) peers.push(await connect(server.url));
      const joined = await Promise.all(peers.map((p) => request(p, 'joinRoom', { roomId: 'mesh' })));
      assert.deepEqual(tally(joined), { ok: 16 });
      const answers: Answer[] = [];
      const all: Promise<void>[] = [];
      for (const [i, from] of peers.entries()) {
        for (const to of peers) {
          if (to === from) continue;
          const send = (event: string, payload: object) =>
            all.push(
              new Promise((resolve) =>
                fire(from, event, { roomId: 'mesh', to: to.peerId, ...payload }, (r) => {
                  answers.push(r);
                  resolve();
                }),
              ),
            );
          send('offer', { sdp: SDP });
          for (let c = 0; c < 20; c++) send('iceCandidate', { candidate: candidate(20_000 + i * 100 + c) });
          send('iceCandidate', { candidate: null });
        }
      }
      await Promise.all(all);
      assert.deepEqual(tally(answers), { ok: 16 * 15 * 22 });
    } finally {
      closeAll(...peers);
    }
  });

  it('joinRoom repeated in a loop for a room of 15 peers with 2 KB metadata is limited and cut off; memory stays bounded', async () => {
    const metadata = { blob: 'x'.repeat(1900) };
    const residents: ConnectedClient[] = [];
    const attacker = await connect(server.url, { localAddress: '127.0.0.4' });
    try {
      for (let i = 0; i < 15; i++) {
        const p = await connect(server.url);
        residents.push(p);
        const res = await request(p, 'joinRoom', { roomId: 'big', metadata });
        assert.equal(res.ok, true);
      }
      const heapBefore = process.memoryUsage().heapUsed;
      const reason = once(attacker, 'disconnectReason', 5000);
      const answers: Answer[] = [];
      for (let i = 0; i < 2000; i++) fire(attacker, 'joinRoom', { roomId: 'big' }, (r) => answers.push(r));
      assert.equal((await reason).code, 'RATE_LIMITED');
      const counts = tally(answers);
      assert.ok((counts.ok ?? 0) <= 10, JSON.stringify(counts)); // answers to the async joins may be cut off too
      // 2,000 answers of ~33 KB would be 66 MB; what was sent is the burst of 10 and small refusals.
      assert.ok(process.memoryUsage().heapUsed - heapBefore < 40 * 1024 * 1024);
      await honestCall(server, 'honest-2');
    } finally {
      closeAll(attacker, ...residents);
    }
  });

  it('joinRoom of 20,000 rooms from one socket is limited, cut off, and leaves no state behind', async () => {
    const attacker = await connect(server.url, { localAddress: '127.0.0.5' });
    try {
      const keysBefore = await server.store.size();
      const reason = once(attacker, 'disconnectReason', 5000);
      const answers: Answer[] = [];
      for (let i = 0; i < 20_000; i++)
        fire(attacker, 'joinRoom', { roomId: `many-${i}` }, (r) => answers.push(r));
      assert.equal((await reason).code, 'RATE_LIMITED');
      // Ten joins pass the rate limit (its burst); at most eight can succeed. Their answers may be
      // lost: the store is asynchronous for joins, so the refusals that cut the socket off overtake them.
      const counts = tally(answers);
      assert.ok((counts.ok ?? 0) + (counts.TOO_MANY_ROOMS ?? 0) <= 10, JSON.stringify(counts));
      assert.ok((counts.ok ?? 0) <= 8, JSON.stringify(counts));
      assert.ok(counts.RATE_LIMITED! > 0);
      // Cut off voluntarily-style: every trace of the peer is gone.
      await until(async () => (await server.store.size()) <= keysBefore, 2000, 'store back to its size');
    } finally {
      closeAll(attacker);
    }
  });
});

describe('rooms per peer', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ MAX_ROOMS_PER_PEER: '3', JOIN_RATE_PER_SEC: '0' });
  });
  after(() => server.close());

  it('joinRoom past MAX_ROOMS_PER_PEER answers TOO_MANY_ROOMS; the same room again and a room after a leave are accepted', async () => {
    const a = await connect(server.url);
    try {
      for (const r of ['r1', 'r2', 'r3']) await join(a, r);
      const refused = await request(a, 'joinRoom', { roomId: 'r4' });
      assert.equal(!refused.ok && refused.error.code, 'TOO_MANY_ROOMS');
      assert.equal((await request(a, 'joinRoom', { roomId: 'r2' })).ok, true);
      assert.deepEqual(await request(a, 'leaveRoom', { roomId: 'r1' }), { ok: true });
      assert.equal((await request(a, 'joinRoom', { roomId: 'r4' })).ok, true);
    } finally {
      closeAll(a);
    }
  });
});

describe('rate limits off', () => {
  it('SIGNAL_RATE_PER_SEC=0 lets a burst far past the default through', async () => {
    const server = await startServer({ SIGNAL_RATE_PER_SEC: '0' });
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await join(a, 'off');
      await join(b, 'off');
      const answers: Answer[] = [];
      await new Promise<void>((resolve) => {
        for (let i = 0; i < 2000; i++)
          fire(a, 'iceCandidate', { roomId: 'off', to: b.peerId, candidate: candidate(30_000 + i) }, (r) => {
            answers.push(r);
            if (answers.length === 2000) resolve();
          });
      });
      assert.deepEqual(tally(answers), { ok: 2000 });
      await sleep(10);
    } finally {
      closeAll(a, b);
      await server.close();
    }
  });
});

describe('rate-limit disconnects per client IP', () => {
  it('a flooder reconnecting after each cut-off is refused new connections after 3 in a minute; other IPs are not', async () => {
    const server = await startServer({
      SIGNAL_BURST: '20',
      RATE_LIMIT_DISCONNECT_AFTER: '5',
      RATE_LIMIT_IP_BLOCK_SECONDS: '60',
    });
    try {
      const victim = await connect(server.url, { localAddress: '127.0.0.2' });
      await join(victim, 'box');
      for (let round = 0; round < 3; round++) {
        const flooder = await connect(server.url, { localAddress: '127.0.0.6' });
        await join(flooder, 'box');
        const reason = once(flooder, 'disconnectReason', 5000);
        for (let i = 0; i < 200; i++)
          fire(flooder, 'iceCandidate', {
            roomId: 'box',
            to: victim.peerId,
            candidate: candidate(40_000 + round * 1000 + i),
          });
        assert.equal((await reason).code, 'RATE_LIMITED');
        await until(() => !flooder.connected, 2000, 'cut off');
        flooder.close();
      }
      await assert.rejects(connect(server.url, { localAddress: '127.0.0.6' }), /websocket error/);
      assert.equal(await metric(server, 'switchboard_connections_refused_total{reason="ip_blocked"}'), 1);
      const other = await connect(server.url, { localAddress: '127.0.0.7' });
      await join(other, 'box');
      closeAll(other, victim);
    } finally {
      await server.close();
    }
  });
});
