// Glare between two bare RTCPeerConnections in one Chromium page, without the SDK or a server:
// the W3C "perfect negotiation" example verbatim, signals passed in order through the page.
//   initial  both sides add their tracks at once, so both make the first offer (the polite one rolls back)
//   restart  once connected, both call restartIce() at once (offers from negotiationneeded only)
//   late-sld one side calls setLocalDescription() while a remote offer's setRemoteDescription() is
//            still pending, as the SDK's explicit offer after an await once did (see README, glare)
// A trial not back to stable with both connections `connected` within --settle-ms is a stall; the
// script prints each stall's signature and the counts.
// Usage: node packages/client/scripts/chromium-glare-stall.mjs [--trials 100] [--settle-ms 5000]
/* global window, navigator, RTCPeerConnection -- the page functions run in Chromium */
import { parseArgs } from 'node:util';
import { launchBrowser } from '../dist/test/support/browser.js';

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '100' },
    'settle-ms': { type: 'string', default: '5000' },
  },
});
const TRIALS = Number(args.trials);
const SETTLE_MS = Number(args['settle-ms']);
const URL = 'http://localhost:9/glare.html'; // a secure context served by Playwright's router

const browser = await launchBrowser();
const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
const page = await context.newPage();
await page.route(URL, (route) =>
  route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>glare</title>' }),
);
await page.goto(URL);
await page.evaluate(async () => {
  window.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  /** Two connections wired with the W3C perfect negotiation example; `a` is polite. */
  window.makePair = () => {
    const pcs = { a: new RTCPeerConnection(), b: new RTCPeerConnection() };
    const pair = { pcs, candidates: { a: 0, b: 0 }, offers: { a: 0, b: 0 }, errors: [], receive: {} };
    for (const [self, other, polite] of [
      ['a', 'b', true],
      ['b', 'a', false],
    ]) {
      const pc = pcs[self];
      let makingOffer = false;
      let ignoreOffer = false;
      const send = (message) => setTimeout(() => void pair.receive[other](message), 0);
      pc.onicecandidate = ({ candidate }) => {
        if (candidate) pair.candidates[self] += 1;
        send({ candidate });
      };
      pc.onnegotiationneeded = async () => {
        try {
          makingOffer = true;
          await pc.setLocalDescription();
          pair.offers[self] += 1;
          send({ description: pc.localDescription.toJSON() });
        } catch (error) {
          pair.errors.push(`${self} offer: ${error.message}`);
        } finally {
          makingOffer = false;
        }
      };
      pair.receive[self] = async ({ description, candidate }) => {
        try {
          if (description) {
            const collision = description.type === 'offer' && (makingOffer || pc.signalingState !== 'stable');
            ignoreOffer = !polite && collision;
            if (ignoreOffer) return;
            await pc.setRemoteDescription(description);
            if (description.type === 'offer') {
              await pc.setLocalDescription();
              send({ description: pc.localDescription.toJSON() });
            }
          } else if (candidate) {
            try {
              await pc.addIceCandidate(candidate);
            } catch (error) {
              if (!ignoreOffer) throw error;
            }
          }
        } catch (error) {
          pair.errors.push(`${self} receive: ${error.message}`);
        }
      };
    }
    window.pair = pair;
    return pair;
  };
  window.addMedia = (pc) => {
    for (const track of window.stream.getTracks()) pc.addTrack(track, window.stream);
    pc.createDataChannel('dc', { negotiated: true, id: 0 });
  };
  window.signature = () => {
    const { pcs, candidates, offers, errors } = window.pair;
    const side = (k) => ({
      connectionState: pcs[k].connectionState,
      iceGatheringState: pcs[k].iceGatheringState,
      signalingState: pcs[k].signalingState,
      localCandidates: candidates[k],
      offers: offers[k],
      remoteDescription: pcs[k].remoteDescription?.type ?? null,
    });
    return { a: side('a'), b: side('b'), errors };
  };
  const ufrag = (pc) => /a=ice-ufrag:(\S+)/.exec(pc.localDescription?.sdp ?? '')?.[1];
  /** Both stable and connected; after a restart, also on new ICE credentials on both sides. */
  window.settled = () =>
    Object.entries(window.pair.pcs).every(
      ([k, pc]) =>
        pc.connectionState === 'connected' &&
        pc.signalingState === 'stable' &&
        ufrag(pc) !== window.pair.ufragsBefore?.[k],
    );
  window.restartBoth = () => {
    const { a, b } = window.pair.pcs;
    window.pair.ufragsBefore = { a: ufrag(a), b: ufrag(b) };
    a.restartIce();
    b.restartIce();
  };
  window.closePair = () => Object.values(window.pair.pcs).forEach((pc) => pc.close());
});

async function waitSettled() {
  const start = Date.now();
  while (Date.now() - start < SETTLE_MS) {
    if (await page.evaluate(() => window.settled())) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

const results = {};
for (const scenario of ['initial', 'restart']) {
  const times = [];
  const stalls = [];
  for (let trial = 1; trial <= TRIALS; trial++) {
    await page.evaluate((scenario) => {
      const { pcs } = window.makePair();
      if (scenario === 'initial') {
        window.addMedia(pcs.a);
        window.addMedia(pcs.b);
      } else {
        window.addMedia(pcs.a); // a offers alone; the restart glare comes once connected
      }
    }, scenario);
    if (scenario === 'restart') {
      if ((await waitSettled()) === null) {
        stalls.push({
          trial,
          phase: 'before the restart',
          ...(await page.evaluate(() => window.signature())),
        });
        await page.evaluate(() => window.closePair());
        continue;
      }
      await page.evaluate(() => window.restartBoth());
    }
    const elapsed = await waitSettled();
    if (elapsed === null) stalls.push({ trial, ...(await page.evaluate(() => window.signature())) });
    else times.push(elapsed);
    await page.evaluate(() => window.closePair());
  }
  times.sort((x, y) => x - y);
  results[scenario] = {
    stalls: stalls.length,
    median: times[Math.floor(times.length / 2)],
    max: times.at(-1),
  };
  for (const s of stalls) console.log(`${scenario} stall ${JSON.stringify(s)}`);
  console.log(
    `${scenario}: ${stalls.length} of ${TRIALS} trials stalled; settled in median ${results[scenario].median} ms, max ${results[scenario].max} ms`,
  );
}

// late-sld: setLocalDescription() called while setRemoteDescription(offer) is pending. The state
// still reads `stable`, so perfect negotiation sees no collision, but the browser runs the two in
// order and the "offer" comes out as the answer to the remote offer (JSEP: an SLD without a
// description in have-remote-offer makes an answer). Not a stall by itself: a caller that expects
// an offer, and drops the description when it gets an answer, leaves the pair waiting for good.
const lateSld = await page.evaluate(async () => {
  const offerer = new RTCPeerConnection();
  const other = new RTCPeerConnection();
  window.addMedia(offerer);
  window.addMedia(other);
  await offerer.setLocalDescription();
  const stateBefore = other.signalingState;
  const applying = other.setRemoteDescription(offerer.localDescription);
  const stateWhileApplying = other.signalingState;
  other.restartIce();
  await other.setLocalDescription(); // meant as an ICE-restart offer
  await applying;
  const made = other.localDescription.type;
  offerer.close();
  other.close();
  return { stateBefore, stateWhileApplying, made };
});
console.log(
  `late-sld: signalingState ${lateSld.stateBefore} before and ${lateSld.stateWhileApplying} while the remote offer is applied; setLocalDescription() meant as an offer made an ${lateSld.made}`,
);
await browser.close();
