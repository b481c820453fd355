import assert from 'node:assert/strict';
import { request as httpRequest, type Server } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { io } from 'socket.io-client';
import { WebrtcGateway } from '../../src/webrtc/webrtc.gateway';
import {
  closeAll,
  connect,
  join,
  once,
  request,
  SDP,
  startServer,
  until,
  type Client,
  type TestServer,
  sampleOf,
} from '../support/harness';

interface Attempt {
  socket: Client;
  ok: boolean;
  error?: Error & { description?: { message?: string } };
}

/** Opens a Socket.IO connection and reports whether the handshake succeeded (no session wait). */
function attempt(
  url: string,
  opts: { localAddress?: string; extraHeaders?: Record<string, string> } = {},
): Promise<Attempt> {
  const socket: Client = io(`${url}/webrtc`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    timeout: 10_000,
    ...opts,
  });
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ socket, ok: true }));
    socket.once('connect_error', (error) => {
      socket.close();
      resolve({ socket, ok: false, error });
    });
  });
}

async function scrape(server: TestServer): Promise<string> {
  return (await fetch(`${server.url}/metrics`)).text();
}

const refused = (reason: string) => `switchboard_connections_refused_total{reason="${reason}"}`;
const PER_IP_ENTRIES = 'switchboard_internal_entries{collection="connections_per_ip"}';
const TCP_ENTRIES = 'switchboard_internal_entries{collection="tcp_connections_per_ip"}';

function engineClients(server: TestServer): number {
  return server.sb.app.get(WebrtcGateway).namespace!.server.engine.clientsCount;
}

/** The status and body of a raw WebSocket upgrade request (what curl or a proxy sees). */
function rawUpgrade(
  url: string,
  localAddress: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: hostname,
      port,
      localAddress,
      path: '/socket.io/?EIO=4&transport=websocket',
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens `count` TCP connections that send nothing; returns how many the server closed within 300 ms. */
async function silentConnections(
  port: number,
  localAddress: string,
  count: number,
  into: Socket[],
): Promise<number> {
  let closed = 0;
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve, reject) => {
          const s = createConnection({ port, host: '127.0.0.1', localAddress }, () => resolve());
          s.on('error', () => undefined);
          s.once('close', () => closed++);
          s.once('error', reject);
          into.push(s);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 300));
  return closed;
}

/** a (127.0.0.2) and b (127.0.0.4) join a room and a relays an offer to b. */
async function honestCallWorks(url: string, room: string): Promise<void> {
  const a = await connect(url, { localAddress: '127.0.0.2' });
  const b = await connect(url, { localAddress: '127.0.0.4' });
  try {
    await join(a, room);
    await join(b, room);
    const offer = once(b, 'offer');
    assert.deepEqual(await request(a, 'offer', { roomId: room, to: b.peerId, sdp: SDP }), { ok: true });
    assert.equal((await offer).from, a.peerId);
  } finally {
    closeAll(a, b);
  }
}

describe('connection caps', () => {
  it('30 connections from one IP with MAX_CONNECTIONS_PER_IP=20 accept 20 and refuse 10 (counted), while another IP connects, joins and relays', async () => {
    const server = await startServer({ MAX_CONNECTIONS_PER_IP: '20' });
    let held: Attempt[] = [];
    try {
      const results = await Promise.all(
        Array.from({ length: 30 }, () => attempt(server.url, { localAddress: '127.0.0.3' })),
      );
      held = results.filter((r) => r.ok);
      const refusedOnes = results.filter((r) => !r.ok);
      assert.equal(held.length, 20);
      assert.equal(refusedOnes.length, 10);
      // What socket.io-client in Node reports: Engine.IO answers a refused upgrade with HTTP 400.
      assert.equal(refusedOnes[0]!.error!.message, 'websocket error');
      assert.equal(refusedOnes[0]!.error!.description?.message, 'Unexpected server response: 400');
      assert.deepEqual(await rawUpgrade(server.url, '127.0.0.3'), {
        status: 400,
        body: 'ip_limit: too many connections from this address',
      });
      assert.equal(sampleOf(await scrape(server), refused('ip_limit')), 11);

      await honestCallWorks(server.url, 'caps');

      // Closing 5 frees 5 slots for that IP, and no more.
      for (const r of held.splice(0, 5)) r.socket.disconnect();
      await until(() => engineClients(server) === 15, 3000, 'server to see 5 disconnects');
      const again = await Promise.all(
        Array.from({ length: 6 }, () => attempt(server.url, { localAddress: '127.0.0.3' })),
      );
      held.push(...again.filter((r) => r.ok));
      assert.equal(again.filter((r) => r.ok).length, 5);

      closeAll(...held.map((r) => r.socket));
      held = [];
      await until(
        async () => sampleOf(await scrape(server), PER_IP_ENTRIES) === 0,
        3000,
        'per-IP map to empty',
      );
    } finally {
      closeAll(...held.map((r) => r.socket));
      await server.close();
    }
  });

  it('opening 8 connections in a row from one IP with CONNECTION_RATE_PER_IP=5 refuses the 6th on with reason ip_rate; another IP is unaffected', async () => {
    const server = await startServer({ CONNECTION_RATE_PER_IP: '5' });
    try {
      const outcomes: boolean[] = [];
      for (let i = 0; i < 8; i++) {
        const r = await attempt(server.url, { localAddress: '127.0.0.3' });
        outcomes.push(r.ok);
        r.socket.disconnect();
      }
      assert.deepEqual(outcomes, [true, true, true, true, true, false, false, false]);
      const raw = await rawUpgrade(server.url, '127.0.0.3');
      assert.equal(raw.status, 400);
      assert.match(raw.body, /^ip_rate: too many new connections from this address; retry in \d+ s$/);
      assert.equal(sampleOf(await scrape(server), refused('ip_rate')), 4);
      const other = await attempt(server.url, { localAddress: '127.0.0.4' });
      assert.equal(other.ok, true);
      other.socket.disconnect();
    } finally {
      await server.close();
    }
  });

  it('MAX_CONNECTIONS=5 reached refuses new WebSockets with reason capacity while GET /health still answers 200', async () => {
    const server = await startServer({ MAX_CONNECTIONS: '5' });
    const held: Attempt[] = [];
    try {
      for (let i = 0; i < 5; i++) held.push(await attempt(server.url, { localAddress: `127.0.0.${10 + i}` }));
      assert.ok(held.every((r) => r.ok));
      const sixth = await attempt(server.url, { localAddress: '127.0.0.20' });
      assert.equal(sixth.ok, false);
      assert.equal((await rawUpgrade(server.url, '127.0.0.21')).body, 'capacity: server at capacity');
      assert.equal(sampleOf(await scrape(server), refused('capacity')), 2);
      const health = await fetch(`${server.url}/health`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { status: string }).status, 'ok');
      assert.equal((await fetch(`${server.url}/webrtc/config`)).status, 200);

      held.shift()!.socket.disconnect();
      await until(() => engineClients(server) === 4, 3000, 'server to see the disconnect');
      const next = await attempt(server.url, { localAddress: '127.0.0.20' });
      held.push(next);
      assert.equal(next.ok, true);
    } finally {
      closeAll(...held.map((r) => r.socket));
      await server.close();
    }
  });

  it('TRUST_PROXY=1 applies MAX_CONNECTIONS_PER_IP to the X-Forwarded-For address (IPv4-mapped and IPv6 /64 counted together)', async () => {
    const server = await startServer({ TRUST_PROXY: '1', MAX_CONNECTIONS_PER_IP: '2' });
    const held: Attempt[] = [];
    const via = (xff: string) => attempt(server.url, { extraHeaders: { 'X-Forwarded-For': xff } });
    try {
      // All of these come from the same TCP peer (the "proxy", 127.0.0.1).
      held.push(await via('198.51.100.1'), await via('::ffff:198.51.100.1'));
      held.push(await via('203.0.113.9, 198.51.100.1')); // the proxy appended 198.51.100.1
      held.push(await via('198.51.100.2'));
      held.push(
        await via('2001:db8:1:2::a'),
        await via('2001:db8:1:2:ffff::b'),
        await via('2001:db8:1:2::c'),
      );
      held.push(await via('2001:db8:1:3::a'));
      assert.deepEqual(
        held.map((r) => r.ok),
        [true, true, false, true, true, true, false, true],
      );
      assert.equal(sampleOf(await scrape(server), refused('ip_limit')), 2);
    } finally {
      closeAll(...held.map((r) => r.socket));
      await server.close();
    }
  });

  it('without TRUST_PROXY the X-Forwarded-For header is ignored: the cap applies to the socket address', async () => {
    const server = await startServer({ MAX_CONNECTIONS_PER_IP: '2' });
    const held: Attempt[] = [];
    try {
      for (const xff of ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
        held.push(
          await attempt(server.url, { localAddress: '127.0.0.3', extraHeaders: { 'X-Forwarded-For': xff } }),
        );
      assert.deepEqual(
        held.map((r) => r.ok),
        [true, true, false],
      );
    } finally {
      closeAll(...held.map((r) => r.socket));
      await server.close();
    }
  });

  it('a flood of 2,000 connections from one IP at the default caps gets exactly 200 in, while GET /health and a call from other IPs keep answering', async (t) => {
    const server = await startServer();
    const FLOOD = 2000;
    let flood: Attempt[] = [];
    try {
      const started = Date.now();
      const healthLatencies: number[] = [];
      let flooding = true;
      const prober = (async () => {
        while (flooding) {
          const t = Date.now();
          const res = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(5000) });
          assert.equal(res.status, 200);
          await res.arrayBuffer();
          healthLatencies.push(Date.now() - t);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const attempts = Array.from({ length: FLOOD }, () =>
        attempt(server.url, { localAddress: '127.0.0.3' }),
      );
      // An honest call in the middle of the flood.
      await honestCallWorks(server.url, 'flood');
      flood = await Promise.all(attempts);
      flooding = false;
      await prober;
      const floodMs = Date.now() - started;

      const accepted = flood.filter((r) => r.ok).length;
      assert.equal(accepted, 200, 'exactly MAX_CONNECTIONS_PER_IP admitted');
      const text = await scrape(server);
      // Each of the others was refused once: at accept (over the TCP cap) or at the upgrade (cap or rate).
      assert.equal(sampleOf(text, refused('ip_limit')) + sampleOf(text, refused('ip_rate')), FLOOD - 200);
      assert.ok(
        sampleOf(text, refused('ip_rate')) <= FLOOD - 300,
        'no more than the minute budget got past the rate',
      );
      assert.ok(healthLatencies.length > 0);
      const worst = Math.max(...healthLatencies);
      assert.ok(worst < 3000, `GET /health took ${worst} ms during the flood`);
      t.diagnostic(
        `flood: ${FLOOD} attempts in ${floodMs} ms, ${accepted} accepted; /health ${healthLatencies.length} probes, worst ${worst} ms`,
      );

      closeAll(...flood.map((r) => r.socket));
      flood = [];
      await until(
        async () => sampleOf(await scrape(server), PER_IP_ENTRIES) === 0,
        5000,
        'per-IP map to empty',
      );
    } finally {
      closeAll(...flood.map((r) => r.socket));
      await server.close();
    }
  });

  it('TCP connections from one IP past MAX_CONNECTIONS_PER_IP + 64 are closed as they are accepted, before sending a byte; other IPs are unaffected', async () => {
    const server = await startServer({ MAX_CONNECTIONS_PER_IP: '2' });
    const { port } = new URL(server.url);
    const sockets: Socket[] = [];
    try {
      const closedEarly = await silentConnections(Number(port), '127.0.0.7', 70, sockets);
      assert.equal(closedEarly, 70 - 66);
      assert.equal(sampleOf(await scrape(server), refused('ip_limit')), 4);
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
      const other = await attempt(server.url, { localAddress: '127.0.0.8' });
      assert.equal(other.ok, true);
      other.socket.disconnect();
      for (const s of sockets) s.destroy();
      await until(
        async () => sampleOf(await scrape(server), TCP_ENTRIES) <= 1,
        3000,
        'TCP map back to the scraper alone',
      );
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });

  it('with TRUST_PROXY the TCP cap is off: every connection comes from the proxy', async () => {
    const server = await startServer({ MAX_CONNECTIONS_PER_IP: '2', TRUST_PROXY: '1' });
    const sockets: Socket[] = [];
    try {
      assert.equal(await silentConnections(Number(new URL(server.url).port), '127.0.0.7', 70, sockets), 0);
    } finally {
      for (const s of sockets) s.destroy();
      await server.close();
    }
  });

  it('createApp() gives HTTP connections an idle timeout and shorter header/request timeouts than Node, and an upgraded WebSocket none', async () => {
    const server = await startServer();
    const client = await connect(server.url);
    try {
      const http = server.sb.app.getHttpServer() as Server;
      assert.equal(http.timeout, 10_000);
      assert.equal(http.headersTimeout, 10_000);
      assert.equal(http.requestTimeout, 30_000);
      // ws clears the socket timeout on upgrade: an idle WebSocket lives on pings, not 10 s.
      const [peer] = server.sb.app.get(WebrtcGateway).namespace!.sockets.values();
      assert.equal(peer!.conn.request.socket.timeout, 0);
    } finally {
      closeAll(client);
      await server.close();
    }
  });
});
