import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  ClientToServerEvents,
  JoinRoomResponse,
  Result,
  ServerToClientEvents,
} from '@switchboard/protocol';
import { io, type Socket } from 'socket.io-client';
import {
  allConnected,
  closeAll,
  framesDecoded,
  launchBrowser,
  openPeer,
  type Peer,
  recordEvents,
  selfId,
  waitForCall,
} from './support/browser.js';
import { startServer } from './support/server.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { sleep, waitFor } from './support/wait.js';

const OUTAGE_MS = 2500;
const NAMESPACE = '/webrtc';

/** Peers the server holds in their resume window (`switchboard_dropped_peers` at GET /metrics). */
async function droppedPeers(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const match = /^switchboard_dropped_peers (\d+)/m.exec(text);
  if (!match) throw new Error('switchboard_dropped_peers missing from /metrics');
  return Number(match[1]);
}

test(
  'signaling loss where recovery is impossible: the client resumes by token with the same peerId',
  { timeout: 120_000 },
  async () => {
    // A replay log of one packet per room: two room-wide broadcasts while a socket is away and
    // Socket.IO's connection state recovery must be refused, leaving the resume token.
    const server = await startServer({
      RECOVERY_MAX_PACKETS_PER_PEER: '1',
      RECONNECTION_DELAY: '250',
      RECONNECTION_DELAY_MAX: '1000',
    });
    // Ben reaches the server only through this proxy; Ada connects directly.
    const proxy = await startTcpProxy(server.port);
    const browser = await launchBrowser();
    let a: Peer | undefined;
    let b: Peer | undefined;
    let third: Socket<ServerToClientEvents, ClientToServerEvents> | undefined;
    const diagnose = () => [a?.recentLogs(), b?.recentLogs(), server.output().slice(-3000)].join('\n');
    try {
      const room = `token-${Date.now()}`;
      a = await openPeer(browser, server.url, { room, name: 'ada' });
      b = await openPeer(browser, proxy.url, { room, name: 'ben' });
      const [ada, ben] = [a, b];
      const { aId: adaId, bId: benId } = await waitForCall(ada, ben, { diagnose });
      const adaEvents = await recordEvents(ada, ['peerJoined', 'peerLeft', 'reconnected', 'error']);
      const benEvents = await recordEvents(ben, [
        'reconnecting',
        'reconnected',
        'joined',
        'peerJoined',
        'peerLeft',
        'error',
      ]);

      // Cut Ben's WebSocket with a TCP reset and refuse his reconnections for a while.
      proxy.block();
      proxy.cut();
      const cutAt = Date.now();
      await waitFor(
        'ben reconnecting',
        () => ben.page.evaluate(() => window.switchboard!.state === 'reconnecting'),
        {
          timeoutMs: 10_000,
          diagnose,
        },
      );
      // The server must have persisted Ben's session before the broadcasts, or his old socket would get them.
      await waitFor(
        'the server holds ben in his resume window',
        async () => (await droppedPeers(server.url)) === 1,
        {
          timeoutMs: 10_000,
          diagnose,
        },
      );

      // Two room-wide broadcasts while Ben is away: a third client joins the room, then leaves it.
      const client = io(server.url + NAMESPACE, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
      });
      third = client;
      const joined: Result<JoinRoomResponse> = await client
        .timeout(5000)
        .emitWithAck('joinRoom', { roomId: room, displayName: 'cy' });
      assert.ok(joined.ok, `third client could not join: ${JSON.stringify(joined)}`);
      const thirdId = joined.peerId;
      assert.deepEqual(
        joined.peers.map((p) => p.peerId).sort(),
        [adaId, benId].sort(),
        'a dropped peer stays in the room during its resume window',
      );
      await waitFor('ada sees the third client join', () =>
        adaEvents.some((e) => e.event === 'peerJoined' && e.payload.peerId === thirdId),
      );
      const left: Result = await client.timeout(5000).emitWithAck('leaveRoom', { roomId: room });
      assert.ok(left.ok, `third client could not leave: ${JSON.stringify(left)}`);
      await waitFor('ada sees the third client leave', () =>
        adaEvents.some((e) => e.event === 'peerLeft' && e.payload.peerId === thirdId),
      );
      client.disconnect();
      third = undefined;
      assert.equal(
        await ben.page.evaluate(() => window.switchboard!.state),
        'reconnecting',
        'ben came back before the broadcasts were done; the outage is too short to test anything',
      );

      await sleep(Math.max(0, cutAt + OUTAGE_MS - Date.now()));
      proxy.unblock();
      const unblockedAt = Date.now();
      const reconnected = await waitFor(
        'ben reconnected',
        () => benEvents.find((e) => e.event === 'reconnected'),
        { timeoutMs: 20_000, diagnose },
      );
      console.log(
        `ben came back ${reconnected.at - unblockedAt} ms after the server became reachable again (${reconnected.at - cutAt} ms after the cut): ${JSON.stringify(reconnected.payload)}`,
      );
      // Recovery was refused (the room's log overflowed), so only the token can have kept the session.
      assert.deepEqual(
        reconnected.payload,
        { peerId: benId, resumed: true, previousPeerId: benId, via: 'token' },
        `ben's reconnected event; all of ben's events: ${JSON.stringify(benEvents)}`,
      );
      assert.equal(await selfId(ben), benId);
      assert.ok(benEvents.some((e) => e.event === 'reconnecting'));

      // The call itself never depended on the server.
      await waitFor(
        'both links connected',
        async () => (await allConnected(ada, 1)) && (await allConnected(ben, 1)),
        {
          timeoutMs: 10_000,
          diagnose,
        },
      );
      const framesAfterResume = {
        ada: await framesDecoded(ada, benId),
        ben: await framesDecoded(ben, adaId),
      };
      await sleep(1500);
      const framesLater = { ada: await framesDecoded(ada, benId), ben: await framesDecoded(ben, adaId) };
      assert.ok(
        framesLater.ada > framesAfterResume.ada,
        `ada stopped decoding after the resume (${framesAfterResume.ada} -> ${framesLater.ada})`,
      );
      assert.ok(
        framesLater.ben > framesAfterResume.ben,
        `ben stopped decoding after the resume (${framesAfterResume.ben} -> ${framesLater.ben})`,
      );
      assert.ok(await allConnected(ada, 1), 'ada link left connected');
      assert.ok(await allConnected(ben, 1), 'ben link left connected');
      assert.equal(await ada.page.evaluate(() => window.switchboard!.state), 'connected');
      assert.equal(await ben.page.evaluate(() => window.switchboard!.state), 'connected');

      // No trace of a departure or a rejoin, on either side (a late peerLeft had the 1.5 s above to show up).
      assert.deepEqual(
        adaEvents.filter((e) => e.event === 'peerLeft' && e.payload.peerId === benId),
        [],
        'ada saw ben leave',
      );
      assert.deepEqual(
        adaEvents.filter((e) => e.event === 'error' || e.event === 'reconnected'),
        [],
      );
      assert.deepEqual(
        benEvents.filter((e) => ['peerLeft', 'peerJoined', 'joined', 'error'].includes(e.event)),
        [],
        "ben's session did not survive as is",
      );
      assert.equal(benEvents.filter((e) => e.event === 'reconnected').length, 1);
      assert.equal(await selfId(ada), adaId);
      assert.equal(await selfId(ben), benId);
      assert.equal(await droppedPeers(server.url), 0);
    } finally {
      third?.disconnect();
      await closeAll(a, b, browser);
      await proxy.close();
      await server.stop();
    }
  },
);
