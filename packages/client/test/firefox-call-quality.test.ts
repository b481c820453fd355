// Call-quality telemetry from a Firefox page beside a Chromium one: both sides of the call must show
// in `/metrics`. (Firefox ESR 153 here has `transport.selectedCandidatePairId`, as Chromium does, and
// also flags that pair `selected`; it can list two `nominated` pairs at once.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useServerAndBrowsers } from './support/browsers.js';
import { closeAll, waitForCall, type Participant } from './support/participant.js';
import { waitFor } from './support/wait.js';

const shared = useServerAndBrowsers();

test(
  'a Chromium-Firefox call shows in /metrics as two host pairs with setup times, one reported by each browser',
  { timeout: 90_000 },
  async () => {
    let a: Participant | undefined;
    let b: Participant | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), shared.server.output().slice(-2000)].join('\n');
    try {
      const room = `cq-firefox-${Date.now()}`;
      a = await shared.browsers.open('chromium', shared.server.url, { room, name: 'chromium' });
      b = await shared.browsers.open('firefox', shared.server.url, { room, name: 'firefox' });
      const { aId } = await waitForCall(a, b, { video: false, diagnose });
      const firefox = b;
      const pair = await firefox.evaluate(
        (id: string) => window.switchboard!.getSelectedCandidatePair(id),
        aId,
      );
      console.log(`firefox's selected pair: ${JSON.stringify(pair)}`);
      const text = await waitFor(
        'a callQuality report from each side',
        async () => {
          const body = await (await fetch(`${shared.server.url}/metrics`)).text();
          const count = /^switchboard_call_setup_seconds_count (\d+)/m.exec(body);
          return Number(count?.[1] ?? 0) >= 2 ? body : null;
        },
        { timeoutMs: 10_000, diagnose },
      );
      const pairs = [...text.matchAll(/^switchboard_call_pairs_total\{([^}]*)\} (\d+)/gm)]
        .filter((m) => Number(m[2]) > 0)
        .map((m) => `${m[1]} ${m[2]}`);
      console.log(`pairs: ${pairs.join('; ')}`);
      const total = pairs.reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
      assert.equal(total, 2);
      // Loopback only: host on the local side; the remote is host, or prflx when a check from it
      // arrived before its candidate.
      for (const line of pairs) assert.match(line, /^local="host",remote="(host|prflx)",protocol="udp" \d+$/);
    } finally {
      await closeAll(a, b);
    }
  },
);
