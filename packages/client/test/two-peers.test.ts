import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  allConnected,
  closeAll,
  framesDecoded,
  launchBrowser,
  openPeer,
  selfId,
  tiles,
  type Peer,
} from './support/browser.js';
import { startServer } from './support/server.js';
import { sleep, waitFor } from './support/wait.js';

test(
  "two peers joining one room reach connected, decode each other's video and round-trip a data-channel message",
  { timeout: 90_000 },
  async () => {
    const server = await startServer();
    const browser = await launchBrowser();
    let alice: Peer | undefined;
    let bob: Peer | undefined;
    const diagnose = () => [alice?.recentLogs(), bob?.recentLogs(), server.output().slice(-3000)].join('\n');
    try {
      const room = `two-${Date.now()}`;
      const started = Date.now();
      alice = await openPeer(browser, server.url, { room, name: 'alice' });
      bob = await openPeer(browser, server.url, { room, name: 'bob' });
      const [a, b] = [alice, bob];
      await waitFor(
        'both pages connected',
        async () => (await allConnected(a, 1)) && (await allConnected(b, 1)),
        {
          timeoutMs: 20_000,
          diagnose,
        },
      );
      console.log(`two peers connected ${Date.now() - started} ms after the first page opened`);

      const aliceId = await selfId(a);
      const bobId = await selfId(b);
      assert.ok(aliceId && bobId && aliceId !== bobId);
      assert.deepEqual(
        (await tiles(a)).map((t) => t.peerId),
        [bobId],
      );
      assert.deepEqual(
        (await tiles(b)).map((t) => t.peerId),
        [aliceId],
      );

      // Video frames are decoded on both sides, and keep coming.
      for (const [peer, remote] of [
        [a, bobId],
        [b, aliceId],
      ] as const) {
        const first = await waitFor(`${peer.name} decoding video`, () => framesDecoded(peer, remote), {
          diagnose,
        });
        await sleep(1000);
        const later = await framesDecoded(peer, remote);
        assert.ok(later > first, `${peer.name}: framesDecoded did not rise (${first} -> ${later})`);
        console.log(`${peer.name} framesDecoded ${first} -> ${later} in 1 s`);
      }

      // Bob echoes whatever arrives on the data channel; Alice sends and waits for the echo.
      await b.page.evaluate(() => {
        window.switchboard!.on('dataChannelMessage', (m) => {
          window.switchboard!.send(m.peerId as string, `echo:${String(m.data)}`);
        });
      });
      const roundTrip = await a.page.evaluate(
        (to) =>
          new Promise<number>((resolve, reject) => {
            const sb = window.switchboard!;
            const sentAt = performance.now();
            const off = sb.on('dataChannelMessage', (m) => {
              if (m.peerId === to && m.data === 'echo:hello over the data channel') {
                off();
                resolve(performance.now() - sentAt);
              }
            });
            if (!sb.send(to, 'hello over the data channel')) reject(new Error('data channel not open'));
            setTimeout(() => reject(new Error('no echo within 10 s')), 10_000);
          }),
        bobId,
      );
      console.log(`data-channel round trip ${roundTrip.toFixed(1)} ms`);

      // The demo's buttons: mute disables the microphone track; leave makes the tile vanish on the other side.
      await b.page.click('#mute');
      assert.equal(await b.page.getAttribute('#mute', 'aria-pressed'), 'true');
      assert.equal(
        await b.page.evaluate(() =>
          (document.querySelector('[data-testid="local-video"]') as HTMLVideoElement).srcObject instanceof
          MediaStream
            ? (
                (document.querySelector('[data-testid="local-video"]') as HTMLVideoElement)
                  .srcObject as MediaStream
              )
                .getAudioTracks()
                .every((t) => !t.enabled)
            : false,
        ),
        true,
      );
      await b.page.click('#leave');
      await waitFor("bob gone from alice's page", async () => (await tiles(a)).length === 0, {
        timeoutMs: 10_000,
        diagnose,
      });
      assert.equal(await b.page.evaluate(() => window.switchboard!.state), 'closed');
    } finally {
      await closeAll(alice, bob, browser);
      await server.stop();
    }
  },
);
