// Call-quality telemetry from real Chromium calls: each side of a link sends `callQuality` once it
// connects (and on failure), and the server counts it in `/metrics` (`switchboard_call_*`).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  allConnected,
  closeAll,
  launchBrowser,
  openBlankPeer,
  openPeer,
  type Peer,
} from './support/browser.js';
import { startCoturn, type CoturnHandle } from './support/coturn.js';
import { startServer, type ServerHandle } from './support/server.js';
import { sleep, waitFor } from './support/wait.js';

let coturn: CoturnHandle;
let browser: Browser;

before(async () => {
  coturn = await startCoturn();
  browser = await launchBrowser();
});

after(async () => {
  await closeAll(browser);
  await coturn?.dispose();
});

/** The `switchboard_call_*` samples of the server's `/metrics`, by full sample name with labels. */
async function callMetrics(server: ServerHandle): Promise<Map<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('switchboard_call_')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** `switchboard_call_pairs_total` by `local/remote/protocol`, zero counts left out. */
function pairs(samples: Map<string, number>): Record<string, number> {
  const found: Record<string, number> = {};
  for (const [name, value] of samples) {
    const m = /^switchboard_call_pairs_total\{local="(\w+)",remote="(\w+)",protocol="(\w+)"\}$/.exec(name);
    if (m && value > 0) found[`${m[1]}/${m[2]}/${m[3]}`] = value;
  }
  return found;
}

function total(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

/**
 * Waits until `/metrics` has counted one report from each side of a call (two pairs, two setup
 * times), logs them under `label`, and answers the samples and the pairs by type.
 */
async function twoReportsCounted(server: ServerHandle, label: string, diagnose: () => string) {
  const samples = await waitFor(
    'two callQuality reports counted',
    async () => {
      const s = await callMetrics(server);
      return total(pairs(s)) >= 2 && (s.get('switchboard_call_setup_seconds_count') ?? 0) >= 2 ? s : null;
    },
    { timeoutMs: 10_000, diagnose },
  );
  const seen = pairs(samples);
  console.log(
    `${label}: pairs ${JSON.stringify(seen)}, setup sum ${samples.get('switchboard_call_setup_seconds_sum')} s`,
  );
  assert.equal(total(seen), 2);
  assert.equal(samples.get('switchboard_call_setup_seconds_count'), 2);
  return { samples, seen };
}

/** A blank page of the server's origin running the served SDK with `callQualityReports` as given. */
async function openSdkPeer(
  server: ServerHandle,
  name: string,
  room: string,
  reports: boolean,
): Promise<Peer> {
  const peer = await openBlankPeer(browser, server.url, name);
  await peer.page.evaluate(
    async ({ room, name, reports }) => {
      const sdk = (await import(`${location.origin}/switchboard.js`)) as typeof import('../src/index.js');
      const localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      const client = new sdk.SwitchboardClient({
        room,
        displayName: name,
        localStream,
        callQualityReports: reports,
      });
      (window as unknown as { switchboard: unknown }).switchboard = client;
      await client.connect();
    },
    { room, name, reports },
  );
  return peer;
}

test(
  'a direct call between two Chromium pages shows in /metrics as two host pairs over udp with two setup times, not counted again after an ICE restart onto the same pair',
  { timeout: 90_000 },
  async () => {
    const server = await startServer();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), server.output().slice(-2000)].join('\n');
    try {
      const room = `cq-direct-${Date.now()}`;
      a = await openPeer(browser, server.url, { room, name: 'ada' });
      b = await openPeer(browser, server.url, { room, name: 'bob' });
      const [ada, bob] = [a, b];
      await waitFor(
        'call connected',
        async () => (await allConnected(ada, 1)) && (await allConnected(bob, 1)),
        {
          timeoutMs: 30_000,
          diagnose,
        },
      );
      // One report per side of the link.
      const { samples, seen } = await twoReportsCounted(server, 'direct call', diagnose);
      // Both pages share one loopback interface: the local side is always a host candidate; the
      // remote one is `host` when its candidate was signaled before the checks, else `prflx` (learned
      // from an incoming check first). Never a relay (no TURN here) nor srflx (no STUN here).
      for (const key of Object.keys(seen)) assert.match(key, /^host\/(host|prflx)\/udp$/);
      const setupSum = samples.get('switchboard_call_setup_seconds_sum') ?? 0;
      assert.ok(setupSum > 0 && setupSum < 60, `setup time sum ${setupSum} s`);
      assert.equal(samples.get('switchboard_call_rtt_seconds_count'), 2);
      assert.equal(total(failureCounts(samples)), 0);

      // An ICE restart that lands on the same kind of pair is not reported again (only a change of
      // types or protocol is, and RTT changes never are).
      const restarts = await ada.evaluate(() => {
        let seen = 0;
        window.switchboard!.on('iceRestart', () => (seen += 1));
        return window.switchboard!.restartIce().then(() => seen);
      });
      assert.equal(restarts, 1);
      await sleep(500);
      await waitFor(
        'call connected after the restart',
        async () => (await allConnected(ada, 1)) && (await allConnected(bob, 1)),
        {
          timeoutMs: 15_000,
          diagnose,
        },
      );
      // The reporter reads the pair again 2 s after a restart (Chromium changes no state for it).
      await sleep(3000);
      const later = await callMetrics(server);
      assert.deepEqual(pairs(later), seen);
      assert.equal(later.get('switchboard_call_setup_seconds_count'), 2);
    } finally {
      await closeAll(a, b);
      await server.stop();
    }
  },
);

test(
  'a relay-only call through coturn shows in /metrics as relay pairs with setup times',
  { timeout: 90_000 },
  async () => {
    const server = await startServer({ TURN_URL: coturn.url, TURN_SECRET: coturn.secret, TURN_TTL: '600' });
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), coturn.log().slice(-2000)].join('\n');
    try {
      const room = `cq-relay-${Date.now()}`;
      a = await openPeer(browser, server.url, { room, name: 'north', relay: true });
      b = await openPeer(browser, server.url, { room, name: 'south', relay: true });
      const [north, south] = [a, b];
      await waitFor(
        'relay call connected',
        async () => (await allConnected(north, 1)) && (await allConnected(south, 1)),
        { timeoutMs: 30_000, diagnose },
      );
      const { seen } = await twoReportsCounted(server, 'relay call', diagnose);
      // Both sides gather relay candidates only (udp to coturn); the remote one is the other side's
      // relay candidate, or prflx when a check from it arrived before its candidate.
      for (const key of Object.keys(seen)) assert.match(key, /^relay\/(relay|prflx)\/udp$/);
    } finally {
      await closeAll(a, b);
      await server.stop();
    }
  },
);

test(
  'a relay-only call whose TURN credentials coturn refuses is counted as turn-refused failures',
  { timeout: 90_000 },
  async () => {
    const server = await startServer({
      TURN_URL: coturn.url,
      TURN_SECRET: `${coturn.secret}-wrong`,
      TURN_TTL: '600',
    });
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), server.output().slice(-2000)].join('\n');
    try {
      const room = `cq-refused-${Date.now()}`;
      a = await openPeer(browser, server.url, { room, name: 'east', relay: true });
      b = await openPeer(browser, server.url, { room, name: 'west', relay: true });
      const samples = await waitFor(
        'both sides report turn-refused',
        async () => {
          const s = await callMetrics(server);
          return (failureCounts(s)['turn-refused'] ?? 0) >= 2 ? s : null;
        },
        { timeoutMs: 20_000, diagnose },
      );
      console.log(`refused TURN: failures ${JSON.stringify(failureCounts(samples))}`);
      assert.deepEqual(failureCounts(samples), { 'turn-refused': 2 });
      assert.equal(total(pairs(samples)), 0);
    } finally {
      await closeAll(a, b);
      await server.stop();
    }
  },
);

test(
  'a call where one side sets callQualityReports: false is counted from the other side only',
  { timeout: 90_000 },
  async () => {
    const server = await startServer();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), server.output().slice(-2000)].join('\n');
    try {
      const room = `cq-optout-${Date.now()}`;
      a = await openSdkPeer(server, 'quiet', room, false);
      b = await openSdkPeer(server, 'chatty', room, true);
      const [quiet, chatty] = [a, b];
      await waitFor(
        'call connected',
        async () => (await linkConnected(quiet)) && (await linkConnected(chatty)),
        { timeoutMs: 30_000, diagnose },
      );
      await waitFor('the reporting side counted', async () => total(pairs(await callMetrics(server))) >= 1, {
        timeoutMs: 10_000,
        diagnose,
      });
      // The quiet side connected at the same moment; give a report of its a generous while to show.
      await sleep(2000);
      const samples = await callMetrics(server);
      assert.equal(total(pairs(samples)), 1);
      assert.equal(samples.get('switchboard_call_setup_seconds_count'), 1);
    } finally {
      await closeAll(a, b);
      await server.stop();
    }
  },
);

/** The page's client (no demo tiles on a blank page) has one peer, connected. */
function linkConnected(peer: Peer): Promise<boolean> {
  return peer.evaluate(() => {
    const peers = window.switchboard?.getPeers() ?? [];
    return peers.length === 1 && peers[0].connectionState === 'connected';
  });
}

/** `switchboard_call_failures_total` by reason, zero counts left out. */
function failureCounts(samples: Map<string, number>): Record<string, number> {
  const found: Record<string, number> = {};
  for (const [name, value] of samples) {
    const m = /^switchboard_call_failures_total\{reason="([\w-]+)"\}$/.exec(name);
    if (m && value > 0) found[m[1]] = value;
  }
  return found;
}
