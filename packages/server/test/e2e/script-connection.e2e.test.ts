import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisStateStore } from '../../src/webrtc/store/redis-state-store';
import { StoreConnectionError } from '../../src/webrtc/store/script-connection';
import type { SignalStep } from '../../src/webrtc/store/state-store';
import { REDIS_TEST_URL } from '../support/harness';

// The state store's decision on a relayed signal goes over a connection of its own while that is
// up (ScriptConnection), and through the ioredis client otherwise. These tests take that connection
// away in the ways Redis can: a killed client, a flushed script cache, a server that stops answering.
describe('RedisStateStore script connection', () => {
  let admin: Redis;
  let client: Redis;
  let store: RedisStateStore;
  const prefix = `sbtest:${randomBytes(4).toString('hex')}:`;

  const step = (id: string): SignalStep => ({
    receiver: { roomKey: 'room', peerId: 'b', sessionKey: 'session:b' },
    messageId: { key: 'ids', id, ttlMs: 60_000, maxMembers: 1024 },
    sequence: { key: 'seq', ttlMs: 60_000 },
    log: {
      seqKey: 'dseq',
      listKey: 'dlog',
      maxEntries: 256,
      entryTtlMs: 60_000,
      sequenceTtlMs: 60_000,
      head: '{"e":"offer","p":{"roomId":"r"}}',
      tail: '',
    },
  });
  /** The script connection's client id, from CLIENT LIST (by its name). */
  const scriptClientIds = async (): Promise<string[]> =>
    ((await admin.client('LIST')) as string)
      .split('\n')
      .filter((line) => line.includes(' name=switchboard-scripts '))
      .map((line) => /^id=(\d+)/.exec(line)![1]!);
  const evalshaCalls = async (): Promise<number> =>
    Number(/cmdstat_evalsha:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);

  before(async () => {
    admin = new Redis(REDIS_TEST_URL);
    client = new Redis(REDIS_TEST_URL, { commandTimeout: 500, enableOfflineQueue: false, lazyConnect: true });
    await client.connect();
    store = new RedisStateStore(client, { keyPrefix: prefix });
    await store.scripts!.whenReady();
    await store.hashSetIfCapacity('room', 'b', { peerId: 'b' }, 16);
    await store.set('session:b', { peerId: 'b', socketId: 's', droppedSeq: null }, 60_000);
  });
  after(async () => {
    await store.close();
    await store.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    client.disconnect();
    admin.disconnect();
  });

  test('admitSignal() goes over the script connection once it is up: one named client, 50 signals numbered 1-50 in order', async () => {
    assert.equal((await scriptClientIds()).length >= 1, true);
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => store.admitSignal(step(`a${i}`))));
    assert.deepEqual(
      replies.map((r) => (r.verdict === 'accepted' ? r.seq : r.verdict)),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });

  test('admitSignal() after the script connection is killed answers through the client, then the connection comes back and is used again', async () => {
    const before = (await store.get<number>('dseq')) ?? 0;
    for (const id of await scriptClientIds()) await admin.client('KILL', 'ID', id);
    // Killed: at once, or on the next signal, the store falls back; no signal is lost either way.
    const results = [];
    for (let i = 0; i < 5; i++) {
      try {
        results.push((await store.admitSignal(step(`k${i}`))).verdict);
      } catch (err) {
        assert.ok(err instanceof StoreConnectionError, String(err));
        results.push('unavailable');
      }
      await sleep(20);
    }
    assert.ok(results.includes('accepted'), results.join());
    await store.scripts!.whenReady();
    const calls = await evalshaCalls();
    assert.equal((await store.admitSignal(step('back'))).verdict, 'accepted');
    assert.ok((await evalshaCalls()) > calls);
    assert.ok(((await store.get<number>('dseq')) ?? 0) > before);
  });

  test('admitSignal() under steady load when the killed connection comes back switches back to it, every signal numbered in the order sent', async () => {
    // The client's path 5 ms slower each way than the script connection's (a busy Redis or a
    // network between): with a new signal every turn of the event loop, as many sockets sending at
    // once make, the client path then always has one in flight, so a store that waited for "none in
    // flight" before changing path never changed back (the bug this guards against; on plain
    // loopback the replies come back in one read and that moment came). And a store that changed
    // path at once would let the faster path overtake: the numbers would be out of order.
    const proxy = await slowRepliesProxy(new URL(REDIS_TEST_URL), 5);
    const slowClient = new Redis(proxy.url, {
      commandTimeout: 1000,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    await slowClient.connect();
    const slow = new RedisStateStore(slowClient, { keyPrefix: prefix });
    const scripts = slow.scripts!;
    let viaScripts = 0;
    const run = scripts.run.bind(scripts);
    scripts.run = (keys, args) => {
      viaScripts++;
      return run(keys, args);
    };
    try {
      await scripts.whenReady();
      proxy.killScriptConnections();
      let stop = false;
      let inFlight = 0;
      let sent = 0;
      const seqs: (number | undefined)[] = [];
      const settled: Promise<void>[] = [];
      const pump = (): void => {
        if (stop) return;
        if (inFlight < 32) {
          const i = sent++;
          inFlight++;
          settled.push(
            slow.admitSignal(step(`p${i}`)).then(
              (r) => {
                inFlight--;
                assert.equal(r.verdict, 'accepted');
                if (r.verdict === 'accepted') seqs[i] = r.seq;
              },
              (err: unknown) => {
                inFlight--;
                // The kill may fail the scripts the connection held when it went: nothing else.
                assert.ok(err instanceof StoreConnectionError, String(err));
              },
            ),
          );
        }
        setImmediate(pump);
      };
      pump();
      await sleep(50);
      await scripts.whenReady();
      const readyAt = viaScripts;
      const t0 = Date.now();
      while (Date.now() - t0 < 2000 && viaScripts === readyAt) await sleep(20);
      const switched = viaScripts > readyAt;
      await sleep(100);
      stop = true;
      await Promise.all(settled);
      assert.ok(
        switched,
        `no signal went over the script connection within 2 s of it coming back (${sent} sent)`,
      );
      const accepted = seqs.filter((x): x is number => x !== undefined);
      assert.ok(accepted.length > 100, `${accepted.length} accepted`);
      assert.deepEqual(
        accepted,
        [...accepted].sort((a, b) => a - b),
      );
    } finally {
      await slow.close();
      slowClient.disconnect();
      await proxy.close();
    }
  });

  test('admitSignal() after SCRIPT FLUSH loads the script again on the same connection and answers', async () => {
    await store.scripts!.whenReady();
    await admin.script('FLUSH');
    const replies = await Promise.all([1, 2, 3].map((i) => store.admitSignal(step(`f${i}`))));
    assert.deepEqual(
      replies.map((r) => r.verdict),
      ['accepted', 'accepted', 'accepted'],
    );
    const seqs = replies.map((r) => (r.verdict === 'accepted' ? r.seq : 0));
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );
  });

  test('admitSignal() while Redis does not answer fails within the command timeout with StoreConnectionError, and works once Redis answers again', async () => {
    await store.scripts!.whenReady();
    await admin.client('PAUSE', 1500, 'ALL');
    const t0 = Date.now();
    await assert.rejects(store.admitSignal(step('paused')), (err: unknown) => {
      assert.ok(
        err instanceof StoreConnectionError || (err as Error).message === 'Command timed out',
        String(err),
      );
      return true;
    });
    assert.ok(Date.now() - t0 < 1400, `answered after ${Date.now() - t0} ms`);
    await sleep(1600 - (Date.now() - t0));
    await store.scripts!.whenReady();
    assert.equal((await store.admitSignal(step('after-pause'))).verdict, 'accepted');
  });
});

/**
 * A TCP proxy to Redis that holds every chunk both ways `delayMs` (in order), except on the
 * connections that named themselves `switchboard-scripts` (seen in the bytes they sent), which pass
 * at once. `killScriptConnections()` cuts those, as `CLIENT KILL` would.
 */
async function slowRepliesProxy(
  target: URL,
  delayMs: number,
): Promise<{ url: string; killScriptConnections(): void; close(): Promise<void> }> {
  const pairs = new Set<{ client: Socket; redis: Socket; scripts: boolean }>();
  const server = createServer((client) => {
    const redis = connect(Number(target.port || 6379), target.hostname);
    const pair = { client, redis, scripts: false };
    pairs.add(pair);
    // The script connection names itself in its first bytes; it is passed through at once.
    const pass = (to: Socket, chunk: Buffer): unknown =>
      pair.scripts ? to.write(chunk) : setTimeout(() => to.write(chunk), delayMs);
    client.on('data', (chunk) => {
      if (chunk.includes('switchboard-scripts')) pair.scripts = true;
      pass(redis, chunk);
    });
    redis.on('data', (chunk) => pass(client, chunk));
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      redis.destroy();
    };
    client.on('close', end).on('error', end);
    redis.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    killScriptConnections() {
      for (const p of pairs) if (p.scripts) p.client.destroy();
    },
    async close() {
      for (const p of pairs) p.client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
