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
import { waitFor } from './support/wait.js';

test(
  'three peers joining one room form a full mesh with video decoded on every link',
  { timeout: 120_000 },
  async () => {
    const server = await startServer();
    const browser = await launchBrowser();
    const peers: Peer[] = [];
    const diagnose = () => [...peers.map((p) => p.recentLogs(25)), server.output().slice(-2000)].join('\n');
    try {
      const room = `mesh-${Date.now()}`;
      for (const name of ['ann', 'ben', 'cat'])
        peers.push(await openPeer(browser, server.url, { room, name }));
      const started = Date.now();
      await waitFor(
        'every page connected to the two others',
        async () => (await Promise.all(peers.map((p) => allConnected(p, 2)))).every(Boolean),
        { timeoutMs: 30_000, diagnose },
      );
      console.log(`full mesh connected ${Date.now() - started} ms after the third page opened`);

      const ids = await Promise.all(peers.map((p) => selfId(p)));
      assert.equal(new Set(ids).size, 3);
      for (const [i, peer] of peers.entries()) {
        const others = ids.filter((_, j) => j !== i).sort();
        assert.deepEqual((await tiles(peer)).map((t) => t.peerId).sort(), others, `${peer.name} tiles`);
        for (const remote of others) {
          await waitFor(`${peer.name} decoding video from ${remote}`, () => framesDecoded(peer, remote!), {
            diagnose,
          });
        }
      }
      // Each link is one RTCPeerConnection per remote peer: record how negotiation went.
      const stats = await Promise.all(
        peers.map((p, i) =>
          p.page.evaluate(
            (others) => others.map((id) => window.switchboard!.getPeer(id)!.diagnostics),
            ids.filter((_, j) => j !== i) as string[],
          ),
        ),
      );
      const recreations = stats.flat().reduce((n, d) => n + Number(d.recreations), 0);
      const collisions = stats.flat().reduce((n, d) => n + Number(d.collisions), 0);
      console.log(`mesh negotiation: ${collisions} offer collisions, ${recreations} recreated connections`);
    } finally {
      await closeAll(...peers, browser);
      await server.stop();
    }
  },
);
