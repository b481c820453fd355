// The demo page against the real server with authentication on (AUTH_JWT_SECRET): a call between
// two users, each page opened with its own `?token=`, and the messages shown when the server
// refuses a page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  closeAll,
  framesDecoded,
  launchBrowser,
  openPeer,
  tiles,
  waitForCall,
  type Peer,
} from './support/browser.js';
import { startServer } from './support/server.js';
import { TEST_AUTH_SECRET, mintToken } from './support/tokens.js';
import { sleep, waitFor } from './support/wait.js';

test(
  "two demo pages opened with their own ?token= (different users, same room grant) reach connected, decode each other's video and show each other's userId",
  { timeout: 90_000 },
  async () => {
    const server = await startServer({ AUTH_JWT_SECRET: TEST_AUTH_SECRET });
    const browser = await launchBrowser();
    let alice: Peer | undefined;
    let bob: Peer | undefined;
    const diagnose = () => [alice?.recentLogs(), bob?.recentLogs(), server.output().slice(-3000)].join('\n');
    try {
      const room = `auth-${Date.now()}`;
      const config = (await (await fetch(`${server.url}/webrtc/config`)).json()) as {
        authRequired?: boolean;
      };
      assert.equal(config.authRequired, true, 'GET /webrtc/config should report authRequired');

      const aliceToken = await mintToken({ sub: 'alice-123', room });
      const bobToken = await mintToken({ sub: 'bob-456', rooms: ['elsewhere', room] });
      alice = await openPeer(browser, server.url, { room, name: 'alice', token: aliceToken });
      bob = await openPeer(browser, server.url, { room, name: 'bob', token: bobToken });
      const [a, b] = [alice, bob];
      const { aId, bId } = await waitForCall(a, b, { diagnose });

      for (const [peer, remote] of [
        [a, bId],
        [b, aId],
      ] as const) {
        const first = await framesDecoded(peer, remote);
        await sleep(1000);
        const later = await framesDecoded(peer, remote);
        assert.ok(later > first, `${peer.name}: framesDecoded did not rise (${first} -> ${later})`);
      }
      assert.deepEqual(
        (await tiles(a)).map((t) => [t.peerId, t.userId]),
        [[bId, 'bob-456']],
      );
      assert.deepEqual(
        (await tiles(b)).map((t) => [t.peerId, t.userId]),
        [[aId, 'alice-123']],
      );
      // The token left the address bar (people share it to invite others), not the session.
      for (const peer of [a, b]) assert.doesNotMatch(peer.page.url(), /token=/);

      // GET /webrtc/ice-servers wants the token as a bearer.
      const anonymous = await fetch(`${server.url}/webrtc/ice-servers`);
      assert.equal(anonymous.status, 401);
      const authorized = await fetch(`${server.url}/webrtc/ice-servers`, {
        headers: { authorization: `Bearer ${aliceToken}` },
      });
      assert.equal(authorized.status, 200);
    } finally {
      await closeAll(alice, bob, browser);
      await server.stop();
    }
  },
);

test(
  'a demo page without a token, or with a token for another room, says why the server refused it',
  { timeout: 60_000 },
  async () => {
    const server = await startServer({ AUTH_JWT_SECRET: TEST_AUTH_SECRET });
    const browser = await launchBrowser();
    let anonymous: Peer | undefined;
    let outsider: Peer | undefined;
    const diagnose = () =>
      [anonymous?.recentLogs(), outsider?.recentLogs(), server.output().slice(-3000)].join('\n');
    const refusal = (peer: Peer) =>
      peer.page.evaluate(() => {
        const item = document.querySelector<HTMLElement>('[data-testid="notice"][data-error-code]');
        return item
          ? {
              code: item.dataset.errorCode,
              reason: item.dataset.errorReason,
              text: item.textContent ?? '',
              visible: item.checkVisibility(),
            }
          : null;
      });
    try {
      const room = `refused-${Date.now()}`;
      anonymous = await openPeer(browser, server.url, { room, name: 'anon' });
      outsider = await openPeer(browser, server.url, {
        room,
        name: 'outsider',
        token: await mintToken({ sub: 'carol', room: 'another-room' }),
      });

      const noToken = await waitFor('the anonymous page shows a refusal', () => refusal(anonymous!), {
        diagnose,
      });
      assert.equal(noToken.code, 'UNAUTHORIZED');
      assert.equal(noToken.reason, 'unauthorized');
      assert.match(noToken.text, /requires an access token/);
      assert.equal(await anonymous.page.evaluate(() => window.switchboard!.state), 'disconnected');

      const wrongRoom = await waitFor('the outsider page shows a refusal', () => refusal(outsider!), {
        diagnose,
      });
      assert.equal(wrongRoom.code, 'FORBIDDEN');
      assert.equal(wrongRoom.reason, 'join-rejected');
      assert.match(wrongRoom.text, new RegExp(`does not let you join the room "${room}"`));
      assert.equal(await outsider.page.evaluate(() => window.switchboard!.state), 'disconnected');
      assert.ok(noToken.visible && wrongRoom.visible);
    } finally {
      await closeAll(anonymous, outsider, browser);
      await server.stop();
    }
  },
);
