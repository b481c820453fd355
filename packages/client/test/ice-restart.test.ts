import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  allConnected,
  closeAll,
  framesDecoded,
  launchBrowser,
  openPeer,
  type Peer,
  recordEvents,
  selfId,
  tiles,
  waitForCall,
} from './support/browser.js';
import { startCoturn, type CoturnHandle } from './support/coturn.js';
import { startServer, type ServerHandle } from './support/server.js';
import { waitFor } from './support/wait.js';

test(
  'a relay-only call whose TURN server dies until the link fails recovers through the server-requested ICE restart once TURN is back',
  { timeout: 150_000 },
  async () => {
    let coturn: CoturnHandle | undefined;
    let server: ServerHandle | undefined;
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(30), b?.recentLogs(30), server?.output().slice(-3000)].join('\n');
    try {
      coturn = await startCoturn();
      const turn = coturn;
      server = await startServer({
        TURN_URL: turn.url,
        TURN_SECRET: turn.secret,
        TURN_TTL: '600',
        // Act on `failed` only (Chromium takes ~15 s to get there), then retry quickly and often.
        DISCONNECTED_TIMEOUT_MS: '600000',
        ICE_RESTART_MIN_INTERVAL_MS: '1000',
        ICE_RESTART_TIMEOUT_MS: '2500',
        ICE_RESTART_MAX_ATTEMPTS: '10',
      });
      const room = `restart-${Date.now()}`;
      a = await openPeer(browser, server.url, { room, name: 'ada', relay: true });
      b = await openPeer(browser, server.url, { room, name: 'bo', relay: true });
      const [ada, bo] = [a, b];
      const { aId: adaId, bId: boId } = await waitForCall(ada, bo, {
        timeoutMs: 30_000,
        video: false,
        diagnose,
      });
      // The protocol's iceRestartSide(a, b): the smaller id restarts.
      const [restarter, other] = adaId < boId ? [ada, bo] : [bo, ada];
      const events = {
        restarter: await recordEvents(restarter, ['iceRestart', 'connectionStateChange', 'error']),
        other: await recordEvents(other, ['iceRestart', 'connectionStateChange', 'error']),
      };

      await turn.stop('SIGKILL');
      const killedAt = Date.now();
      const stateOf = async (peer: Peer) => (await tiles(peer))[0]?.state;
      await waitFor(
        'the link to fail',
        async () => (await stateOf(ada)) === 'failed' || (await stateOf(bo)) === 'failed',
        {
          timeoutMs: 60_000,
          intervalMs: 200,
          diagnose,
        },
      );
      console.log(
        `link failed ${Date.now() - killedAt} ms after TURN was killed (ada: ${await stateOf(ada)}, bo: ${await stateOf(bo)})`,
      );

      // Keep TURN down until the server has asked the restart side to restart ICE at least once
      // (the side's own restart on `failed` cannot succeed without TURN).
      const serverAsked = await waitFor(
        'an iceRestartRequired from the server',
        () => events.restarter.find((e) => e.event === 'iceRestart' && e.payload.reason === 'server'),
        { timeoutMs: 30_000, diagnose },
      );
      console.log(
        `server-requested restart #${String(serverAsked.payload.attempt)} reached ${restarter.name} ${serverAsked.at - killedAt} ms after the kill`,
      );

      const turnRestartAt = Date.now();
      await turn.restart();
      const turnBackAt = Date.now();
      await waitFor(
        'both sides connected again',
        async () => (await allConnected(ada, 1)) && (await allConnected(bo, 1)),
        {
          timeoutMs: 45_000,
          intervalMs: 50,
          diagnose,
        },
      );
      const recoveredAt = Date.now();
      // Measured from the moment coturn was started again (its start-up included): the restart's TURN
      // allocations are retransmitted and succeed as soon as it listens.
      console.log(
        `ice-restart recovery: ${recoveredAt - turnRestartAt} ms (coturn answered STUN after ${turnBackAt - turnRestartAt} ms; both connected ${recoveredAt - turnBackAt} ms later)`,
      );

      const restarts = events.restarter.filter((e) => e.event === 'iceRestart');
      console.log(
        `restarts on the iceRestartSide (${restarter.name}): ${restarts.map((e) => `${String(e.payload.reason)}${e.payload.attempt ? `#${String(e.payload.attempt)}` : ''} at +${e.at - killedAt} ms`).join(', ')}`,
      );
      assert.ok(
        restarts.some((e) => e.payload.reason === 'server'),
        'the iceRestartSide never received iceRestartRequired from the server',
      );
      assert.deepEqual(
        events.other.filter((e) => e.event === 'iceRestart'),
        [],
        'the polite side restarted ICE itself: both sides must never restart at once',
      );
      // Media flows again (at the next key frame) and the data channel works.
      const frames = await framesDecoded(other, (await selfId(restarter))!);
      await waitFor(
        'video decoded again after the restart',
        async () => (await framesDecoded(other, (await selfId(restarter))!)) > frames,
        {
          timeoutMs: 15_000,
          diagnose,
        },
      );
      assert.ok(await ada.page.evaluate((id) => window.switchboard!.send(id, 'back'), boId));
      const pair = await ada.page.evaluate((id) => window.switchboard!.getSelectedCandidatePair(id), boId);
      assert.equal(pair?.local.candidateType, 'relay');
    } finally {
      await closeAll(a, b, browser);
      await server?.stop();
      await coturn?.dispose();
    }
  },
);
