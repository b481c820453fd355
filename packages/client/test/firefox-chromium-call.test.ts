import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useServerAndBrowsers } from './support/browsers.js';
import {
  assertVideoFlowing,
  closeAll,
  dataChannelEcho,
  inboundVideoCodec,
  tiles,
  waitForCall,
  type BrowserName,
  type Participant,
} from './support/participant.js';

const shared = useServerAndBrowsers();

/** The first page joins, the second joins after it and sends the offer (the newcomer offers). */
async function call(first: BrowserName, second: BrowserName): Promise<void> {
  let a: Participant | undefined;
  let b: Participant | undefined;
  const diagnose = () => [a?.recentLogs(), b?.recentLogs(), shared.server.output().slice(-2000)].join('\n');
  try {
    const room = `mixed-${first}-${second}-${Date.now()}`;
    a = await shared.browsers.open(first, shared.server.url, { room, name: `${first}-first` });
    const started = Date.now();
    b = await shared.browsers.open(second, shared.server.url, { room, name: `${second}-second` });
    const [early, late] = [a, b];
    const { aId, bId } = await waitForCall(early, late, { video: false, diagnose });
    console.log(`${first} + ${second}: connected ${Date.now() - started} ms after the second page opened`);
    assert.deepEqual(
      (await tiles(early)).map((t) => t.peerId),
      [bId],
    );
    assert.deepEqual(
      (await tiles(late)).map((t) => t.peerId),
      [aId],
    );

    for (const [peer, remote] of [
      [early, bId],
      [late, aId],
    ] as const) {
      const { first: before, later } = await assertVideoFlowing(peer, remote, diagnose);
      const codec = await inboundVideoCodec(peer, remote);
      console.log(`${peer.name} decodes ${codec}: framesDecoded ${before} -> ${later}`);
    }

    for (const [from, to] of [
      [early, late],
      [late, early],
    ] as const) {
      const roundTrip = await dataChannelEcho(from, to, `hello from ${from.browserName}`);
      console.log(`data-channel echo ${from.browserName} -> ${to.browserName}: ${roundTrip.toFixed(1)} ms`);
    }
  } finally {
    await closeAll(a, b);
  }
}

test(
  'a Firefox page joining after a Chromium page (Firefox offers) reaches connected, decodes video both ways and echoes data-channel messages',
  { timeout: 60_000 },
  () => call('chromium', 'firefox'),
);

test(
  'a Chromium page joining after a Firefox page (Chromium offers) reaches connected, decodes video both ways and echoes data-channel messages',
  { timeout: 60_000 },
  () => call('firefox', 'chromium'),
);
