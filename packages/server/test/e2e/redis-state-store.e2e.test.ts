import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { FakeClock } from '../../src/common/fake-clock';
import { IceCandidateBufferService } from '../../src/webrtc/services/ice-candidate-buffer.service';
import { PeerConnectionTrackerService } from '../../src/webrtc/services/peer-connection-tracker.service';
import { PeerSessionService } from '../../src/webrtc/services/peer-session.service';
import { RoomRegistryService } from '../../src/webrtc/services/room-registry.service';
import { SignalingStateMachineService } from '../../src/webrtc/services/signaling-state-machine.service';
import { RedisStateStore, type RedisStateStoreOptions } from '../../src/webrtc/store/redis-state-store';
import { digestText } from '../../src/webrtc/store/digest-set';
import type { SignalStep } from '../../src/webrtc/store/state-store';
import { RedisDeliveryLog, logEntry } from '../../src/cluster/delivery-log';
import { stateStoreContract } from '../support/state-store-contract';

// A real Redis (scripts/setup.sh starts one on 6379). Every key this file writes is under its own
// random prefix, deleted at the end, so runs can share a database with anything else.
const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';
const RUN_PREFIX = `sbtest:${randomBytes(6).toString('hex')}:`;

let clients: Redis[] = [];
let nextPrefix = 0;

/** One of two shared connections (0 or 1): tests that race use both, as two instances would. */
async function connection(i: 0 | 1 = 0): Promise<Redis> {
  while (clients.length <= i) {
    const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw new Error(
        `no Redis at ${REDIS_URL} (run scripts/setup.sh, or set REDIS_TEST_URL): ${String(err)}`,
      );
    }
    clients.push(client);
  }
  return clients[i];
}

/** A prefix no other test uses. */
function freshPrefix(): string {
  return `${RUN_PREFIX}${nextPrefix++}:`;
}

async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    for (const k of batch) keys.add(k);
    cursor = next;
  } while (cursor !== '0');
  return [...keys];
}

async function deleteUnder(client: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(client, prefix);
  if (keys.length > 0) await client.unlink(...keys);
}

after(async () => {
  if (clients.length > 0) await deleteUnder(clients[0], RUN_PREFIX);
  await Promise.all(clients.map((c) => c.quit()));
  clients = [];
});

// Redis counts TTLs on its own clock, so time passes for real: each test's few waits are short.
stateStoreContract('RedisStateStore', async () => {
  const client = await connection();
  const keyPrefix = freshPrefix();
  const store = new RedisStateStore(client, { keyPrefix });
  // admitSignal's tests run over the script connection, as a running instance's do.
  await store.scripts!.whenReady();
  const subscribers: Redis[] = [];
  return {
    store,
    advance: (ms) => sleep(ms),
    close: async () => {
      await store.close();
      await deleteUnder(client, keyPrefix);
      for (const s of subscribers) s.disconnect();
    },
    subscribe: async (channel) => {
      const subscriber = client.duplicate();
      subscribers.push(subscriber);
      const messages: string[] = [];
      subscriber.on('smessage', (ch: string, message: string) => {
        if (ch === channel) messages.push(message);
      });
      await subscriber.ssubscribe(channel);
      return async (count) => {
        for (let waited = 0; messages.length < count && waited < 2000; waited += 10) await sleep(10);
        return [...messages];
      };
    },
  };
});

describe('RedisStateStore on Redis', () => {
  let client: Redis;
  let prefix: string;
  let store: RedisStateStore;
  /** The same keys through a second connection: another instance. */
  let other: RedisStateStore;

  const make = (options: RedisStateStoreOptions = {}, c: Redis = client): RedisStateStore =>
    new RedisStateStore(c, { keyPrefix: prefix, ...options });

  beforeEach(async () => {
    client = await connection(0);
    prefix = freshPrefix();
    store = make();
    other = make({}, await connection(1));
  });

  afterEach(async () => {
    await store.close();
    await other.close();
    await deleteUnder(client, prefix);
  });

  describe('atomicity across connections', () => {
    test('hashSetIfCapacity() 50 times at once from 2 connections for the last 5 seats admits exactly 5', async () => {
      for (let i = 0; i < 11; i++) await store.hashSetIfCapacity('room', `seated${i}`, { i }, 16);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (i % 2 === 0 ? store : other).hashSetIfCapacity('room', `late${i}`, { i }, 16),
        ),
      );
      assert.equal(results.filter((r) => r === 'added').length, 5);
      assert.equal(results.filter((r) => r === 'full').length, 45);
      assert.equal((await store.hashGetAll('room')).size, 16);
    });

    test('remember() of one member 200 times at once from 2 connections returns true exactly once', async () => {
      const id = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 === 0 ? store : other).remember('ids', id, 30_000, 1024),
        ),
      );
      assert.equal(results.filter(Boolean).length, 1);
    });

    test('addToSet() of one member 200 times at once from 2 connections returns true exactly once', async () => {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? store : other).addToSet('s', 'm', 30_000, 10)),
      );
      assert.equal(results.filter(Boolean).length, 1);
      assert.deepEqual(await store.setMembers('s'), ['m']);
    });

    test('raiseTo() of 200 shuffled values at once from 2 connections ends at the largest', async () => {
      const values = Array.from({ length: 200 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
      const results = await Promise.all(
        values.map((v, i) => (i % 2 === 0 ? store : other).raiseTo('seq', v, 30_000)),
      );
      assert.equal(await store.get('seq'), 200);
      // The first to arrive raised from nothing; 200 raised unless nothing was below it by then.
      assert.ok(results.filter(Boolean).length >= 1);
      assert.equal(await other.raiseTo('seq', 200, 30_000), false);
    });

    test('listPush() and listDrain() interleaved from 2 connections lose and duplicate nothing', async () => {
      const pushed = Array.from({ length: 2000 }, (_, i) => i);
      const drained: number[] = [];
      let drains = 0;
      let pushing = true;
      const drainer = (async () => {
        while (pushing) {
          const got = await other.listDrain<number>('held');
          if (got.length > 0) drains++;
          drained.push(...got);
        }
      })();
      for (let batch = 0; batch < 20; batch++) {
        const oks = await Promise.all(
          pushed.slice(batch * 100, batch * 100 + 100).map((v) => store.listPush('held', v, 100_000, 30_000)),
        );
        assert.ok(oks.every(Boolean));
      }
      pushing = false;
      await drainer;
      drained.push(...(await other.listDrain<number>('held')));
      // One connection's pushes reach Redis in order, so the drains together are the pushes in order.
      assert.deepEqual(drained, pushed);
      assert.ok(drains >= 2, `drained ${drains} times while pushes went on`);
    });
  });

  describe('TTLs', () => {
    test('after a joined peer signals a partner and the partner drops, every key has a TTL', async () => {
      await peerWithActivePair(store, 'room1');
      const keys = await keysUnder(client, prefix);
      const kinds = new Set(keys.map((k) => k.slice(prefix.length).replace(/:[^:]*$/, '')));
      for (const kind of [
        'session',
        'resume',
        'room',
        'peer-rooms',
        'sm:seq',
        'sm:ids',
        'cb:seen',
        'cb:held',
        'cb:senders',
        'pc:room1',
      ])
        assert.ok(kinds.has(kind), `a ${kind} key was written (${[...kinds].join(', ')})`);
      for (const key of keys) {
        const ttl = await client.pttl(key);
        assert.ok(ttl > 0, `${key} has a TTL (PTTL ${ttl})`);
      }
    });

    test('set() without a TTL and hash writes get maxKeyTtlMs, and each hash write lifts it back', async () => {
      const s = make({ maxKeyTtlMs: 5000 });
      await s.set('v', 1);
      await s.hashSetIfCapacity('h', 'a', 1, 10);
      await s.hashSetIfCapacity('h', 'b', 1, 10);
      for (const key of ['v', 'h']) assert.ok((await client.pttl(prefix + key)) > 4000, key);
      for (const write of [
        () => s.hashSetIfCapacity('h', 'c', 1, 10), // added
        () => s.hashSetIfCapacity('h', 'c', 2, 10), // exists
        () => s.hashDelete('h', 'a'), // a field left
      ]) {
        await client.pexpire(prefix + 'h', 1000);
        await write();
        assert.ok((await client.pttl(prefix + 'h')) > 4000);
      }
      // No write, no refresh: a full hash or an absent field.
      await client.pexpire(prefix + 'h', 1000);
      assert.equal(await s.hashSetIfCapacity('h', 'd', 1, 2), 'full');
      assert.equal(await s.hashDelete('h', 'absent'), false);
      assert.ok((await client.pttl(prefix + 'h')) <= 1000);
    });

    test('a hash write never shortens a TTL longer than maxKeyTtlMs', async () => {
      const s = make({ maxKeyTtlMs: 5000 });
      await s.hashSetIfCapacity('h', 'a', 1, 10);
      await s.expire('h', 60_000);
      await s.hashSetIfCapacity('h', 'b', 1, 10);
      assert.ok((await client.pttl(prefix + 'h')) > 50_000);
    });

    test('a set key expires with its latest-expiring member, also once that member is removed', async () => {
      /** The key's expiry and its latest member's, in ms of Redis's clock. */
      const expiries = async (key: string): Promise<[number, number]> => {
        const last = await client.zrange(prefix + key, '-1', '-1', 'WITHSCORES');
        return [await client.pexpiretime(prefix + key), Math.ceil(Number(last[1]) / 1000)];
      };
      await store.addToSet('s', 'long', 60_000, 10);
      await store.addToSet('s', 'short', 1000, 10);
      assert.ok((await client.pttl(prefix + 's')) > 59_000);
      await store.removeFromSet('s', 'long');
      const [keyExpiry, memberExpiry] = await expiries('s');
      assert.equal(keyExpiry, memberExpiry);
      assert.ok((await client.pttl(prefix + 's')) <= 1001);
      await store.remember('r', 'long', 60_000, 10);
      await store.remember('r', 'short', 1000, 10);
      await store.forget('r', 'long');
      assert.deepEqual(...(await expiries('r')));
    });

    test('member expiry follows Redis TIME: a Node clock an hour off changes nothing', async () => {
      const realNow = Date.now;
      try {
        Date.now = () => realNow() - 3600_000;
        assert.equal(await store.addToSet('s', 'm', 30_000, 10), true);
        assert.equal(await store.remember('r', 'm', 30_000, 10), true);
        Date.now = () => realNow() + 3600_000;
        assert.deepEqual(await other.setMembers('s'), ['m']);
        assert.equal(await other.remember('r', 'm', 30_000, 10), false);
      } finally {
        Date.now = realNow;
      }
    });
  });

  describe('storage', () => {
    test('remember() keeps the 64-bit digest of the member as text (digestText), not the member', async () => {
      const candidate = 'ufrag\u00000\u0000candidate:842163049 1 udp 1677729535 203.0.113.7 54321 typ srflx';
      await store.remember('seen', candidate, 30_000, 512);
      const members = await client.zrange(prefix + 'seen', '0', '-1');
      assert.deepEqual(members, [digestText(candidate)]);
      assert.match(members[0]!, /^[0-9a-z]{1,7}\.[0-9a-z]{1,7}$/);
    });

    test('a set at its cap never holds more than maxMembers, so it keeps the compact encoding', async () => {
      const [, entries] = (await client.config('GET', 'zset-max-listpack-entries')) as string[];
      const cap = Number(entries);
      for (let i = 0; i < cap + 50; i++)
        assert.equal(await store.remember('ids', randomUUID(), 30_000, cap), true);
      assert.equal(await client.zcard(prefix + 'ids'), cap);
      assert.equal(await client.object('ENCODING', prefix + 'ids'), 'listpack');
    });

    test('values, hash fields and list items are stored as JSON text', async () => {
      await store.set('v', { a: [1, 'x'] });
      await store.hashSetIfCapacity('h', 'f', { peerId: 'p' }, 10);
      await store.listPush('l', { event: 'offer' }, 10, 30_000);
      assert.equal(await client.get(prefix + 'v'), '{"a":[1,"x"]}');
      assert.equal(await client.hget(prefix + 'h', 'f'), '{"peerId":"p"}');
      assert.deepEqual(await client.lrange(prefix + 'l', 0, -1), ['{"event":"offer"}']);
    });

    test('set() of undefined rejects (values must be JSON data)', async () => {
      await assert.rejects(async () => store.set('v', undefined), TypeError);
    });

    test('size() counts the keys under its own prefix, glob characters in it taken literally', async () => {
      const mine = make({ keyPrefix: `${prefix}mine:` });
      const neighbour = make({ keyPrefix: `${prefix}other:` });
      const globbed = make({ keyPrefix: `${prefix}[*]?:` });
      await mine.set('a', 1, 30_000);
      await mine.addToSet('b', 'm', 30_000, 10);
      await neighbour.set('a', 1, 30_000);
      await globbed.set('a', 1, 30_000);
      assert.equal(await mine.size(), 2);
      assert.equal(await neighbour.size(), 1);
      assert.equal(await globbed.size(), 1);
      assert.equal(await store.size(), 4);
    });
  });

  describe('admitSignal() and the delivery log', () => {
    const log = (): RedisDeliveryLog =>
      new RedisDeliveryLog(client, {
        keyPrefix: prefix,
        maxEntries: 8,
        entryTtlMs: 60_000,
        sequenceTtlMs: 60_000,
      });
    const candidate = (i: number) => ({
      candidate: `candidate:${i} 1 udp 1 10.0.0.${i} 5000 typ host`,
      sdpMid: '0',
    });
    const batch = (id: string, list: ReturnType<typeof candidate>[]): SignalStep => {
      const payload = { roomId: 'r', from: 'a', messageId: id };
      return {
        receiver: { roomKey: 'room:r', peerId: 'b', sessionKey: 'session:b' },
        messageId: { key: 'ids', id, ttlMs: 60_000, maxMembers: 64 },
        sequence: { key: 'seq', ttlMs: 60_000 },
        candidates: { key: 'seen', members: list.map((c) => c.candidate), ttlMs: 60_000, maxMembers: 64 },
        log: { ...log().target('b'), ...logEntry('iceCandidates', payload, list) },
      };
    };

    beforeEach(async () => {
      await store.hashSetIfCapacity('room:r', 'b', { peerId: 'b' }, 16);
      await store.set('session:b', { peerId: 'b', socketId: 's', droppedSeq: null }, 60_000);
    });

    test('since() replays what admitSignal() logged: each batch numbered, with only its new candidates', async () => {
      assert.equal((await store.admitSignal(batch('m1', [candidate(1), candidate(2)]))).verdict, 'accepted');
      assert.equal((await store.admitSignal(batch('m2', [candidate(2), candidate(3)]))).verdict, 'accepted');
      assert.deepEqual(await log().since('b', 0), {
        entries: [
          {
            seq: 1,
            event: 'iceCandidates',
            payload: {
              roomId: 'r',
              from: 'a',
              messageId: 'm1',
              candidates: [candidate(1), candidate(2)],
              seq: 1,
            },
          },
          {
            seq: 2,
            event: 'iceCandidates',
            payload: { roomId: 'r', from: 'a', messageId: 'm2', candidates: [candidate(3)], seq: 2 },
          },
        ],
      });
      assert.equal(await log().current('b'), 2);
    });

    test('admitSignal() of one message id 20 times at once from 2 connections accepts it once and logs it once', async () => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? other : store).admitSignal(batch('m1', [candidate(i)])),
        ),
      );
      assert.equal(results.filter((r) => r.verdict === 'accepted').length, 1);
      assert.equal(results.filter((r) => r.verdict === 'duplicate').length, 19);
      assert.equal(await log().current('b'), 1);
    });
  });

  describe('client and scripts', () => {
    test('close() of a store made from a URL quits its client; twice is harmless', async () => {
      const s = new RedisStateStore(REDIS_URL, { keyPrefix: prefix });
      await s.set('k', 1, 30_000);
      assert.equal(await s.get('k'), 1);
      await s.close();
      await s.close();
      await assert.rejects(async () => s.get('k'));
    });

    test('close() of a store given a client leaves the client open', async () => {
      await make().close();
      assert.equal(await client.ping(), 'PONG');
    });

    test('the constructor refuses a client with its own keyPrefix', () => {
      const prefixed = new Redis(REDIS_URL, { lazyConnect: true, keyPrefix: 'x:' });
      try {
        assert.throws(() => new RedisStateStore(prefixed), /keyPrefix/);
      } finally {
        prefixed.disconnect();
      }
    });

    test('every script still runs on a server that never saw it, and after SCRIPT FLUSH', async () => {
      // A private server, so flushing its scripts disturbs nobody.
      const dir = mkdtempSync(join(tmpdir(), 'sb-redis-'));
      const socket = join(dir, 'redis.sock');
      const server = spawn(
        'redis-server',
        ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: 'ignore' },
      );
      // Auto-pipelined as the server's connections are: a NOSCRIPT answer then comes inside a pipeline.
      const priv = new Redis({
        path: socket,
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        enableAutoPipelining: true,
      });
      try {
        for (let waited = 0; !existsSync(socket); waited += 20) {
          if (waited > 5000) throw new Error('the private redis-server did not start');
          await sleep(20);
        }
        await priv.connect();
        const s = new RedisStateStore(priv, { keyPrefix: 'p:' });
        for (const round of ['fresh server', 'after SCRIPT FLUSH']) {
          assert.equal(await s.raiseTo('seq', 1, 30_000), true, round);
          assert.equal(await s.addToSet('s', 'm', 30_000, 10), true, round);
          assert.deepEqual(await s.setMembers('s'), ['m'], round);
          await s.removeFromSet('s', 'm');
          assert.equal(await s.remember('r', 'm', 30_000, 10), true, round);
          await s.forget('r', 'm');
          assert.equal(await s.hashSetIfCapacity('h', 'f', 1, 10), 'added', round);
          assert.equal(await s.hashDelete('h', 'f'), true, round);
          assert.equal(await s.listPush('l', 1, 10, 30_000), true, round);
          assert.deepEqual(await s.listDrain('l'), [1], round);
          await s.hashSetIfCapacity('room', 'b', 1, 10);
          // Three at once: all three meet NOSCRIPT, and their fallbacks keep their order.
          const decided = await Promise.all(
            ['m1', 'm2', 'm3'].map((id) =>
              s.admitSignal({
                receiver: { roomKey: 'room', peerId: 'b', sessionKey: 'session:b' },
                messageId: { key: 'ids', id, ttlMs: 30_000, maxMembers: 10 },
                sequence: { key: 'sm', ttlMs: 30_000 },
                log: {
                  seqKey: 'dseq',
                  listKey: 'dlog',
                  maxEntries: 10,
                  entryTtlMs: 30_000,
                  sequenceTtlMs: 30_000,
                  head: `"${id}"`,
                  tail: '',
                },
              }),
            ),
          );
          assert.deepEqual(
            decided.map((d) => (d.verdict === 'accepted' ? d.seq : d.verdict)),
            [1, 2, 3],
            round,
          );
          assert.deepEqual(await priv.lrange('p:dlog', 0, -1), ['1 "m1"', '2 "m2"', '3 "m3"'], round);
          await priv.flushall();
          await priv.script('FLUSH');
        }
      } finally {
        priv.disconnect();
        server.kill();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

/**
 * What one joined peer with one active pair leaves in the store, written by the services with the
 * options the module wires in production: both sessions and resume tokens, the room membership,
 * both directions' sequences and remembered message ids and candidates, the pair's connection
 * record; then the partner drops and a signal is held for it.
 */
async function peerWithActivePair(store: RedisStateStore, roomId: string): Promise<void> {
  const clock = new FakeClock(Date.now());
  const sessions = new PeerSessionService(store, clock, { resumeWindowMs: 30_000 });
  const rooms = new RoomRegistryService(store, { maxPeersPerRoom: 16 });
  const signaling = new SignalingStateMachineService(store, { windowMs: 30_000, maxIdsPerDirection: 1024 });
  const candidates = new IceCandidateBufferService(store, {
    maxPerPair: 256,
    holdTtlMs: 30_000,
    maxSeenPerPair: 512,
    seenTtlMs: 120_000,
  });
  const tracker = new PeerConnectionTrackerService(
    store,
    clock,
    {
      maxAttempts: 2,
      minIntervalMs: 5000,
      restartTimeoutMs: 15_000,
      disconnectedTimeoutMs: 5000,
      recordTtlMs: 600_000,
    },
    { requestRestart: () => undefined, connectionFailed: () => undefined },
  );
  try {
    const a = await sessions.create('socket-a');
    const b = await sessions.create('socket-b');
    for (const peer of [a, b]) {
      await sessions.issueToken(peer.peerId);
      await rooms.join(roomId, { peerId: peer.peerId, displayName: 'peer', joinedAt: clock.now() });
    }
    for (const [from, to, kind] of [
      [a.peerId, b.peerId, 'offer'],
      [b.peerId, a.peerId, 'answer'],
    ] as const) {
      assert.equal(await signaling.admit(from, to, kind, randomUUID(), 1), 'accept');
      for (let i = 0; i < 3; i++) {
        const candidate = {
          candidate: `candidate:${i} 1 udp 2122260223 10.0.0.${i} 5000${i} typ host`,
          sdpMid: '0',
        };
        assert.equal(await candidates.isFirstSighting(from, to, candidate), true);
        assert.equal(await signaling.admit(from, to, 'iceCandidate', randomUUID(), undefined), 'accept');
      }
    }
    await tracker.report(roomId, a.peerId, b.peerId, 'connected', 'connected');
    await sessions.markDropped(b.peerId, 'socket-b');
    assert.equal(
      await candidates.hold(a.peerId, b.peerId, { event: 'iceCandidate', payload: { n: 1 } }),
      true,
    );
  } finally {
    tracker.close();
  }
}
