import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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
