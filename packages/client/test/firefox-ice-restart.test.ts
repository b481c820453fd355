import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowsers, type Browsers } from './support/browsers.js';
import { startCoturn, type CoturnHandle } from './support/coturn.js';
import {
  allConnected,
  closeAll,
  framesDecoded,
  openPairWithRole,
  recordEvents,
  selfId,
  waitForCall,
  type BrowserName,
  type Participant,
} from './support/participant.js';
import { startServer, type ServerHandle } from './support/server.js';
import { waitFor } from './support/wait.js';

let coturn: CoturnHandle;
let server: ServerHandle;
let browsers: Browsers;

before(async () => {
  coturn = await startCoturn();
  server = await startServer({
    TURN_URL: coturn.url,
    TURN_SECRET: coturn.secret,
    TURN_TTL: '600',
    // DISCONNECTED_TIMEOUT_MS stays at its default (5 s): Firefox takes about 30 s to reach
    // `failed`, so the server acting on a long `disconnected` is what restarts a Firefox link in
    // time. Then retry quickly and often while TURN is down.
    ICE_RESTART_MIN_INTERVAL_MS: '1000',
    ICE_RESTART_TIMEOUT_MS: '2500',
    ICE_RESTART_MAX_ATTEMPTS: '10',
  });
  browsers = await launchBrowsers({ origins: [server.url] });
});

after(async () => {
  await browsers?.close();
  await server?.stop();
  await coturn?.dispose();
});

/**
 * A relay-only call between the two browsers, `restarterBrowser` on the pair's iceRestartSide:
 * TURN is killed until the server has asked for a restart, then started again.
 */
async function restartScenario(restarterBrowser: BrowserName): Promise<void> {
  const names = {
    chromium: restarterBrowser === 'chromium' ? 'chromium-restarts' : 'chromium-answers',
    firefox: restarterBrowser === 'firefox' ? 'firefox-restarts' : 'firefox-answers',
  };
  let cr: Participant | undefined;
  let fx: Participant | undefined;
  const diagnose = () =>
    [cr?.recentLogs(30), fx?.recentLogs(30), server.output().slice(-3000), coturn.log().slice(-1500)].join(
      '\n',
    );
  try {
    const room = `fx-restart-${restarterBrowser}-${Date.now()}`;
    // Chromium joins first and Firefox offers to it: Firefox holds the DTLS server role, the case
    // where Firefox answers an ICE restart from Chromium with a role Chromium refuses.
    [cr, fx] = await openPairWithRole(
      () => browsers.open('chromium', server.url, { room, name: names.chromium, relay: true }),
      () => browsers.open('firefox', server.url, { room, name: names.firefox, relay: true }),
      restarterBrowser === 'firefox' ? 'iceRestartSide' : 'notIceRestartSide',
    );
    const [restarter, other] = restarterBrowser === 'firefox' ? [fx, cr] : [cr, fx];
    const { aId: restarterId, bId: otherId } = await waitForCall(restarter, other, {
      timeoutMs: 30_000,
      video: false,
      diagnose,
    });
    const pairBefore = await restarter.evaluate(
      (id) => window.switchboard!.getSelectedCandidatePair(id),
      otherId,
    );
    assert.equal(pairBefore?.local.candidateType, 'relay', 'the call is not relayed');
    const events = {
      restarter: await recordEvents(restarter, ['iceRestart', 'connectionStateChange', 'error']),
      other: await recordEvents(other, ['iceRestart', 'connectionStateChange', 'error']),
    };

    await coturn.stop('SIGKILL');
    const killedAt = Date.now();
    // Keep TURN down until the server has asked the restart side to restart ICE (a restart the
    // side starts itself on `failed` cannot succeed without TURN).
    const serverAsked = await waitFor(
      'an iceRestartRequired from the server',
      () => events.restarter.find((e) => e.event === 'iceRestart' && e.payload.reason === 'server'),
      { timeoutMs: 60_000, intervalMs: 200, diagnose },
    );
    const transitions = (list: typeof events.restarter) =>
      list
        .filter((e) => e.event === 'connectionStateChange')
        .map(
          (e) =>
            `${String(e.payload.connectionState)}/${String(e.payload.iceConnectionState)} +${e.at - killedAt}ms`,
        )
        .join(', ');
    console.log(
      `server-requested restart #${String(serverAsked.payload.attempt)} reached ${restarter.name} ${serverAsked.at - killedAt} ms after TURN was killed; ${restarter.name}: ${transitions(events.restarter)}; ${other.name}: ${transitions(events.other)}`,
    );

    const turnRestartAt = Date.now();
    await coturn.restart();
    const turnBackAt = Date.now();
    await waitFor(
      'both sides connected again',
      async () => (await allConnected(restarter, 1)) && (await allConnected(other, 1)),
      { timeoutMs: 45_000, intervalMs: 50, diagnose },
    );
    const recoveredAt = Date.now();
    console.log(
      `ice-restart recovery: ${recoveredAt - turnRestartAt} ms (coturn answered STUN after ${turnBackAt - turnRestartAt} ms; both connected ${recoveredAt - turnBackAt} ms later)`,
    );
    const restarts = events.restarter.filter((e) => e.event === 'iceRestart');
    console.log(
      `restarts on the iceRestartSide (${restarter.name}): ${restarts.map((e) => `${String(e.payload.reason)}${e.payload.attempt ? `#${String(e.payload.attempt)}` : ''} at +${e.at - killedAt} ms`).join(', ')}`,
    );
    assert.deepEqual(
      events.other.filter((e) => e.event === 'iceRestart'),
      [],
      'the other side restarted ICE itself: both sides must never restart at once',
    );
    // While TURN is down, a restart's relay-only gathering can end with nothing (Firefox gives up
    // on an unreachable TURN server within a second or two, with error 701): that is reported as
    // `ice-gathering-failed`, and is the only error expected here.
    const errors = [...events.restarter, ...events.other].filter((e) => e.event === 'error');
    for (const e of errors)
      console.log(
        `error at +${e.at - killedAt} ms: ${String(e.payload.reason)}: ${String(e.payload.message)}`,
      );
    assert.deepEqual(
      errors
        .filter((e) => e.payload.reason !== 'ice-gathering-failed' || e.at > turnBackAt)
        .map((e) => e.payload),
      [],
      'errors other than gathering failures while TURN was down',
    );

    // Video resumes both ways (at the next key frame), the data channel works, the pair is relayed.
    for (const [peer, remoteId] of [
      [other, restarterId],
      [restarter, otherId],
    ] as const) {
      const frames = await framesDecoded(peer, remoteId);
      await waitFor(
        `${peer.name}: video decoded again after the restart`,
        async () => (await framesDecoded(peer, remoteId)) > frames,
        { timeoutMs: 15_000, diagnose },
      );
    }
    for (const [peer, remoteId] of [
      [restarter, otherId],
      [other, restarterId],
    ] as const) {
      assert.ok(
        await peer.evaluate((id) => window.switchboard!.send(id, 'back'), remoteId),
        `${peer.name}: data channel open after the restart`,
      );
      const pair = await peer.evaluate((id) => window.switchboard!.getSelectedCandidatePair(id), remoteId);
      assert.equal(pair?.local.candidateType, 'relay', `${peer.name}: local candidate after the restart`);
    }
    assert.equal(await selfId(restarter), restarterId);
    const diagnostics = async (peer: Participant, remoteId: string) => {
      const d = await peer.evaluate((id) => window.switchboard!.getPeer(id)!.diagnostics, remoteId);
      return `restarts ${String(d.iceRestarts)}, recreated ${String(d.recreations)}`;
    };
    const refused = [...restarter.logs, ...other.logs].filter((l) => l.includes('answer was refused'));
    console.log(
      `${restarter.name}: ${await diagnostics(restarter, otherId)}; ${other.name}: ${await diagnostics(other, restarterId)}; refused answers: ${refused.length}`,
    );
  } finally {
    await closeAll(cr, fx);
  }
}

test(
  'a relay-only Firefox-Chromium call with Firefox on the iceRestartSide recovers through the server-requested ICE restart once TURN is back',
  { timeout: 150_000 },
  () => restartScenario('firefox'),
);

test(
  'a relay-only Firefox-Chromium call with Chromium on the iceRestartSide (Firefox, the DTLS server, answers the restart) recovers once TURN is back',
  { timeout: 150_000 },
  () => restartScenario('chromium'),
);
