// Connect time of two-peer calls with candidate batching on (the SDK's default window, or
// --window-ms) and off (`candidateBatchWindowMs: 0`), in the same run against one real server:
// Chromium + Chromium, Chromium + Firefox and Firefox + Chromium (the second page is the newcomer,
// which offers). A call is timed from the second client's `connect()` (getUserMedia done) to both
// links `connected`. On and off alternate call by call, so that the machine's load hits both alike.
// Also prints the candidate messages the server handled per call (from `/metrics`).
// Not a test: it asserts nothing. Build first (`npm run build`).
// Usage: node packages/client/scripts/candidate-batching-connect-times.mjs [--calls 10] [--window-ms 5] [--no-firefox]
//   [--only firefox+chromium] (one pairing, first+second)
import { parseArgs } from 'node:util';
import { launchBrowser, openBlankPeer } from '../dist/test/support/browser.js';
import { closeFirefox, launchFirefox, openFirefoxBlankPeer } from '../dist/test/support/firefox.js';
import { closeAll } from '../dist/test/support/participant.js';
import { candidateMessages, describeTimes, timedCall } from '../dist/test/support/sdk-call.js';
import { startServer } from '../dist/test/support/server.js';
import { sleep } from '../dist/test/support/wait.js';

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '10' },
    'window-ms': { type: 'string' },
    'no-firefox': { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const CALLS = Number(args.calls);
const BATCHED = args['window-ms'] === undefined ? undefined : Number(args['window-ms']);

const server = await startServer();
const chromium = await launchBrowser();
const firefox = args['no-firefox'] ? undefined : await launchFirefox({ origins: [server.url] });
const open = (browser, name) =>
  browser === 'chromium'
    ? openBlankPeer(chromium, server.url, name)
    : openFirefoxBlankPeer(firefox, server.url, name);

const pairings = [['chromium', 'chromium']];
if (firefox) pairings.push(['chromium', 'firefox'], ['firefox', 'chromium']);
if (args.only) {
  const wanted = args.only.split('+');
  pairings.splice(0, pairings.length, ...pairings.filter((p) => p.join('+') === wanted.join('+')));
}
const modes = [
  { label: `on (${BATCHED ?? 'default'} ms)`, candidateBatchWindowMs: BATCHED },
  { label: 'off (0 ms)', candidateBatchWindowMs: 0 },
];

const results = [];
try {
  for (const [first, second] of pairings) {
    const times = new Map(modes.map((m) => [m.label, { ms: [], messages: [], gathered: [] }]));
    for (let i = 0; i < CALLS; i++) {
      for (const mode of i % 2 ? [...modes].reverse() : modes) {
        let a;
        let b;
        try {
          a = await open(first, `${first}-a`);
          b = await open(second, `${second}-b`);
          const before = await candidateMessages(server.url);
          const room = `timing-${first}-${second}-${i}-${mode.candidateBatchWindowMs ?? 'd'}`;
          const call = await timedCall(
            a,
            b,
            { room, candidateBatchWindowMs: mode.candidateBatchWindowMs },
            () => [a.recentLogs(), b.recentLogs()].join('\n'),
          );
          await sleep(500); // gathering may go on after connected
          const after = await candidateMessages(server.url);
          const entry = times.get(mode.label);
          entry.ms.push(call.connectMs);
          entry.messages.push(after.single + after.batches - before.single - before.batches);
          entry.gathered.push(call.gathered);
        } catch (error) {
          console.log(`${first}+${second} ${mode.label} call ${i}: failed: ${error.message.split('\n')[0]}`);
        } finally {
          await closeAll(a, b);
        }
      }
    }
    for (const [label, entry] of times) {
      const t = describeTimes(entry.ms);
      const line = {
        pairing: `${first} + ${second}`,
        batching: label,
        n: t.n,
        medianMs: t.median,
        minMs: t.min,
        maxMs: t.max,
        candidateMessagesPerCall: describeTimes(entry.messages).median,
        candidatesGatheredByConnectedPerCall: describeTimes(entry.gathered).median,
        allMs: entry.ms.join(' '),
      };
      results.push(line);
      console.log(JSON.stringify(line));
    }
  }
} finally {
  await chromium.close();
  if (firefox) await closeFirefox(firefox);
  await server.stop();
}
console.table(results.map(({ allMs: _allMs, ...rest }) => rest));
