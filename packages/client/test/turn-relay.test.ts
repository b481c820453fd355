import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  allConnected,
  closeAll,
  launchBrowser,
  openPeer,
  selfId,
  tiles,
  type Peer,
} from './support/browser.js';
import { startCoturn, type CoturnHandle } from './support/coturn.js';
import { startServer } from './support/server.js';
import { waitFor } from './support/wait.js';
import type { Browser } from 'playwright-core';

let coturn: CoturnHandle;
let browser: Browser;

before(async () => {
  coturn = await startCoturn();
  browser = await launchBrowser();
});

after(async () => {
  await closeAll(browser);
  await coturn?.dispose();
});

test(
  'a relay-only call through coturn with credentials minted from the shared secret connects over a relay candidate pair',
  { timeout: 90_000 },
  async () => {
    const server = await startServer({ TURN_URL: coturn.url, TURN_SECRET: coturn.secret, TURN_TTL: '600' });
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), coturn.log().slice(-2000)].join('\n');
    try {
      // The server mints TURN REST credentials (username "<expiry>:<id>", HMAC-SHA1 of it) from the same secret.
      const ice = (await (await fetch(`${server.url}/webrtc/ice-servers`)).json()) as {
        iceServers: { urls: string | string[]; username?: string }[];
        hasTurn: boolean;
      };
      assert.equal(ice.hasTurn, true);
      const turn = ice.iceServers.find((s) => [s.urls].flat().some((u) => u.startsWith('turn:')));
      assert.match(turn?.username ?? '', /^\d+:/);

      const room = `relay-${Date.now()}`;
      a = await openPeer(browser, server.url, { room, name: 'north', relay: true });
      b = await openPeer(browser, server.url, { room, name: 'south', relay: true });
      const [north, south] = [a, b];
      const started = Date.now();
      await waitFor(
        'relay call connected',
        async () => (await allConnected(north, 1)) && (await allConnected(south, 1)),
        {
          timeoutMs: 30_000,
          diagnose,
        },
      );
      console.log(`relay call connected ${Date.now() - started} ms after the second page opened`);
      for (const [peer, other] of [
        [north, south],
        [south, north],
      ] as const) {
        const remoteId = (await selfId(other))!;
        const pair = await waitFor(`${peer.name}: selected candidate pair`, () =>
          peer.page.evaluate((id) => window.switchboard!.getSelectedCandidatePair(id), remoteId),
        );
        assert.equal(pair.local.candidateType, 'relay', `${peer.name} local candidate`);
        console.log(
          `${peer.name}: selected pair local=${pair.local.candidateType} remote=${pair.remote.candidateType}`,
        );
      }
    } finally {
      await closeAll(a, b);
      await server.stop();
    }
  },
);

test(
  'a relay-only call whose server mints TURN credentials from a wrong secret fails fast with an ice-gathering-failed error',
  { timeout: 90_000 },
  async () => {
    const server = await startServer({
      TURN_URL: coturn.url,
      TURN_SECRET: `${coturn.secret}-wrong`,
      TURN_TTL: '600',
    });
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs()].join('\n');
    try {
      const room = `badturn-${Date.now()}`;
      a = await openPeer(browser, server.url, { room, name: 'east', relay: true });
      b = await openPeer(browser, server.url, { room, name: 'west', relay: true });
      const started = Date.now();
      for (const peer of [a, b]) {
        const reason = await waitFor(
          `${peer.name}: an error notice`,
          () =>
            peer.page
              .getAttribute('[data-testid="notice"][data-error-reason]', 'data-error-reason', {
                timeout: 100,
              })
              .catch(() => null),
          { timeoutMs: 20_000, diagnose },
        );
        assert.equal(reason, 'ice-gathering-failed');
        const text = await peer.page.textContent('[data-testid="notice"][data-error-reason]');
        console.log(`${peer.name} shows after ${Date.now() - started} ms: ${text}`);
        assert.match(text ?? '', /401|relay/);
      }
      for (const peer of [a, b]) assert.ok((await tiles(peer)).every((t) => t.state !== 'connected'));
    } finally {
      await closeAll(a, b);
      await server.stop();
    }
  },
);
