// Issue 14: what an operator's DELETE does to a real call. Two Chromium pages on the demo, decoding
// each other's video, against the real server process with the admin API on; the requests go over
// real HTTP, as an app's backend sends them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  closeAll,
  launchBrowser,
  openPeer,
  recordEvents,
  tiles,
  waitForCall,
  type Peer,
} from './support/browser.js';
import type { RecordedEvent } from './support/participant.js';
import { startServer, type ServerHandle } from './support/server.js';
import { sleep, waitFor } from './support/wait.js';

const ADMIN_TOKEN = 'admin-token-0123456789-0123456789-abcdef';
/** Long enough for a reconnection to show: the SDK retries at once, then after about 1 s. */
const QUIET_MS = 2500;

interface PageTrace {
  /** Every RTCPeerConnection the page created, with its state now. */
  connections: { connectionState: string; signalingState: string }[];
  /** The SDK's `error` events, with the fields `recordEvents` cannot read (getters). */
  errors: { reason: string; code: string | null }[];
}

declare global {
  interface Window {
    sbTrace?: { connections: RTCPeerConnection[]; errors: { reason: string; code: string | null }[] };
  }
}

/**
 * Runs in the page before the demo: keeps every RTCPeerConnection, so the test can see the SDK close
 * the real one (not just forget it).
 */
function tracePeerConnections(): void {
  const trace: NonNullable<Window['sbTrace']> = { connections: [], errors: [] };
  window.sbTrace = trace;
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(configuration?: RTCConfiguration) {
      super(configuration);
      trace.connections.push(this);
    }
  };
}

async function openTraced(browser: Browser, url: string, room: string, name: string): Promise<Peer> {
  const peer = await openPeer(browser, url, { room, name, initScript: tracePeerConnections });
  await peer.evaluate(() => {
    window.switchboard!.on('error', (e) => {
      const error = e as unknown as { reason: string; code?: string };
      window.sbTrace!.errors.push({ reason: error.reason, code: error.code ?? null });
    });
  });
  return peer;
}

function trace(peer: Peer): Promise<PageTrace> {
  return peer.evaluate(() => ({
    connections: window.sbTrace!.connections.map((pc) => ({
      connectionState: pc.connectionState,
      signalingState: pc.signalingState,
    })),
    errors: window.sbTrace!.errors,
  }));
}

/** What the demo shows once the server has ended the session. */
function endScreen(peer: Peer): Promise<{ leftShown: boolean; title: string; callShown: boolean }> {
  return peer.evaluate(() => ({
    leftShown: !document.getElementById('left')!.hidden,
    title: document.getElementById('left-title')!.textContent ?? '',
    callShown: !document.getElementById('call')!.hidden,
  }));
}

async function admin(server: ServerHandle, method: 'GET' | 'DELETE', path: string) {
  const res = await fetch(`${server.url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

/** `switchboard_connected_sockets` of the server: the pages' signaling connections. */
async function connectedSockets(server: ServerHandle): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('switchboard_connected_sockets '));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** What must never follow a removal: the SDK trying to get back in. */
const comeback = (events: RecordedEvent[]) =>
  events
    .filter(
      (e) =>
        e.event === 'reconnecting' ||
        e.event === 'reconnected' ||
        (e.event === 'stateChange' && e.payload.state !== 'closed'),
    )
    .map((e) => `${e.event} ${JSON.stringify(e.payload)}`);

test(
  'an operator removing a peer from a real call closes that page with a removed error (REMOVED), closes its peer connection, never reconnects, and the other page sees peerLeft removed and drops the tile',
  { timeout: 90_000 },
  async () => {
    const server = await startServer({ ADMIN_API_TOKEN: ADMIN_TOKEN });
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), server.output().slice(-3000)].join('\n');
    try {
      const room = `removal-${Date.now()}`;
      a = await openTraced(browser, server.url, room, 'alice');
      b = await openTraced(browser, server.url, room, 'bob');
      const [alice, bob] = [a, b];
      const { aId: aliceId, bId: bobId } = await waitForCall(alice, bob, { diagnose });
      const aliceEvents = await recordEvents(alice, ['stateChange', 'reconnecting', 'reconnected', 'closed']);
      const bobEvents = await recordEvents(bob, ['peerLeft', 'stateChange', 'reconnecting']);

      const removedAt = Date.now();
      assert.equal((await admin(server, 'DELETE', `/rooms/${room}/peers/${aliceId}`)).status, 204);

      await waitFor('alice closed', () => aliceEvents.find((e) => e.event === 'closed'), {
        timeoutMs: 10_000,
        diagnose,
      });
      const left = await waitFor('bob told alice left', () => bobEvents.find((e) => e.event === 'peerLeft'), {
        timeoutMs: 10_000,
        diagnose,
      });
      console.log(
        `removal: alice closed ${aliceEvents.find((e) => e.event === 'closed')!.at - removedAt} ms, bob saw peerLeft ${left.at - removedAt} ms after the DELETE was sent`,
      );
      assert.deepEqual(left.payload, { peerId: aliceId, reason: 'removed' });
      await waitFor("alice's tile gone from bob's page", async () => (await tiles(bob)).length === 0, {
        timeoutMs: 5000,
        diagnose,
      });

      const aliceTrace = await trace(alice);
      assert.deepEqual(aliceTrace.errors, [{ reason: 'removed', code: 'REMOVED' }]);
      assert.ok(aliceTrace.connections.length >= 1);
      assert.deepEqual(
        aliceTrace.connections.map((c) => [c.connectionState, c.signalingState]),
        aliceTrace.connections.map(() => ['closed', 'closed']),
        "alice's peer connection is closed",
      );
      assert.deepEqual(await endScreen(alice), {
        leftShown: true,
        title: 'The call ended',
        callShown: false,
      });
      // Bob's link to alice is closed too; he stays in the room, connected to the server.
      const bobTrace = await trace(bob);
      assert.deepEqual(
        bobTrace.connections.map((c) => c.connectionState),
        bobTrace.connections.map(() => 'closed'),
        "bob's peer connection to alice is closed",
      );
      assert.deepEqual(await bob.evaluate(() => window.switchboard!.getPeers()), []);
      assert.equal(await bob.evaluate(() => window.switchboard!.state), 'connected');
      assert.deepEqual(bobTrace.errors, []);

      await sleep(QUIET_MS);
      assert.deepEqual(comeback(aliceEvents), [], 'alice tried to come back');
      assert.equal(await alice.evaluate(() => window.switchboard!.state), 'closed');
      assert.equal(await connectedSockets(server), 1, "only bob's socket is left on the server");
      const roomNow = await admin(server, 'GET', `/rooms/${room}`);
      assert.equal(roomNow.status, 200);
      assert.deepEqual(
        (roomNow.body!.peers as { peerId: string }[]).map((p) => p.peerId),
        [bobId],
        'alice is not back in the room',
      );
      assert.deepEqual(
        bobEvents.filter((e) => e.event !== 'peerLeft').map((e) => e.event),
        [],
        "bob's own session was untouched",
      );
    } finally {
      await closeAll(a, b, browser);
      await server.stop();
    }
  },
);

test(
  'an operator closing the room of a real call closes both pages with a removed error (ROOM_CLOSED) and their peer connections, and neither reconnects',
  { timeout: 90_000 },
  async () => {
    const server = await startServer({ ADMIN_API_TOKEN: ADMIN_TOKEN });
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), server.output().slice(-3000)].join('\n');
    try {
      const room = `closure-${Date.now()}`;
      a = await openTraced(browser, server.url, room, 'alice');
      b = await openTraced(browser, server.url, room, 'bob');
      const pages = [a, b];
      await waitForCall(a, b, { diagnose });
      const events = await Promise.all(
        pages.map((p) => recordEvents(p, ['stateChange', 'reconnecting', 'reconnected', 'closed'])),
      );

      const closedAt = Date.now();
      assert.equal((await admin(server, 'DELETE', `/rooms/${room}`)).status, 204);
      for (const [i, page] of pages.entries()) {
        const closed = await waitFor(
          `${page.name} closed`,
          () => events[i]!.find((e) => e.event === 'closed'),
          {
            timeoutMs: 10_000,
            diagnose,
          },
        );
        console.log(`room closure: ${page.name} closed ${closed.at - closedAt} ms after the DELETE was sent`);
      }
      for (const page of pages) {
        const pageTrace = await trace(page);
        assert.deepEqual(pageTrace.errors, [{ reason: 'removed', code: 'ROOM_CLOSED' }], page.name);
        assert.ok(pageTrace.connections.length >= 1);
        assert.deepEqual(
          pageTrace.connections.map((c) => c.connectionState),
          pageTrace.connections.map(() => 'closed'),
          `${page.name}'s peer connection is closed`,
        );
        assert.deepEqual(await endScreen(page), {
          leftShown: true,
          title: 'The call ended',
          callShown: false,
        });
      }

      await sleep(QUIET_MS);
      for (const [i, page] of pages.entries()) {
        assert.deepEqual(comeback(events[i]!), [], `${page.name} tried to come back`);
        assert.equal(await page.evaluate(() => window.switchboard!.state), 'closed');
      }
      assert.equal(await connectedSockets(server), 0, 'no page is connected any more');
      assert.equal(
        (await admin(server, 'GET', `/rooms/${room}`)).status,
        404,
        'nobody came back into the room',
      );
    } finally {
      await closeAll(a, b, browser);
      await server.stop();
    }
  },
);
