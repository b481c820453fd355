import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launchBrowsers, type Browsers } from './support/browsers.js';
import {
  allConnected,
  assertVideoFlowing,
  closeAll,
  dataChannelEcho,
  selfId,
  tiles,
  type BrowserName,
  type Participant,
} from './support/participant.js';
import { startServer } from './support/server.js';
import { waitFor } from './support/wait.js';

test(
  'two Chromium pages and a Firefox page joining one room (Firefox second) form a full mesh with video decoded and data echoed on every link',
  { timeout: 120_000 },
  async () => {
    const server = await startServer();
    let browsers: Browsers | undefined;
    const peers: Participant[] = [];
    const diagnose = () => [...peers.map((p) => p.recentLogs(25)), server.output().slice(-2000)].join('\n');
    try {
      browsers = await launchBrowsers({ origins: [server.url] });
      const room = `mixed-mesh-${Date.now()}`;
      // The newcomer offers: Firefox offers to the first page and answers the third, so it takes
      // both sides of the negotiation.
      const joins: [BrowserName, string][] = [
        ['chromium', 'ann-chromium'],
        ['firefox', 'ben-firefox'],
        ['chromium', 'cat-chromium'],
      ];
      for (const [browser, name] of joins)
        peers.push(await browsers.open(browser, server.url, { room, name }));
      const started = Date.now();
      await waitFor(
        'every page connected to the two others',
        async () => (await Promise.all(peers.map((p) => allConnected(p, 2)))).every(Boolean),
        { timeoutMs: 30_000, diagnose },
      );
      console.log(`mixed mesh connected ${Date.now() - started} ms after the third page opened`);

      const ids = (await Promise.all(peers.map((p) => selfId(p)))) as string[];
      assert.equal(new Set(ids).size, 3);
      for (const [i, peer] of peers.entries()) {
        const others = ids.filter((_, j) => j !== i);
        assert.deepEqual(
          (await tiles(peer)).map((t) => t.peerId).sort(),
          [...others].sort(),
          `${peer.name} tiles`,
        );
        for (const remote of others) {
          const { first, later } = await assertVideoFlowing(peer, remote, diagnose);
          const from = peers[ids.indexOf(remote)].name;
          console.log(`${peer.name} decodes ${from}: framesDecoded ${first} -> ${later}`);
        }
      }
      for (const [from, to] of [
        [peers[1], peers[0]],
        [peers[1], peers[2]],
        [peers[0], peers[2]],
      ] as const) {
        const ms = await dataChannelEcho(from, to, `hello from ${from.name}`);
        console.log(`data-channel echo ${from.name} -> ${to.name}: ${ms.toFixed(1)} ms`);
      }
      const stats = await Promise.all(
        peers.map((p, i) =>
          p.evaluate(
            (others) => others.map((id) => window.switchboard!.getPeer(id)!.diagnostics),
            ids.filter((_, j) => j !== i),
          ),
        ),
      );
      const sum = (key: string) => stats.flat().reduce((n, d) => n + Number(d[key]), 0);
      console.log(
        `mixed mesh negotiation: ${sum('collisions')} offer collisions, ${sum('recreations')} recreated connections`,
      );
    } finally {
      await closeAll(...peers);
      await browsers?.close();
      await server.stop();
    }
  },
);
