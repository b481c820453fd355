// Issue 11, item 6: Redis restarted without persistence under a call. Two server processes on a Redis
// of the test's own, behind a real haproxy; two Chromium pages in a call through it. Redis is killed
// and started again empty: the instances notice (the cluster's state epoch changed) and make their
// clients reconnect, the SDK's resume is refused (nothing of the old session is left), it joins the
// room again under a new id and renegotiates, and video flows between the new ids.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  allConnected,
  closeAll,
  launchBrowser,
  openPeer,
  recordEvents,
  selfId,
  tiles,
  waitForCall,
  type Peer,
} from './support/browser.js';
import { assertVideoFlowing } from './support/participant.js';
import { startClusterStack, startOwnRedis } from './support/cluster.js';
import { waitFor } from './support/wait.js';

test(
  'a Redis restarted empty under a call through the load balancer: both pages rejoin under new ids on their own and video flows between them again',
  { timeout: 150_000 },
  async () => {
    const redis = await startOwnRedis(false);
    const stack = await startClusterStack(2, {}, redis.url).catch(async (err: unknown) => {
      await redis.close();
      throw err;
    });
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () =>
      [
        a?.recentLogs(),
        b?.recentLogs(),
        ...stack.instances.map((i, n) => `--- sb${n + 1}\n${i.output().slice(-1500)}`),
        `--- haproxy\n${stack.lb.output().slice(-1500)}`,
      ].join('\n');
    try {
      const room = `redis-restart-${Date.now()}`;
      a = await openPeer(browser, stack.lb.url, { room, name: 'alice' });
      b = await openPeer(browser, stack.lb.url, { room, name: 'bob' });
      const [alice, bob] = [a, b];
      const before = await waitForCall(alice, bob, { timeoutMs: 30_000, diagnose });
      await assertVideoFlowing(alice, before.bId, diagnose);
      await assertVideoFlowing(bob, before.aId, diagnose);
      const names = ['reconnecting', 'reconnected', 'error'];
      const events = { alice: await recordEvents(alice, names), bob: await recordEvents(bob, names) };

      const killedAt = Date.now();
      await redis.kill();
      await redis.start(); // no persistence: empty
      const [aliceBack, bobBack] = await Promise.all(
        (['alice', 'bob'] as const).map((who) =>
          waitFor(`${who} reconnected`, () => events[who].find((e) => e.event === 'reconnected'), {
            timeoutMs: 30_000,
            diagnose,
          }),
        ),
      );
      for (const back of [aliceBack, bobBack]) {
        assert.equal(back.payload.resumed, false, 'nothing to resume in an empty Redis');
        assert.equal(back.payload.via, 'rejoin');
      }
      const after = { aId: (await selfId(alice))!, bId: (await selfId(bob))! };
      assert.notEqual(after.aId, before.aId);
      assert.notEqual(after.bId, before.bId);
      await waitFor(
        'the call re-established between the new ids',
        async () =>
          (await allConnected(alice, 1)) &&
          (await allConnected(bob, 1)) &&
          (await tiles(alice))[0]?.peerId === after.bId &&
          (await tiles(bob))[0]?.peerId === after.aId,
        { timeoutMs: 30_000, diagnose },
      );
      await assertVideoFlowing(alice, after.bId, diagnose);
      await assertVideoFlowing(bob, after.aId, diagnose);
      console.log(
        `Redis restarted empty: alice rejoined ${aliceBack.at - killedAt} ms after the kill, bob ${bobBack.at - killedAt} ms; video flowing again ${Date.now() - killedAt} ms after it`,
      );
      assert.ok(events.alice.some((e) => e.event === 'reconnecting'));
      assert.deepEqual(
        [...events.alice, ...events.bob].filter((e) => e.event === 'error'),
        [],
      );
    } finally {
      await closeAll(a, b, browser);
      await stack.close();
      await redis.close();
    }
  },
);
