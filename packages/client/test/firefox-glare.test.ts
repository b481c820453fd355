import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useServerAndBrowsers } from './support/browsers.js';
import {
  allConnected,
  closeAll,
  openPairWithRole,
  recordEvents,
  selfId,
  waitForCall,
  type Participant,
} from './support/participant.js';
import { sleep, waitFor } from './support/wait.js';

/** Rounds always played (a renegotiation and an ICE restart, twice). */
const MIN_ROUNDS = 4;
/**
 * Offers fired at the same instant do not always cross (the two browsers take different times to
 * make one): more rounds are played until at least two collided, and, with Firefox polite, until
 * Firefox rolled back at least once.
 */
const MAX_ROUNDS = 12;
const BOUND_MS = 15_000;

type Diagnostics = Record<string, number | boolean>;
interface LinkSnapshot {
  diagnostics: Diagnostics;
  connectionState: string;
  signalingState: string;
}

const shared = useServerAndBrowsers();

/**
 * Both pages start an offer at the same wall-clock instant, round after round (a renegotiation,
 * then an ICE restart), with Firefox on the given side of perfect negotiation: the polite side
 * rolls its own offer back, the impolite one ignores the other's.
 */
async function glare(firefoxRole: 'polite' | 'impolite'): Promise<void> {
  let chromium: Participant | undefined;
  let firefox: Participant | undefined;
  // The state a round's wait saw last: a timeout then says which side was not stable or connected.
  let lastSeen = '';
  const diagnose = () => [lastSeen, chromium?.recentLogs(), firefox?.recentLogs()].join('\n');
  try {
    const room = `fx-glare-${firefoxRole}-${Date.now()}`;
    [chromium, firefox] = await openPairWithRole(
      () => shared.browsers.open('chromium', shared.server.url, { room, name: 'chromium' }),
      () => shared.browsers.open('firefox', shared.server.url, { room, name: `firefox-${firefoxRole}` }),
      firefoxRole,
    );
    const [cr, fx] = [chromium, firefox];
    const { aId: crId, bId: fxId } = await waitForCall(cr, fx, { video: false, diagnose });
    const snapshot = async () => ({
      cr: await cr.evaluate((id) => window.switchboard!.getPeer(id)! as LinkSnapshot, fxId),
      fx: await fx.evaluate((id) => window.switchboard!.getPeer(id)! as LinkSnapshot, crId),
    });
    assert.equal((await snapshot()).fx.diagnostics.polite, firefoxRole === 'polite');
    const errors = {
      chromium: await recordEvents(cr, ['error']),
      firefox: await recordEvents(fx, ['error']),
    };

    let collidedRounds = 0;
    const totals = { collisions: 0, rollbacksInFirefox: 0, recreations: 0 };
    let round = 0;
    const enough = () => collidedRounds >= 2 && (firefoxRole === 'impolite' || totals.rollbacksInFirefox > 0);
    while (round < MIN_ROUNDS || (!enough() && round < MAX_ROUNDS)) {
      round += 1;
      const action = round % 2 === 1 ? 'renegotiate' : 'restartIce';
      const before = await snapshot();
      // Far enough ahead for both evaluate calls (BiDi round trips included) to arrive before it.
      const at = Date.now() + 500;
      // Settles when the SDK call has made (or, losing the collision, dropped) its offer, or after
      // BOUND_MS: an offer whose setLocalDescription never settles fails the round with the page
      // logs rather than hanging the test.
      const fire = (peer: Participant, remote: string) =>
        peer.evaluate(
          ({ at, remote, action, boundMs }) =>
            new Promise<{ lateMs: number; outcome: string }>((resolve) =>
              setTimeout(
                () => {
                  const lateMs = Date.now() - at;
                  const call = window.switchboard![action as 'renegotiate' | 'restartIce'](remote).then(
                    () => 'done',
                    (error: unknown) => `failed: ${String(error)}`,
                  );
                  const bound = new Promise<string>((r) => setTimeout(() => r('did not settle'), boundMs));
                  void Promise.race([call, bound]).then((outcome) => resolve({ lateMs, outcome }));
                },
                Math.max(0, at - Date.now()),
              ),
            ),
          { at, remote, action, boundMs: BOUND_MS },
        );
      const fired = await Promise.all([fire(cr, fxId), fire(fx, crId)]);
      const offeredAt = Date.now();
      assert.deepEqual(
        fired.map((f) => f.outcome),
        ['done', 'done'],
        `round ${round} (${action}): chromium, firefox\n${diagnose()}`,
      );
      let after = before;
      const d = (side: 'cr' | 'fx', key: string) =>
        Number(after[side].diagnostics[key]) - Number(before[side].diagnostics[key]);
      await waitFor(
        `round ${round} (${action}): an offer sent, both sides stable and connected again`,
        async () => {
          after = await snapshot();
          lastSeen = (['cr', 'fx'] as const)
            .map(
              (side) =>
                `${side === 'cr' ? 'chromium' : 'firefox'}: ${after[side].signalingState}/${after[side].connectionState}, ` +
                `this round: offers ${d(side, 'offersSent')}, answers ${d(side, 'answersSent')}, ` +
                `recreations ${d(side, 'recreations')}, restarts ${d(side, 'iceRestarts')}`,
            )
            .join('; ');
          return (
            // Without an offer in this round, `stable` and `connected` would prove nothing.
            d('cr', 'offersSent') + d('fx', 'offersSent') > 0 &&
            after.cr.signalingState === 'stable' &&
            after.fx.signalingState === 'stable' &&
            after.cr.connectionState === 'connected' &&
            after.fx.connectionState === 'connected' &&
            (await allConnected(cr, 1)) &&
            (await allConnected(fx, 1))
          );
        },
        { timeoutMs: BOUND_MS, diagnose },
      );
      const elapsed = Date.now() - offeredAt;
      await waitFor(`round ${round}: data channel usable`, () =>
        fx.evaluate((id) => window.switchboard!.send(id, 'after glare'), crId),
      );
      const collisions = d('cr', 'collisions') + d('fx', 'collisions');
      if (collisions > 0) collidedRounds += 1;
      totals.collisions += collisions;
      totals.rollbacksInFirefox += d('fx', 'rollbacks');
      totals.recreations += d('cr', 'recreations') + d('fx', 'recreations');
      console.log(
        `firefox ${firefoxRole}, round ${round} (${action}, fired ${fired[0].lateMs}/${fired[1].lateMs} ms late): offers ${d('cr', 'offersSent') + d('fx', 'offersSent')}, collisions ${collisions}, ignored chromium ${d('cr', 'ignoredOffers')} firefox ${d('fx', 'ignoredOffers')}, rolled back chromium ${d('cr', 'rollbacks')} firefox ${d('fx', 'rollbacks')}, recreated ${d('cr', 'recreations') + d('fx', 'recreations')}, stale offers dropped ${d('cr', 'staleOffers') + d('fx', 'staleOffers')}; stable+connected ${elapsed} ms after both offered`,
      );
      await sleep(300);
    }
    assert.ok(
      collidedRounds > 0,
      `no round of ${round} produced an offer collision: the glare was not forced`,
    );
    // A refused answer (Firefox's DTLS role on a restart) is handled by rebuilding, not reported.
    assert.deepEqual(
      [
        ...errors.chromium.map((e) => ({ in: 'chromium', ...e.payload })),
        ...errors.firefox.map((e) => ({ in: 'firefox', ...e.payload })),
      ],
      [],
      'errors during the glare rounds',
    );
    if (firefoxRole === 'polite') {
      assert.ok(
        totals.rollbacksInFirefox > 0,
        'Firefox, the polite side, never rolled back a colliding offer',
      );
    }
    assert.equal(await selfId(fx), fxId);
    console.log(`firefox ${firefoxRole}: glare forced in ${collidedRounds}/${round} rounds`);
  } finally {
    await closeAll(chromium, firefox);
  }
}

test(
  'a Firefox peer on the polite side of a glare with Chromium rolls its offer back and the call ends connected and stable within a bounded time',
  { timeout: 120_000 },
  () => glare('polite'),
);

test(
  'a Firefox peer on the impolite side of a glare with Chromium keeps its offer and the call ends connected and stable within a bounded time',
  { timeout: 120_000 },
  () => glare('impolite'),
);

/**
 * `applier` starts a renegotiation while it is applying `offerer`'s offer: its
 * setRemoteDescription has been called and has not settled, so the signaling state still reads
 * `stable` and no collision is seen. The renegotiation must go out after the answer (an offer made
 * then would be created in `have-remote-offer`, as the answer, and the answer's own call would make
 * the offer). The timing is forced: the page calls `renegotiate()` from inside its next
 * setRemoteDescription(offer) call.
 */
async function renegotiateWhileApplyingOffer(
  offerer: Participant,
  applier: Participant,
  diagnose: () => string,
): Promise<void> {
  const offererId = (await selfId(offerer))!;
  const applierId = (await selfId(applier))!;
  await applier.evaluate((remote) => {
    const proto = RTCPeerConnection.prototype;
    const native = proto.setRemoteDescription;
    proto.setRemoteDescription = function (this: RTCPeerConnection, description?: RTCSessionDescriptionInit) {
      const applied = Reflect.apply(native, this, [description]) as Promise<void>;
      if (description?.type === 'offer') {
        proto.setRemoteDescription = native;
        void window.switchboard!.renegotiate(remote);
      }
      return applied;
    };
  }, offererId);
  const link = async () => ({
    offerer: await offerer.evaluate((id) => window.switchboard!.getPeer(id)! as LinkSnapshot, applierId),
    applier: await applier.evaluate((id) => window.switchboard!.getPeer(id)! as LinkSnapshot, offererId),
  });
  const before = await link();
  let after = before;
  const d = (side: 'offerer' | 'applier', key: string) =>
    Number(after[side].diagnostics[key]) - Number(before[side].diagnostics[key]);
  const started = Date.now();
  await offerer.evaluate((id) => window.switchboard!.renegotiate(id), applierId);
  const what = `${applier.browserName} renegotiating while it applies ${offerer.browserName}'s offer`;
  await waitFor(
    `${what}: its offer answered after its answer, both stable and connected`,
    async () => {
      after = await link();
      return (
        d('applier', 'answersSent') === 1 &&
        d('applier', 'offersSent') === 1 &&
        d('offerer', 'answersSent') === 1 &&
        after.offerer.signalingState === 'stable' &&
        after.applier.signalingState === 'stable' &&
        after.offerer.connectionState === 'connected' &&
        after.applier.connectionState === 'connected'
      );
    },
    { timeoutMs: 10_000, diagnose },
  );
  console.log(`${what}: both negotiations done ${Date.now() - started} ms after the first offer`);
  assert.equal(
    d('offerer', 'recreations') + d('applier', 'recreations'),
    0,
    `${what}: a connection was rebuilt`,
  );
  assert.equal(d('offerer', 'staleAnswers'), 0, `${what}: ${offerer.browserName} dropped an answer`);
}

test(
  "a renegotiation started while the other side's offer is being applied, in Firefox and then in Chromium, goes out after the answer and both end stable and connected without a rebuild",
  { timeout: 60_000 },
  async () => {
    let cr: Participant | undefined;
    let fx: Participant | undefined;
    const diagnose = () => [cr?.recentLogs(), fx?.recentLogs()].join('\n');
    try {
      const room = `fx-srd-race-${Date.now()}`;
      cr = await shared.browsers.open('chromium', shared.server.url, { room, name: 'chromium' });
      fx = await shared.browsers.open('firefox', shared.server.url, { room, name: 'firefox' });
      const { aId: crId, bId: fxId } = await waitForCall(cr, fx, { video: false, diagnose });
      const errors = {
        chromium: await recordEvents(cr, ['error']),
        firefox: await recordEvents(fx, ['error']),
      };
      await renegotiateWhileApplyingOffer(cr, fx, diagnose);
      await renegotiateWhileApplyingOffer(fx, cr, diagnose);
      assert.deepEqual(
        [
          ...errors.chromium.map((e) => ({ in: 'chromium', ...e.payload })),
          ...errors.firefox.map((e) => ({ in: 'firefox', ...e.payload })),
        ],
        [],
        'errors',
      );
      assert.ok(await fx.evaluate((id) => window.switchboard!.send(id, 'after'), crId));
      assert.ok(await cr.evaluate((id) => window.switchboard!.send(id, 'after'), fxId));
    } finally {
      await closeAll(cr, fx);
    }
  },
);
