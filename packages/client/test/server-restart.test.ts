import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  allConnected,
  closeAll,
  launchBrowser,
  openPeer,
  recordEvents,
  selfId,
  type Peer,
} from './support/browser.js';
import { waitForRejoinedCall } from './support/participant.js';
import { startServer, type ServerHandle } from './support/server.js';
import { waitFor } from './support/wait.js';

test(
  'a server stopped and started again on the same port sees its clients rejoin the room on their own and the call re-established',
  { timeout: 120_000 },
  async () => {
    let server: ServerHandle | undefined = await startServer();
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(30), b?.recentLogs(30), server?.output().slice(-3000)].join('\n');
    try {
      const room = `restart-${Date.now()}`;
      const url = server.url;
      a = await openPeer(browser, url, { room, name: 'kim' });
      b = await openPeer(browser, url, { room, name: 'lou' });
      const [kim, lou] = [a, b];
      await waitFor(
        'call connected',
        async () => (await allConnected(kim, 1)) && (await allConnected(lou, 1)),
        {
          timeoutMs: 20_000,
          diagnose,
        },
      );
      const before = { kim: (await selfId(kim))!, lou: (await selfId(lou))! };
      const names = ['reconnecting', 'reconnected', 'joined', 'peerLeft', 'peerJoined', 'error'];
      const events = { kim: await recordEvents(kim, names), lou: await recordEvents(lou, names) };

      const port = server.port;
      const stoppedAt = Date.now();
      await server.stop(); // SIGTERM: the server announces serverShutdown and drains
      const downMs = Date.now() - stoppedAt;
      server = await startServer({ PORT: String(port) });
      const upAt = Date.now();
      console.log(
        `server drained in ${downMs} ms and listened again on port ${port} after ${upAt - stoppedAt} ms`,
      );

      // The new process knows nothing of the old session: both clients must rejoin under new ids.
      const after = await waitForRejoinedCall(
        kim,
        lou,
        { a: events.kim, b: events.lou },
        {
          aId: before.kim,
          bId: before.lou,
        },
        { diagnose },
      );
      console.log(
        `call re-established ${Date.now() - stoppedAt} ms after the stop (${Date.now() - upAt} ms after the new server listened); kim rejoined after ${after.aRejoinedAt - stoppedAt} ms, lou after ${after.bRejoinedAt - stoppedAt} ms`,
      );
      assert.ok(events.kim.some((e) => e.event === 'reconnecting'));
      assert.ok(await kim.page.evaluate((id) => window.switchboard!.send(id, 'hello again'), after.bId));
      assert.deepEqual(
        [...events.kim, ...events.lou].filter((e) => e.event === 'error'),
        [],
      );
    } finally {
      await closeAll(a, b, browser);
      await server?.stop();
    }
  },
);
