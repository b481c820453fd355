import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  allConnected,
  closeAll,
  framesDecoded,
  launchBrowser,
  openPeer,
  type Peer,
  recordEvents,
  selfId,
  waitForCall,
} from './support/browser.js';
import { startServer } from './support/server.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { sleep, waitFor } from './support/wait.js';

const OUTAGE_MS = 2500;

test(
  'a page whose signaling connection is reset mid-call keeps its media, resumes with the same peer id and the other side sees no peerLeft',
  { timeout: 120_000 },
  async () => {
    const server = await startServer();
    // Alice reaches the server only through this proxy; Bob connects directly.
    const proxy = await startTcpProxy(server.port);
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), server.output().slice(-2000)].join('\n');
    try {
      const room = `loss-${Date.now()}`;
      a = await openPeer(browser, proxy.url, { room, name: 'alice' });
      b = await openPeer(browser, server.url, { room, name: 'bob' });
      const [alice, bob] = [a, b];
      const { aId: aliceId, bId: bobId } = await waitForCall(alice, bob, { diagnose });
      const aliceEvents = await recordEvents(alice, [
        'reconnecting',
        'reconnected',
        'peerLeft',
        'stateChange',
        'error',
      ]);
      const bobEvents = await recordEvents(bob, ['peerLeft', 'peerJoined']);
      const framesBefore = {
        alice: await framesDecoded(alice, bobId),
        bob: await framesDecoded(bob, aliceId),
      };

      // Cut Alice's WebSocket with a TCP reset and refuse her reconnections for a while.
      proxy.block();
      proxy.cut();
      const cutAt = Date.now();
      await waitFor(
        'alice reconnecting',
        () => alice.page.evaluate(() => window.switchboard!.state === 'reconnecting'),
        {
          timeoutMs: 10_000,
          diagnose,
        },
      );
      console.log(`alice noticed the loss after ${Date.now() - cutAt} ms`);
      // A renegotiation started while the socket is down: its offer is queued and must go out after the resume.
      await alice.page.evaluate((id) => window.switchboard!.renegotiate(id), bobId);
      assert.equal(
        await alice.page.evaluate((id) => window.switchboard!.getPeer(id)!.signalingState, bobId),
        'have-local-offer',
      );
      // The data channel does not need the server.
      const dataDuringOutage = await bob.page.evaluate(
        (to) =>
          new Promise<boolean>((resolve) => {
            resolve(window.switchboard!.send(to, 'during the outage'));
          }),
        aliceId,
      );
      assert.ok(dataDuringOutage, 'data channel closed during the signaling outage');
      await sleep(OUTAGE_MS);
      const framesDuring = {
        alice: await framesDecoded(alice, bobId),
        bob: await framesDecoded(bob, aliceId),
      };
      assert.ok(
        framesDuring.alice > framesBefore.alice,
        `alice stopped decoding during the outage (${framesBefore.alice} -> ${framesDuring.alice})`,
      );
      assert.ok(
        framesDuring.bob > framesBefore.bob,
        `bob stopped decoding during the outage (${framesBefore.bob} -> ${framesDuring.bob})`,
      );
      assert.ok(await allConnected(alice, 1), 'alice link left connected during the outage');
      console.log(
        `frames decoded during ${OUTAGE_MS} ms without signaling: alice +${framesDuring.alice - framesBefore.alice}, bob +${framesDuring.bob - framesBefore.bob}`,
      );

      proxy.unblock();
      const unblockedAt = Date.now();
      const reconnected = await waitFor(
        'alice reconnected',
        () => aliceEvents.find((e) => e.event === 'reconnected'),
        {
          timeoutMs: 20_000,
          diagnose,
        },
      );
      console.log(
        `alice resumed ${reconnected.at - unblockedAt} ms after the server became reachable again (${reconnected.at - cutAt} ms after the cut), via ${String(reconnected.payload.via)}`,
      );
      assert.equal(reconnected.payload.resumed, true);
      assert.equal(reconnected.payload.peerId, aliceId);
      assert.equal(await selfId(alice), aliceId);
      assert.ok(aliceEvents.some((e) => e.event === 'reconnecting'));

      // The queued offer was delivered after the resume and answered.
      await waitFor(
        'the renegotiation queued during the outage completes',
        async () =>
          (await alice.page.evaluate((id) => window.switchboard!.getPeer(id)!.signalingState, bobId)) ===
            'stable' &&
          (await bob.page.evaluate((id) => window.switchboard!.getPeer(id)!.signalingState, aliceId)) ===
            'stable',
        { timeoutMs: 10_000, diagnose },
      );
      assert.ok(await allConnected(alice, 1));
      assert.ok(await allConnected(bob, 1));
      // Give a late peerLeft the chance to show up before asserting it never came.
      await sleep(1000);
      assert.deepEqual(
        bobEvents.filter((e) => e.event === 'peerLeft'),
        [],
        'bob saw alice leave',
      );
      assert.deepEqual(
        aliceEvents.filter((e) => e.event === 'peerLeft' || e.event === 'error'),
        [],
      );
      // The server's `resumed` (sent after the recovery too) matched the session: no second reconnection or rejoin.
      assert.equal(aliceEvents.filter((e) => e.event === 'reconnected').length, 1);
      assert.equal(await selfId(alice), aliceId);
      assert.equal(await selfId(bob), bobId);
    } finally {
      await closeAll(a, b, browser);
      await proxy.close();
      await server.stop();
    }
  },
);
