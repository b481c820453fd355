// How often does forced glare leave a Chromium pair unsettled without the SDK's watchdogs, and why?
// Two Chromium pages join a room on a real server; once connected, both call renegotiate() (odd
// rounds) or restartIce() (even rounds) at the same wall-clock instant, as test/glare.test.ts does.
// A round that is not back to stable + connected on both sides within SETTLE_MS is a stall: the
// script prints the evidence (each side's link state and counters, the signals the server took and
// relayed for the pair during the round, what each page's outbox still held, the SDK's debug log)
// and opens a fresh pair for the next run.
//
// Usage (after `npm run build` at the root):
//   node packages/client/scripts/glare-stall.mjs [--runs 10] [--rounds 6] [--stuck-ms 0] [--sdk-src DIR]
// --stuck-ms is the SDK's stuckConnectionTimeoutMs (0: watchdogs off, so a stall stays visible).
// --sdk-src bundles the SDK from another source folder (e.g. a copy with one change taken out), served
// to both pages in place of the built /switchboard.js.
/* global window, navigator, location, fetch -- page functions run in Chromium; fetch is Node 20s */
import { build } from 'esbuild';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from '../dist/test/support/browser.js';
import { startServer } from '../dist/test/support/server.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '6' },
    'stuck-ms': { type: 'string', default: '0' },
    'sdk-src': { type: 'string', default: `${here}../src` },
    'settle-ms': { type: 'string', default: '8000' },
    'skew-ms': { type: 'string', default: '0' },
  },
});
const RUNS = Number(args.runs);
const ROUNDS = Number(args.rounds);
const STUCK_MS = Number(args['stuck-ms']);
const SETTLE_MS = Number(args['settle-ms']);
/** The right page fires up to this much later than the left (random per round): offers cross mid-flight. */
const SKEW_MS = Number(args['skew-ms']);

const sdk = (
  await build({
    entryPoints: [`${args['sdk-src']}/index.ts`],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome100'],
    alias: { '@switchboard/protocol': `${here}../../protocol/src/index.ts` },
    nodePaths: [`${here}../../../node_modules`],
    write: false,
    logLevel: 'error',
  })
).outputFiles[0].text;

const server = await startServer();
const browser = await launchBrowser();

/** Signal counters of the server's /metrics: taken from clients (ok) and relayed to peers. */
async function signalCounters() {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const counters = {};
  for (const m of text.matchAll(
    /^switchboard_(client|server)_events_total\{event="(offer|answer)"(?:,outcome="(\w+)")?\} (\d+)/gm,
  )) {
    counters[`${m[1] === 'client' ? 'taken' : 'relayed'} ${m[2]}${m[3] ? ` ${m[3]}` : ''}`] = Number(m[4]);
  }
  return counters;
}
const diff = (after, before) =>
  Object.fromEntries(
    Object.entries(after)
      .map(([k, v]) => [k, v - (before[k] ?? 0)])
      .filter(([, v]) => v !== 0),
  );

async function openPage(name, room) {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  const t0 = Date.now();
  const logs = [];
  page.on('console', (m) => logs.push(`+${Date.now() - t0}ms [${name}] ${m.text()}`));
  await page.route('**/switchboard.js', (route) =>
    route.fulfill({ contentType: 'text/javascript', body: sdk }),
  );
  await page.goto(`${server.url}/`);
  await page.evaluate(
    async ({ room, name, stuckMs }) => {
      const { SwitchboardClient } = await import('/switchboard.js');
      const localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      window.switchboard = new SwitchboardClient({
        url: location.origin,
        room,
        displayName: name,
        localStream,
        stuckConnectionTimeoutMs: stuckMs,
        logLevel: 'debug',
      });
      await window.switchboard.connect();
    },
    { room, name, stuckMs: STUCK_MS },
  );
  return { name, page, context, logs };
}

/** The link towards the one remote peer, and the page's unacknowledged signals (an internal field, found by shape). */
const snapshot = (side) =>
  side.page.evaluate(() => {
    const sb = window.switchboard;
    const peer = sb.getPeers()[0];
    const link = peer ? sb.getPeer(peer.peerId) : undefined;
    let outbox = null;
    const seen = new Set();
    const search = (object, depth) => {
      if (!object || typeof object !== 'object' || seen.has(object) || depth > 3 || outbox) return;
      seen.add(object);
      if (Array.isArray(object.outbox)) {
        outbox = object.outbox.map((e) => ({ event: e.event, inFlight: e.inFlight, sent: e.transmissions }));
        return;
      }
      for (const value of Object.values(object)) search(value, depth + 1);
    };
    search(sb, 0);
    return {
      self: sb.peerId,
      connectionState: link?.connectionState,
      iceConnectionState: link?.iceConnectionState,
      signalingState: link?.signalingState,
      diagnostics: link?.diagnostics,
      outbox,
    };
  });

const settled = (s) => s.signalingState === 'stable' && s.connectionState === 'connected';
const stalls = [];
const settleTimes = [];
let rounds = 0;
for (let run = 1; run <= RUNS; run++) {
  const room = `glare-stall-${Date.now()}-${run}`;
  const sides = [];
  try {
    sides.push(await openPage('left', room));
    sides.push(await openPage('right', room));
    const deadline = Date.now() + 20_000;
    while (!(await Promise.all(sides.map(snapshot))).every(settled)) {
      if (Date.now() > deadline) throw new Error(`run ${run}: the initial call did not connect`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let round = 1; round <= ROUNDS; round++) {
      rounds += 1;
      const action = round % 2 === 1 ? 'renegotiate' : 'restartIce';
      const before = await Promise.all(sides.map(snapshot));
      const metricsBefore = await signalCounters();
      const logMarks = sides.map((s) => s.logs.length);
      const at = Date.now() + 300;
      const skew = Math.round(Math.random() * SKEW_MS);
      await Promise.all(
        sides.map((s, i) =>
          s.page.evaluate(
            ({ at, action }) =>
              new Promise((resolve) =>
                setTimeout(
                  () => {
                    const sb = window.switchboard;
                    void sb[action](sb.getPeers()[0].peerId).then(resolve, resolve);
                  },
                  Math.max(0, at - Date.now()),
                ),
              ),
            { at: at + (i === 1 ? skew : 0), action },
          ),
        ),
      );
      const fired = Date.now();
      let now = before;
      while (
        !(now = await Promise.all(sides.map(snapshot))).every(settled) &&
        Date.now() - fired < SETTLE_MS
      ) {
        await new Promise((r) => setTimeout(r, 50));
      }
      if (now.every(settled)) {
        settleTimes.push(Date.now() - fired);
        await new Promise((r) => setTimeout(r, 300));
        continue;
      }
      const d = (i, key) => now[i].diagnostics[key] - before[i].diagnostics[key];
      const keys = [
        'offersSent',
        'answersSent',
        'collisions',
        'ignoredOffers',
        'rollbacks',
        'staleAnswers',
        'recreations',
      ];
      const evidence = {
        run,
        round,
        action,
        skewMs: skew,
        sides: now.map((s, i) => ({
          name: sides[i].name,
          polite: s.diagnostics.polite,
          connectionState: s.connectionState,
          iceConnectionState: s.iceConnectionState,
          signalingState: s.signalingState,
          during: Object.fromEntries(keys.map((k) => [k, d(i, k)])),
          outbox: s.outbox,
        })),
        server: diff(await signalCounters(), metricsBefore),
      };
      stalls.push(evidence);
      console.log(`STALL ${JSON.stringify(evidence, null, 1)}`);
      for (const [i, s] of sides.entries()) console.log(s.logs.slice(logMarks[i]).slice(-40).join('\n'));
      break; // a fresh pair for the next run
    }
  } catch (error) {
    console.log(`run ${run} failed: ${error.message}`);
  } finally {
    for (const s of sides) await s.context.close().catch(() => undefined);
  }
  console.log(`run ${run}: ${stalls.filter((s) => s.run === run).length ? 'stalled' : 'settled'}`);
}
settleTimes.sort((a, b) => a - b);
const stalledRuns = new Set(stalls.map((s) => s.run)).size;
console.log(
  `${RUNS} runs, ${rounds} glare rounds (skew up to ${SKEW_MS} ms), watchdogs ${STUCK_MS > 0 ? `at ${STUCK_MS} ms` : 'off'}: ` +
    `${stalls.length} stalled rounds in ${stalledRuns} runs; settled rounds: median ${settleTimes[Math.floor(settleTimes.length / 2)] ?? '-'} ms, max ${settleTimes.at(-1) ?? '-'} ms`,
);
await browser.close();
await server.stop();
