import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchBrowsers, type Browsers } from './support/browsers.js';
import { closeAll, recordEvents, waitForCall, type Participant } from './support/participant.js';
import { startServer } from './support/server.js';
import { sleep, waitFor } from './support/wait.js';

const ROUNDS = 4;
const ANSWER_DELAY_MS = 500;
const BOUND_MS = 12_000;

test(
  'ICE restarts from Chromium whose answers from Firefox arrive late (a slow signaling path) all end connected: Firefox restarts ICE itself when its checks succeed but never complete',
  { timeout: 120_000 },
  async () => {
    const server = await startServer();
    let browsers: Browsers | undefined;
    let cr: Participant | undefined;
    let fx: Participant | undefined;
    const diagnose = () => [cr?.recentLogs(), fx?.recentLogs()].join('\n');
    try {
      browsers = await launchBrowsers({ origins: [server.url] });
      const room = `fx-late-answer-${Date.now()}`;
      cr = await browsers.open('chromium', server.url, {
        room,
        name: 'chromium',
        // Remote answers are applied ANSWER_DELAY_MS late once the test sets the flag, as if they
        // had crossed a slow network: Firefox's checks for the new ICE generation reach Chromium
        // before Chromium knows Firefox's new credentials.
        initScript: () => {
          const Native = window.RTCPeerConnection;
          const delayMs = 500;
          window.RTCPeerConnection = class extends Native {
            override async setRemoteDescription(description?: RTCSessionDescriptionInit): Promise<void> {
              const late = (window as unknown as { sbDelayAnswers?: boolean }).sbDelayAnswers;
              if (description?.type === 'answer' && late) await new Promise((r) => setTimeout(r, delayMs));
              return super.setRemoteDescription(description!);
            }
          };
        },
      });
      fx = await browsers.open('firefox', server.url, { room, name: 'firefox' });
      const [chromium, firefox] = [cr, fx];
      const { aId: crId, bId: fxId } = await waitForCall(chromium, firefox, { video: false, diagnose });
      const fxEvents = await recordEvents(firefox, ['iceRestart', 'error']);
      const crEvents = await recordEvents(chromium, ['error']);
      await chromium.evaluate(() => {
        (window as unknown as { sbDelayAnswers?: boolean }).sbDelayAnswers = true;
      });

      const link = (peer: Participant, remote: string) =>
        peer.evaluate((id) => window.switchboard!.getPeer(id)!, remote);
      let firefoxRestarts = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        const offersBefore = Number((await link(chromium, fxId)).diagnostics.offersSent);
        const startedAt = Date.now();
        await chromium.evaluate((id) => window.switchboard!.restartIce(id), fxId);
        await sleep(ANSWER_DELAY_MS + 100);
        await waitFor(
          `round ${round}: both sides connected and stable after Chromium's ICE restart`,
          async () => {
            const [c, f] = [await link(chromium, fxId), await link(firefox, crId)];
            return (
              // The restart offer went out (a skipped restart would leave everything as it was).
              Number(c.diagnostics.offersSent) > offersBefore &&
              c.connectionState === 'connected' &&
              f.connectionState === 'connected' &&
              c.signalingState === 'stable' &&
              f.signalingState === 'stable'
            );
          },
          { timeoutMs: BOUND_MS, diagnose },
        );
        const own = fxEvents.filter((e) => e.event === 'iceRestart').length - firefoxRestarts;
        firefoxRestarts += own;
        console.log(
          `round ${round}: connected ${Date.now() - startedAt} ms after Chromium restarted ICE${own > 0 ? `; Firefox restarted ICE itself (${own})` : ''}`,
        );
        await sleep(300);
      }
      console.log(
        firefoxRestarts > 0
          ? `Firefox stalled and restarted ICE itself in ${firefoxRestarts} of ${ROUNDS} rounds`
          : `Firefox never stalled in ${ROUNDS} rounds (the recovery path was not exercised this time)`,
      );
      assert.deepEqual(
        [...crEvents, ...fxEvents].filter((e) => e.event === 'error').map((e) => e.payload),
        [],
        'errors during the restarts',
      );
      assert.ok(await firefox.evaluate((id) => window.switchboard!.send(id, 'still here'), crId));
    } finally {
      await closeAll(cr, fx);
      await browsers?.close();
      await server.stop();
    }
  },
);
