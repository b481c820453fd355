// Issue 11, item 6: Redis restarted without persistence under a call. Two server processes on a Redis
// of the test's own, behind a real haproxy; two Chromium pages in a call through it. Redis is killed
// and started again empty: the instances notice (the cluster's state epoch changed) and make their
// clients reconnect, the SDK's resume is refused (nothing of the old session is left), it joins the
// room again under a new id and renegotiates, and video flows between the new ids.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  closeAll,
  launchBrowser,
  openPeer,
  recordEvents,
  waitForCall,
  type Peer,
} from './support/browser.js';
import { assertVideoFlowing, waitForRejoinedCall } from './support/participant.js';
import { stackDiagnose, startClusterStack, startOwnRedis } from './support/cluster.js';

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
    const diagnose = stackDiagnose(stack, () => [a, b]);
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
      const after = await waitForRejoinedCall(alice, bob, { a: events.alice, b: events.bob }, before, {
        diagnose,
      });
      await assertVideoFlowing(alice, after.bId, diagnose);
      await assertVideoFlowing(bob, after.aId, diagnose);
      console.log(
        `Redis restarted empty: alice rejoined ${after.aRejoinedAt - killedAt} ms after the kill, bob ${after.bRejoinedAt - killedAt} ms; video flowing again ${Date.now() - killedAt} ms after it`,
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
