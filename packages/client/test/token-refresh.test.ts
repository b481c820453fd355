// Access tokens shorter than the call, in real Chromium against the real server with
// authentication on: the SDK's `getToken` renews them (refreshToken) and the call carries on; a
// static short token gets the connection ended by the server with TOKEN_EXPIRED.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  allConnected,
  closeAll,
  framesDecoded,
  launchBrowser,
  openBlankPeer,
  openPeer,
  recordEvents,
  selfId,
  type Peer,
} from './support/browser.js';
import { startServer } from './support/server.js';
import { TEST_AUTH_SECRET, mintToken } from './support/tokens.js';
import { sleep, waitFor } from './support/wait.js';

const TOKEN_TTL_S = 5;

test(
  'a call outlives its 5-second tokens: getToken renews each one before exp and media keeps flowing for 3 lifetimes',
  { timeout: 120_000 },
  async () => {
    const server = await startServer({ AUTH_JWT_SECRET: TEST_AUTH_SECRET });
    const browser = await launchBrowser();
    let ana: Peer | undefined;
    let bo: Peer | undefined;
    const diagnose = () => [ana?.recentLogs(), bo?.recentLogs(), server.output().slice(-3000)].join('\n');
    try {
      const room = `refresh-${Date.now()}`;
      // Bo: the demo page with an ordinary one-hour token.
      bo = await openPeer(browser, server.url, {
        room,
        name: 'bo',
        token: await mintToken({ sub: 'bo', room }),
      });
      // Ana: a page using the SDK with getToken, whose tokens the test mints (5 s each).
      ana = await openBlankPeer(browser, server.url, 'ana');
      const minted: { at: number; exp: number }[] = [];
      await ana.page.exposeFunction('mintShortToken', async () => {
        const token = await mintToken({ sub: 'ana', room, ttlSeconds: TOKEN_TTL_S });
        const exp = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp as number;
        minted.push({ at: Date.now(), exp: exp * 1000 });
        return token;
      });
      await ana.page.evaluate(
        async ({ room, debug }) => {
          const sdk = (await import(`${location.origin}/switchboard.js`)) as typeof import('../src/index.js');
          const localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
          const client = new sdk.SwitchboardClient({
            room,
            displayName: 'ana',
            localStream,
            logLevel: debug ? 'debug' : 'info',
            getToken: () => (window as unknown as { mintShortToken(): Promise<string> }).mintShortToken(),
          });
          (window as unknown as { switchboard: unknown }).switchboard = client;
          await client.connect();
        },
        { room, debug: Boolean(process.env.SB_DEBUG) },
      );
      const [a, b] = [ana, bo];
      const events = await recordEvents(a, ['stateChange', 'reconnecting', 'reconnected', 'error', 'closed']);
      const anaLinks = () =>
        a.page.evaluate(() => window.switchboard!.getPeers().map((p) => [p.userId, p.connectionState]));
      await waitFor(
        'call connected',
        async () =>
          JSON.stringify(await anaLinks()) === JSON.stringify([['bo', 'connected']]) &&
          (await allConnected(b, 1)),
        { diagnose },
      );
      const anaId = (await selfId(a))!;
      const boId = (await selfId(b))!;
      await waitFor(
        'video flowing',
        async () => (await framesDecoded(a, boId)) > 0 && (await framesDecoded(b, anaId)) > 0,
        { diagnose },
      );
      const firstExp = minted[0].exp;
      console.log(`first token expires ${firstExp - Date.now()} ms from now`);

      // Three lifetimes; every second the call must still be up, on both sides.
      const until = firstExp + 2 * TOKEN_TTL_S * 1000 + 1000;
      let samples = 0;
      while (Date.now() < until) {
        await sleep(1000);
        samples += 1;
        assert.equal(await a.page.evaluate(() => window.switchboard!.state), 'connected', diagnose());
        assert.deepEqual(await anaLinks(), [['bo', 'connected']]);
        assert.ok(await allConnected(b, 1), 'bo lost the call');
      }
      const framesBefore = { ana: await framesDecoded(a, boId), bo: await framesDecoded(b, anaId) };
      await sleep(1000);
      const framesAfter = { ana: await framesDecoded(a, boId), bo: await framesDecoded(b, anaId) };
      assert.ok(framesAfter.ana > framesBefore.ana, `ana stopped decoding ${JSON.stringify(framesAfter)}`);
      assert.ok(framesAfter.bo > framesBefore.bo, `bo stopped decoding ${JSON.stringify(framesAfter)}`);

      console.log(
        `${samples} s past the first token's expiry; tokens minted at +${minted.map((m) => m.at - minted[0].at).join(', +')} ms`,
      );
      // The first token for the handshake, then one renewal per ~3.75 s (75 % of a 5 s lifetime).
      assert.ok(minted.length >= 4, `only ${minted.length} tokens minted`);
      for (let i = 1; i < minted.length; i++) {
        assert.ok(minted[i].at < minted[i - 1].exp, `token ${i} was fetched after token ${i - 1} expired`);
      }
      // One connection all along: no drop, no reconnection, no error, same peer id.
      assert.deepEqual(events, [], 'state changes, reconnections or errors during the call');
      assert.equal(await selfId(a), anaId);
      assert.doesNotMatch(server.output(), /TOKEN_EXPIRED/);
    } finally {
      await closeAll(ana, bo, browser);
      await server.stop();
    }
  },
);

test(
  'a demo page with a static 5-second token and no getToken is ended by the server with TOKEN_EXPIRED and says so',
  { timeout: 60_000 },
  async () => {
    const server = await startServer({ AUTH_JWT_SECRET: TEST_AUTH_SECRET });
    const browser = await launchBrowser();
    let cy: Peer | undefined;
    const diagnose = () => [cy?.recentLogs(), server.output().slice(-3000)].join('\n');
    try {
      const room = `expiry-${Date.now()}`;
      const token = await mintToken({ sub: 'cy', room, ttlSeconds: TOKEN_TTL_S });
      const exp = (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp as number) * 1000;
      cy = await openPeer(browser, server.url, { room, name: 'cy', token });
      const page = cy.page;
      await waitFor('cy connected', () => page.evaluate(() => window.switchboard!.state === 'connected'), {
        diagnose,
      });
      const events = await recordEvents(cy, ['error', 'closed', 'reconnecting']);
      assert.ok(
        cy.logs.some((line) => /no getToken option to renew it/.test(line)),
        'the SDK did not warn that the static token will end the call',
      );

      const error = await waitFor('the TOKEN_EXPIRED error', () => events.find((e) => e.event === 'error'), {
        timeoutMs: TOKEN_TTL_S * 1000 + 10_000,
        diagnose,
      });
      console.log(`ended ${error.at - exp} ms after the token's exp`);
      assert.ok(error.at >= exp - 1000, `ended ${exp - error.at} ms before exp`);
      assert.equal(error.payload.reason, 'unauthorized');
      await waitFor('closed', () => events.some((e) => e.event === 'closed'), { diagnose });
      assert.equal(await page.evaluate(() => window.switchboard!.state), 'closed');
      const notice = await page.evaluate(() => {
        const item = document.querySelector<HTMLElement>('[data-testid="notice"][data-error-code]');
        return { code: item?.dataset.errorCode, text: item?.textContent ?? '' };
      });
      assert.equal(notice.code, 'TOKEN_EXPIRED');
      assert.match(notice.text, /access token expired/);
      assert.equal(await page.isVisible('#left'), true);
      assert.equal(await page.textContent('#left-title'), 'The call ended');
      await sleep(1500);
      assert.deepEqual(
        events.filter((e) => e.event === 'reconnecting'),
        [],
        'reconnected with a token that cannot be renewed',
      );
    } finally {
      await closeAll(cy, browser);
      await server.stop();
    }
  },
);
