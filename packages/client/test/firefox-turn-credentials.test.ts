import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchBrowsers, type Browsers } from './support/browsers.js';
import { startCoturn, type CoturnHandle } from './support/coturn.js';
import { closeAll, tiles, type Participant } from './support/participant.js';
import { startServer, type ServerHandle } from './support/server.js';
import { waitFor } from './support/wait.js';

test(
  'a relay-only Firefox page given TURN credentials from a wrong secret reports ice-gathering-failed, as Chromium does',
  { timeout: 90_000 },
  async () => {
    let coturn: CoturnHandle | undefined;
    let server: ServerHandle | undefined;
    let browsers: Browsers | undefined;
    let fx: Participant | undefined;
    let cr: Participant | undefined;
    const diagnose = () => [fx?.recentLogs(), cr?.recentLogs(), coturn?.log().slice(-1500)].join('\n');
    try {
      coturn = await startCoturn();
      server = await startServer({
        TURN_URL: coturn.url,
        TURN_SECRET: `${coturn.secret}-wrong`,
        TURN_TTL: '600',
      });
      browsers = await launchBrowsers({ origins: [server.url] });
      const room = `fx-badturn-${Date.now()}`;
      cr = await browsers.open('chromium', server.url, { room, name: 'chromium', relay: true });
      fx = await browsers.open('firefox', server.url, { room, name: 'firefox', relay: true });
      const started = Date.now();
      for (const peer of [fx, cr]) {
        // Firefox ends a gathering round with an empty candidate; the SDK must not count it as one.
        const notice = await waitFor(
          `${peer.name}: an error notice`,
          () =>
            peer.evaluate(() => {
              const e = document.querySelector<HTMLElement>('[data-testid="notice"][data-error-reason]');
              return e ? { reason: e.dataset.errorReason ?? '', text: e.textContent ?? '' } : null;
            }),
          { timeoutMs: 20_000, diagnose },
        );
        console.log(`${peer.name} shows after ${Date.now() - started} ms: ${notice.text}`);
        assert.equal(notice.reason, 'ice-gathering-failed', `${peer.name}: ${notice.text}`);
        assert.match(notice.text, /401/);
      }
      for (const peer of [fx, cr]) assert.ok((await tiles(peer)).every((t) => t.state !== 'connected'));
    } finally {
      await closeAll(fx, cr);
      await browsers?.close();
      await server?.stop();
      await coturn?.dispose();
    }
  },
);
