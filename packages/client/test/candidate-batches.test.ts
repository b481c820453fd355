// Candidate batching (`candidateBatchWindowMs`) in real Chromium against the real server: the
// server's `/metrics` counts each `iceCandidate` and `iceCandidates` message it handled, so a call's
// candidate traffic can be compared with the candidates its browsers gathered.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { closeAll, launchBrowser, openBlankPeer, type Peer } from './support/browser.js';
import { startCoturn, type CoturnHandle } from './support/coturn.js';
import { candidateMessages, gatheredCandidates, timedCall } from './support/sdk-call.js';
import { startServer, type ServerHandle } from './support/server.js';
import { sleep } from './support/wait.js';

let browser: Browser;
let coturn: CoturnHandle;

before(async () => {
  [browser, coturn] = await Promise.all([launchBrowser(), startCoturn()]);
});

after(async () => {
  await closeAll(browser);
  await coturn?.dispose();
});

/** One call between two fresh Chromium pages on a fresh server; the server's candidate counts after it. */
async function call(
  name: string,
  options: { candidateBatchWindowMs?: number; relay?: boolean },
  env: Record<string, string> = {},
) {
  const server: ServerHandle = await startServer(env);
  let a: Peer | undefined;
  let b: Peer | undefined;
  const diagnose = () => [a?.recentLogs(), b?.recentLogs(), server.output().slice(-3000)].join('\n');
  try {
    a = await openBlankPeer(browser, server.url, `${name}-a`);
    b = await openBlankPeer(browser, server.url, `${name}-b`);
    const room = `${name}-${Date.now()}`;
    const result = await timedCall(a, b, { room, ...options }, diagnose);
    // Gathering goes on after `connected` (e.g. TCP host candidates): let it end before counting.
    await sleep(1500);
    const gathered = await gatheredCandidates(a, result.bId, b, result.aId);
    const pair = await a.evaluate(
      (id) =>
        (
          window as unknown as {
            switchboard: {
              getSelectedCandidatePair(p: string): Promise<{ local: { candidateType: string } } | null>;
            };
          }
        ).switchboard
          .getSelectedCandidatePair(id)
          .then((p) => p?.local.candidateType ?? null),
      result.bId,
    );
    const messages = await candidateMessages(server.url);
    console.log(
      `${name}: connected in ${result.connectMs} ms; ${gathered} candidates gathered, sent as ` +
        `${messages.batches} iceCandidates + ${messages.single} iceCandidate messages; pair ${pair}`,
    );
    return { ...result, gathered, ...messages, pair };
  } finally {
    await closeAll(a, b);
    await server.stop();
  }
}

test(
  'a Chromium call with candidate batching on (the default) connects with its candidates in iceCandidates batches, far fewer messages than candidates',
  { timeout: 90_000 },
  async () => {
    const result = await call('batched', {});
    assert.ok(result.batches > 0, 'no iceCandidates batch reached the server');
    // Sent one by one, the candidates and each side's end-of-candidates would take gathered + 2
    // messages. Here each side sends its host candidates (emitted within a millisecond) as one
    // batch, and its end-of-candidates ~100 ms later when gathering ends (alone, or with a late TCP
    // candidate): about 4 messages for 10 entries. Allow one more split under load: at most half.
    const entries = result.gathered + 2;
    assert.ok(
      (result.batches + result.single) * 2 <= entries,
      `${result.batches} batches + ${result.single} single messages for ${result.gathered} candidates and 2 ends`,
    );
  },
);

test(
  'a Chromium call with candidateBatchWindowMs 0 connects sending every candidate as its own iceCandidate and no batch',
  { timeout: 90_000 },
  async () => {
    const result = await call('unbatched', { candidateBatchWindowMs: 0 });
    assert.equal(result.batches, 0);
    assert.ok(
      result.single >= result.gathered,
      `${result.single} iceCandidate messages for ${result.gathered} candidates`,
    );
  },
);

test(
  'a relay-only Chromium call through coturn with candidate batching on connects over a relay pair',
  { timeout: 90_000 },
  async () => {
    const result = await call(
      'relay-batched',
      { relay: true },
      { TURN_URL: coturn.url, TURN_SECRET: coturn.secret, TURN_TTL: '600' },
    );
    assert.equal(result.pair, 'relay');
    assert.ok(result.gathered > 0);
  },
);
