import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allConnected, closeAll, launchBrowser, openPeer, selfId, type Peer } from './support/browser.js';
import { startServer } from './support/server.js';
import { sleep, waitFor } from './support/wait.js';

const ROUNDS = 6;
const BOUND_MS = 15_000;

type Diagnostics = Record<string, number | boolean>;
const delta = (after: Diagnostics, before: Diagnostics, key: string) =>
  Number(after[key]) - Number(before[key]);

test(
  'both peers offering at the same moment (glare) still end connected and stable within a bounded time',
  { timeout: 180_000 },
  async () => {
    const server = await startServer();
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs()].join('\n');
    try {
      const room = `glare-${Date.now()}`;
      a = await openPeer(browser, server.url, { room, name: 'left' });
      b = await openPeer(browser, server.url, { room, name: 'right' });
      const [left, right] = [a, b];
      await waitFor(
        'initial call connected',
        async () => (await allConnected(left, 1)) && (await allConnected(right, 1)),
        {
          timeoutMs: 20_000,
          diagnose,
        },
      );
      const leftId = (await selfId(left))!;
      const rightId = (await selfId(right))!;
      const snapshot = async () => ({
        left: await left.page.evaluate((id) => window.switchboard!.getPeer(id)!, rightId),
        right: await right.page.evaluate((id) => window.switchboard!.getPeer(id)!, leftId),
      });

      let collidedRounds = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        // Odd rounds: a plain renegotiation; even rounds: an ICE restart, which takes the link back through checking.
        const action = round % 2 === 1 ? 'renegotiate' : 'restartIce';
        const before = await snapshot();
        const at = Date.now() + 300;
        // Both pages start their offer at the same wall-clock instant (same machine, same clock).
        const fire = (peer: Peer, remote: string) =>
          peer.page.evaluate(
            ({ at, remote, action }) =>
              new Promise<void>((resolve) =>
                setTimeout(
                  () =>
                    void window.switchboard![action as 'renegotiate' | 'restartIce'](remote).then(resolve),
                  Math.max(0, at - Date.now()),
                ),
              ),
            { at, remote, action },
          );
        await Promise.all([fire(left, rightId), fire(right, leftId)]);
        const offeredAt = Date.now();
        let after = await snapshot();
        await waitFor(
          `round ${round} (${action}): both sides stable and connected again`,
          async () => {
            after = await snapshot();
            return (
              after.left.signalingState === 'stable' &&
              after.right.signalingState === 'stable' &&
              after.left.connectionState === 'connected' &&
              after.right.connectionState === 'connected' &&
              (await allConnected(left, 1)) &&
              (await allConnected(right, 1))
            );
          },
          { timeoutMs: BOUND_MS, diagnose },
        );
        const elapsed = Date.now() - offeredAt;
        await waitFor(`round ${round}: data channel usable`, () =>
          left.page.evaluate((id) => window.switchboard!.send(id, 'after glare'), rightId),
        );
        const d = (key: string) =>
          delta(after.left.diagnostics, before.left.diagnostics, key) +
          delta(after.right.diagnostics, before.right.diagnostics, key);
        const collisions = d('collisions');
        if (collisions > 0) collidedRounds += 1;
        // Every offer either won or was answered: a collision is resolved by one ignore plus one rollback.
        console.log(
          `glare round ${round} (${action}): offers ${d('offersSent')}, collisions ${collisions}, ignored ${d('ignoredOffers')}, rolled back ${d('rollbacks')}, recreated ${d('recreations')}; stable+connected ${elapsed} ms after both offered`,
        );
        await sleep(300);
      }
      assert.ok(collidedRounds > 0, 'no round produced an offer collision: the glare was not forced');
      console.log(`glare forced in ${collidedRounds}/${ROUNDS} rounds`);
    } finally {
      await closeAll(a, b, browser);
      await server.stop();
    }
  },
);

test(
  'a peer connection stuck in "new" (the Chromium glare stall, simulated) is recreated by the watchdog and the call connects',
  { timeout: 90_000 },
  async () => {
    const server = await startServer();
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs()].join('\n');
    try {
      const room = `stuck-${Date.now()}`;
      a = await openPeer(browser, server.url, { room, name: 'early' });
      // The newcomer offers; in its page the first RTCPeerConnection never completes
      // setLocalDescription, so it stays in "new" with nothing gathered, like the connections seen
      // stalled after a glare rollback. Whichever side's watchdog fires first rebuilds the link.
      b = await openPeer(browser, server.url, {
        room,
        name: 'late',
        initScript: () => {
          const Native = window.RTCPeerConnection;
          let created = 0;
          window.RTCPeerConnection = class extends Native {
            constructor(configuration?: RTCConfiguration) {
              super(configuration);
              created += 1;
              if (created === 1) this.setLocalDescription = () => new Promise<void>(() => undefined);
            }
          };
        },
      });
      const [early, late] = [a, b];
      const started = Date.now();
      await waitFor(
        'connected after the watchdog rebuilt the link',
        async () => (await allConnected(early, 1)) && (await allConnected(late, 1)),
        {
          timeoutMs: 30_000,
          diagnose,
        },
      );
      const earlyId = (await selfId(early))!;
      const lateId = (await selfId(late))!;
      const lateDiag = await late.page.evaluate(
        (id) => window.switchboard!.getPeer(id)!.diagnostics,
        earlyId,
      );
      const earlyDiag = await early.page.evaluate(
        (id) => window.switchboard!.getPeer(id)!.diagnostics,
        lateId,
      );
      console.log(
        `stuck link connected ${Date.now() - started} ms after the newcomer opened; recreations: newcomer ${String(lateDiag.recreations)}, other side ${String(earlyDiag.recreations)}`,
      );
      assert.ok(
        Number(lateDiag.recreations) + Number(earlyDiag.recreations) >= 1,
        'no side recreated the stuck connection',
      );
      // `connected` can come a moment before the data channel opens (seen on a loaded machine).
      await waitFor('the data channel to open', () =>
        late.page.evaluate((id) => window.switchboard!.send(id, 'unstuck'), earlyId),
      );
    } finally {
      await closeAll(a, b, browser);
      await server.stop();
    }
  },
);
