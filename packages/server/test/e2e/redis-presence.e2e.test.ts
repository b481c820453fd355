import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisPresence } from '../../src/cluster/redis-presence';
import { deleteRedisKeys, REDIS_TEST_URL, sleep, until } from '../support/harness';

// RedisPresence against the real Redis: what makes resume windows end, and the peers of a killed
// instance expire, whichever instances are left.
describe('RedisPresence', () => {
  const prefix = `sbtest:${randomBytes(6).toString('hex')}:`;
  const clients: Redis[] = [];
  const presences: RedisPresence[] = [];
  after(async () => {
    await Promise.all(presences.map((p) => p.close()));
    for (const c of clients) c.disconnect();
    await deleteRedisKeys(prefix);
  });

  /** A presence of instance `id` on its own connection, recording what it is called back with. */
  function instance(id: string, deadAfterMs = 600) {
    const redis = new Redis(REDIS_TEST_URL);
    clients.push(redis);
    const presence = new RedisPresence(redis, {
      keyPrefix: prefix,
      instanceId: id,
      heartbeatMs: 100,
      deadAfterMs,
    });
    presences.push(presence);
    const expired: string[] = [];
    const orphaned: string[] = [];
    const silences: number[] = [];
    let stateLost = 0;
    presence.start({
      expire: async (peerId) => void expired.push(peerId),
      orphaned: async (peerId, _socketId, silentForMs) => {
        orphaned.push(peerId);
        silences.push(silentForMs);
      },
      stateLost: async () => void (stateLost += 1),
    });
    return { presence, redis, expired, orphaned, silences, lost: () => stateLost };
  }

  it('scheduleExpiry() on one instance is called back once, on time, by one of three polling instances', async () => {
    const all = [instance('x1'), instance('x2'), instance('x3')];
    const started = Date.now();
    await all[0]!.presence.scheduleExpiry('peer-e', 400);
    await all[1]!.presence.scheduleExpiry('peer-cancelled', 400);
    await all[2]!.presence.cancelExpiry('peer-cancelled');
    await until(() => all.some((i) => i.expired.length > 0), 3000);
    const took = Date.now() - started;
    await sleep(400);
    assert.deepEqual(
      all.flatMap((i) => i.expired),
      ['peer-e'],
    );
    assert.ok(took >= 390, `called back after ${took} ms`);
    assert.ok(took < 1500, `called back after ${took} ms`);
    // Shut down, so that the next tests' instances are the only ones polling.
    await Promise.all(all.map((i) => i.presence.close()));
  });

  it('an instance that stops beating has its connected peers orphaned once by a survivor; peers that went offline are not', async () => {
    const survivor = instance('s1');
    const dying = instance('d1');
    await dying.presence.online('peer-a', 'socket-peer-a');
    await dying.presence.online('peer-b', 'socket-peer-b');
    await dying.presence.online('peer-gone', 'socket-peer-gone');
    await dying.presence.offline('peer-gone');
    // Cut off as if killed: it stops beating and cannot leave (which close() would do).
    dying.redis.disconnect();
    await until(() => survivor.orphaned.length >= 2, 4000);
    await sleep(300);
    assert.deepEqual([...survivor.orphaned].sort(), ['peer-a', 'peer-b']);
    // How long ago its last beat was: at least deadAfterMs, at most that and a poll or two more.
    for (const silent of survivor.silences) assert.ok(silent >= 600 && silent < 1500, `${silent} ms`);
    assert.deepEqual(dying.orphaned, []);
    await survivor.presence.close();
  });

  it('an instance that shuts down with close() is not taken for dead', async () => {
    const survivor = instance('s2');
    const leaving = instance('l2');
    await leaving.presence.online('peer-l', 'socket-peer-l');
    await sleep(250);
    await leaving.presence.close();
    await leaving.presence.close(); // safe twice
    await sleep(1200);
    assert.deepEqual(survivor.orphaned, []);
  });

  it('every instance is told stateLost once when the cluster’s keys vanish (Redis restarted empty), and not before', async () => {
    const a = instance('e1');
    const b = instance('e2');
    await sleep(400);
    assert.deepEqual([a.lost(), b.lost()], [0, 0]);
    await deleteRedisKeys(prefix);
    await until(() => a.lost() === 1 && b.lost() === 1, 3000);
    await sleep(400);
    assert.deepEqual([a.lost(), b.lost()], [1, 1]);
    await Promise.all([a.presence.close(), b.presence.close()]);
  });
});
