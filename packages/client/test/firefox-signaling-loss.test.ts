import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchBrowsers, type Browsers } from './support/browsers.js';
import {
  allConnected,
  closeAll,
  framesDecoded,
  recordEvents,
  selfId,
  waitForCall,
  type Participant,
} from './support/participant.js';
import { startServer } from './support/server.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { sleep, waitFor } from './support/wait.js';

/**
 * Longer than the SDK's negotiation watchdog (stuckConnectionTimeoutMs, 5 s; 10 s on the polite
 * side): the renegotiation queued during the outage must wait for signaling, not get the working
 * connection rebuilt.
 */
const OUTAGE_MS = 11_000;

test(
  'a Firefox page whose signaling connection is reset mid-call with Chromium keeps its media, resumes with the same peer id and its queued renegotiation completes',
  { timeout: 120_000 },
  async () => {
    const server = await startServer();
    // Firefox reaches the server only through this proxy; Chromium connects directly.
    const proxy = await startTcpProxy(server.port);
    let browsers: Browsers | undefined;
    let fx: Participant | undefined;
    let cr: Participant | undefined;
    const diagnose = () => [fx?.recentLogs(), cr?.recentLogs(), server.output().slice(-2000)].join('\n');
    try {
      browsers = await launchBrowsers({ origins: [server.url, proxy.url] });
      const room = `fx-loss-${Date.now()}`;
      fx = await browsers.open('firefox', proxy.url, { room, name: 'firefox' });
      cr = await browsers.open('chromium', server.url, { room, name: 'chromium' });
      const [firefox, chromium] = [fx, cr];
      const { aId: fxId, bId: crId } = await waitForCall(firefox, chromium, { diagnose });
      const fxEvents = await recordEvents(firefox, ['reconnecting', 'reconnected', 'peerLeft', 'error']);
      const crEvents = await recordEvents(chromium, ['peerLeft', 'peerJoined', 'error']);
      const diagnostics = async () => ({
        firefox: await firefox.evaluate((id) => window.switchboard!.getPeer(id)!.diagnostics, crId),
        chromium: await chromium.evaluate((id) => window.switchboard!.getPeer(id)!.diagnostics, fxId),
      });
      const diagnosticsBefore = await diagnostics();
      const framesBefore = {
        firefox: await framesDecoded(firefox, crId),
        chromium: await framesDecoded(chromium, fxId),
      };

      // Cut Firefox's WebSocket with a TCP reset and refuse its reconnections for a while.
      proxy.block();
      proxy.cut();
      const cutAt = Date.now();
      await waitFor(
        'firefox reconnecting',
        () => firefox.evaluate(() => window.switchboard!.state === 'reconnecting'),
        { timeoutMs: 10_000, diagnose },
      );
      console.log(`firefox noticed the loss after ${Date.now() - cutAt} ms`);
      // A renegotiation started while the socket is down: its offer is queued and must go out after the resume.
      await firefox.evaluate((id) => window.switchboard!.renegotiate(id), crId);
      assert.equal(
        await firefox.evaluate((id) => window.switchboard!.getPeer(id)!.signalingState, crId),
        'have-local-offer',
      );
      // The data channel does not need the server, in either direction.
      assert.ok(
        await chromium.evaluate((to) => window.switchboard!.send(to, 'during the outage'), fxId),
        'data channel closed during the signaling outage (chromium -> firefox)',
      );
      assert.ok(
        await firefox.evaluate((to) => window.switchboard!.send(to, 'during the outage'), crId),
        'data channel closed during the signaling outage (firefox -> chromium)',
      );
      await sleep(OUTAGE_MS);
      const framesDuring = {
        firefox: await framesDecoded(firefox, crId),
        chromium: await framesDecoded(chromium, fxId),
      };
      assert.ok(
        framesDuring.firefox > framesBefore.firefox,
        `firefox stopped decoding during the outage (${framesBefore.firefox} -> ${framesDuring.firefox})`,
      );
      assert.ok(
        framesDuring.chromium > framesBefore.chromium,
        `chromium stopped decoding during the outage (${framesBefore.chromium} -> ${framesDuring.chromium})`,
      );
      assert.ok(await allConnected(firefox, 1), 'firefox link left connected during the outage');
      console.log(
        `frames decoded during ${OUTAGE_MS} ms without signaling: firefox +${framesDuring.firefox - framesBefore.firefox}, chromium +${framesDuring.chromium - framesBefore.chromium}`,
      );

      proxy.unblock();
      const unblockedAt = Date.now();
      const reconnected = await waitFor(
        'firefox reconnected',
        () => fxEvents.find((e) => e.event === 'reconnected'),
        { timeoutMs: 20_000, diagnose },
      );
      console.log(
        `firefox resumed ${reconnected.at - unblockedAt} ms after the server became reachable again (${reconnected.at - cutAt} ms after the cut), via ${String(reconnected.payload.via)}`,
      );
      assert.equal(reconnected.payload.resumed, true);
      assert.equal(reconnected.payload.peerId, fxId);
      assert.ok(fxEvents.some((e) => e.event === 'reconnecting'));

      // The queued offer was delivered after the resume and answered.
      await waitFor(
        'the renegotiation queued during the outage completes',
        async () =>
          (await firefox.evaluate((id) => window.switchboard!.getPeer(id)!.signalingState, crId)) ===
            'stable' &&
          (await chromium.evaluate((id) => window.switchboard!.getPeer(id)!.signalingState, fxId)) ===
            'stable',
        { timeoutMs: 10_000, diagnose },
      );
      // Answered, not worked around: Chromium answered it, neither side rebuilt its connection.
      const diagnosticsAfter = await diagnostics();
      const delta = (side: 'firefox' | 'chromium', key: string) =>
        Number(diagnosticsAfter[side][key]) - Number(diagnosticsBefore[side][key]);
      assert.equal(delta('firefox', 'offersSent'), 1, 'offers firefox sent');
      assert.equal(delta('chromium', 'answersSent'), 1, 'answers chromium sent');
      assert.equal(delta('firefox', 'recreations') + delta('chromium', 'recreations'), 0, 'rebuilt');
      assert.ok(await allConnected(firefox, 1));
      assert.ok(await allConnected(chromium, 1));
      // Give a late peerLeft the chance to show up before asserting it never came.
      await sleep(1000);
      assert.deepEqual(
        crEvents.filter((e) => e.event === 'peerLeft' || e.event === 'error'),
        [],
        'chromium saw firefox leave, or an error',
      );
      assert.deepEqual(
        fxEvents.filter((e) => e.event === 'peerLeft' || e.event === 'error'),
        [],
      );
      assert.equal(fxEvents.filter((e) => e.event === 'reconnected').length, 1);
      assert.equal(await selfId(firefox), fxId);
      assert.equal(await selfId(chromium), crId);
    } finally {
      await closeAll(fx, cr);
      await browsers?.close();
      await proxy.close();
      await server.stop();
    }
  },
);
