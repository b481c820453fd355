// SwitchboardClient's handling of access tokens, in Node against a stub server that speaks the
// authentication part of the protocol (handshake `auth.token`, `connect_error` UNAUTHORIZED,
// `refreshToken`, `disconnectReason` TOKEN_EXPIRED / SESSION_REPLACED, `Authorization: Bearer`).
// No peers join, so no RTCPeerConnection is needed.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { SignJWT, jwtVerify } from 'jose';
import { Server, type Socket } from 'socket.io';
import type { Logger } from '../src/logger.js';
import { SwitchboardClient, type SwitchboardClientOptions } from '../src/switchboard-client.js';
import type { SwitchboardError } from '../src/errors.js';
import { sleep, waitFor } from './support/wait.js';

const SECRET = new TextEncoder().encode('stub-secret-stub-secret-stub-secret!');
const WRONG_SECRET = new TextEncoder().encode('not-the-secret-not-the-secret-not-the!');

async function mint(sub: string, ttlSeconds: number, key = SECRET): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ room: '*' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setJti(Math.random().toString(36).slice(2)) // two tokens minted in the same second still differ
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(key);
}

async function verify(token: unknown): Promise<{ sub: string; exp: number } | null> {
  if (typeof token !== 'string') return null;
  try {
    const { payload } = await jwtVerify(token, SECRET, { algorithms: ['HS256'] });
    return { sub: payload.sub as string, exp: payload.exp as number };
  } catch {
    return null;
  }
}

interface Handshake {
  token: unknown;
  resumeToken: unknown;
  accepted: boolean;
}

interface Stub {
  url: string;
  handshakes: Handshake[];
  refreshes: { token: string; at: number; previousExp: number; ok: boolean }[];
  iceServerRequests: (string | undefined)[];
  sockets: Socket[];
  close(): Promise<void>;
}

/** The server side of the auth protocol, just enough for one client in one room. */
async function startStub(): Promise<Stub> {
  const handshakes: Handshake[] = [];
  const refreshes: Stub['refreshes'] = [];
  const iceServerRequests: (string | undefined)[] = [];
  const sockets: Socket[] = [];
  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/webrtc/config') {
      return send(200, {
        namespace: '/webrtc',
        reconnectionDelay: 50,
        reconnectionDelayMax: 100,
        pingInterval: 25000,
        pingTimeout: 20000,
        resumeWindowMs: 30000,
        maxSdpBytes: 65536,
        maxPeersPerRoom: 16,
        authRequired: true,
      });
    }
    if (req.url === '/webrtc/ice-servers') {
      const header = req.headers.authorization;
      iceServerRequests.push(header);
      void verify(header?.replace(/^Bearer /, '')).then((claims) =>
        claims
          ? send(200, { iceServers: [], hasTurn: false, ttl: 3600, expiresAt: Date.now() + 3_600_000 })
          : send(401, { error: { code: 'UNAUTHORIZED', message: 'no valid bearer token' } }),
      );
      return;
    }
    send(404, {});
  });
  const io = new Server(http, { transports: ['websocket'] });
  const nsp = io.of('/webrtc');
  nsp.use((socket, next) => {
    const auth = socket.handshake.auth as { token?: unknown; resumeToken?: unknown };
    const entry: Handshake = { token: auth.token, resumeToken: auth.resumeToken, accepted: false };
    handshakes.push(entry);
    void verify(auth.token).then((claims) => {
      if (!claims) {
        const error = new Error('UNAUTHORIZED') as Error & { data?: object };
        error.data = { code: 'UNAUTHORIZED', message: 'missing, invalid or expired token' };
        return next(error);
      }
      entry.accepted = true;
      socket.data.claims = claims;
      next();
    });
  });
  nsp.on('connection', (socket) => {
    sockets.push(socket);
    const auth = socket.handshake.auth as { resumeToken?: unknown };
    if (auth.resumeToken === 'resume-1') {
      socket.emit('resumed', { peerId: 'p1', rooms: [{ roomId: 'r', peers: [] }], resumeToken: 'resume-1' });
    }
    socket.on('joinRoom', (payload: { roomId: string }, ack: (r: object) => void) =>
      ack({
        ok: true,
        peerId: 'p1',
        roomId: payload.roomId,
        peers: [],
        iceServers: [],
        iceServersExpiresAt: 0,
        resumeToken: 'resume-1',
      }),
    );
    socket.on('leaveRoom', (_payload: unknown, ack: (r: object) => void) => ack({ ok: true }));
    socket.on('refreshToken', async (payload: { token: string }, ack: (r: object) => void) => {
      const previous = socket.data.claims as { sub: string; exp: number };
      const claims = await verify(payload.token);
      const ok = claims !== null && claims.sub === previous.sub;
      refreshes.push({ token: payload.token, at: Date.now(), previousExp: previous.exp, ok });
      if (!claims) return ack({ ok: false, error: { code: 'UNAUTHORIZED', message: 'invalid token' } });
      if (!ok) return ack({ ok: false, error: { code: 'FORBIDDEN', message: 'another user' } });
      socket.data.claims = claims;
      ack({ ok: true, expiresAt: claims.exp * 1000 });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    handshakes,
    refreshes,
    iceServerRequests,
    sockets,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (message: string) => warnings.push(message),
    error: () => undefined,
  };
}

function newClient(url: string, options: Partial<SwitchboardClientOptions>) {
  const logger = recordingLogger();
  const client = new SwitchboardClient({
    url,
    room: 'r',
    reconnectPolicy: { nextRetryDelayMs: ({ retryCount }) => (retryCount < 20 ? 50 : null) },
    logger,
    ...options,
  });
  const errors: SwitchboardError[] = [];
  const closed: string[] = [];
  client.on('error', (error) => errors.push(error));
  client.on('closed', ({ reason }) => closed.push(reason));
  return { client, errors, closed, logger };
}

test('SwitchboardClient with getToken connects with its token and renews it with refreshToken before each exp, on the same connection', async () => {
  const stub = await startStub();
  let calls = 0;
  const { client, errors } = newClient(stub.url, {
    getToken: async () => {
      calls += 1;
      return mint('alice', 3);
    },
  });
  try {
    await client.connect();
    assert.equal(stub.handshakes.length, 1);
    assert.ok(stub.handshakes[0].accepted);
    await sleep(6000); // two lifetimes
    assert.ok(stub.refreshes.length >= 2, `refreshes: ${stub.refreshes.length}`);
    for (const refresh of stub.refreshes) {
      assert.ok(refresh.ok);
      assert.ok(refresh.at < refresh.previousExp * 1000, 'refreshed after the previous token expired');
    }
    assert.equal(new Set(stub.refreshes.map((r) => r.token)).size, stub.refreshes.length);
    // One token for the handshake, one per refresh (the last may still be on its way).
    assert.ok(
      calls - stub.refreshes.length >= 1 && calls - stub.refreshes.length <= 2,
      `getToken calls: ${calls}`,
    );
    assert.equal(stub.handshakes.length, 1, 'reconnected');
    assert.equal(client.state, 'connected');
    assert.deepEqual(errors, []);
  } finally {
    await client.close();
    await stub.close();
  }
});

test('SwitchboardClient whose token the handshake refuses, without getToken, emits an unauthorized error and stops', async () => {
  const stub = await startStub();
  const { client, errors } = newClient(stub.url, { token: await mint('alice', 3600, WRONG_SECRET) });
  try {
    await assert.rejects(client.connect(), { reason: 'unauthorized', code: 'UNAUTHORIZED' });
    await sleep(300);
    assert.equal(stub.handshakes.length, 1, 'retried a token that cannot change');
    assert.equal(client.state, 'disconnected');
    assert.equal(errors.length, 1);
    const cause = errors[0].cause as Error & { data?: { code: string } };
    assert.equal(cause.message, 'UNAUTHORIZED');
    assert.equal(cause.data?.code, 'UNAUTHORIZED');
    assert.match(errors[0].message, /missing, invalid or expired token/);
  } finally {
    await client.close();
    await stub.close();
  }
});

test('SwitchboardClient without any token on a server that requires one says how to pass one', async () => {
  const stub = await startStub();
  const { client } = newClient(stub.url, {});
  try {
    await assert.rejects(client.connect(), (error: SwitchboardError) => {
      assert.equal(error.code, 'UNAUTHORIZED');
      assert.match(error.message, /pass the token or getToken option/);
      return true;
    });
    assert.equal(stub.handshakes[0].token, undefined);
  } finally {
    await client.close();
    await stub.close();
  }
});

test('SwitchboardClient whose token is refused asks getToken for a new one and connects with it', async () => {
  const stub = await startStub();
  const { client, errors } = newClient(stub.url, {
    token: await mint('alice', 3600, WRONG_SECRET),
    getToken: () => mint('alice', 3600),
  });
  try {
    const joined = await client.connect();
    assert.equal(joined.peerId, 'p1');
    assert.deepEqual(
      stub.handshakes.map((h) => h.accepted),
      [false, true],
    );
    assert.deepEqual(errors, []);
  } finally {
    await client.close();
    await stub.close();
  }
});

test('SwitchboardClient whose getToken keeps giving refused tokens stops after 3 retries with an unauthorized error', async () => {
  const stub = await startStub();
  let calls = 0;
  const { client, errors } = newClient(stub.url, {
    getToken: () => {
      calls += 1;
      return mint('alice', 3600, WRONG_SECRET);
    },
  });
  try {
    await assert.rejects(client.connect(), { reason: 'unauthorized', code: 'UNAUTHORIZED' });
    await sleep(300);
    assert.equal(stub.handshakes.length, 4);
    assert.equal(calls, 4);
    assert.equal(errors.length, 1);
    assert.equal(client.state, 'disconnected');
  } finally {
    await client.close();
    await stub.close();
  }
});

test('SwitchboardClient told SESSION_REPLACED closes itself with a session-replaced error and never reconnects', async () => {
  const stub = await startStub();
  const { client, errors, closed } = newClient(stub.url, {
    getToken: () => mint('alice', 3600),
  });
  try {
    await client.connect();
    const socket = stub.sockets[0];
    socket.emit('disconnectReason', { code: 'SESSION_REPLACED', message: 'resumed by another connection' });
    socket.disconnect(true);
    await waitFor('closed', () => closed.length === 1, { timeoutMs: 5000 });
    await sleep(500);
    assert.equal(stub.handshakes.length, 1, 'reconnected after SESSION_REPLACED');
    assert.equal(client.state, 'closed');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].reason, 'session-replaced');
    assert.equal(errors[0].code, 'SESSION_REPLACED');
    await assert.rejects(client.connect(), { reason: 'closed' });
  } finally {
    await client.close();
    await stub.close();
  }
});

test('SwitchboardClient told TOKEN_EXPIRED reconnects with a new token from getToken and its resume token', async () => {
  const stub = await startStub();
  let calls = 0;
  const { client, errors } = newClient(stub.url, {
    getToken: () => {
      calls += 1;
      return mint('alice', 3600);
    },
  });
  const reconnected: object[] = [];
  client.on('reconnected', (event) => reconnected.push(event));
  try {
    await client.connect();
    const socket = stub.sockets[0];
    socket.emit('disconnectReason', { code: 'TOKEN_EXPIRED', message: 'token expired' });
    socket.disconnect(true);
    await waitFor('reconnected', () => reconnected.length === 1, { timeoutMs: 5000 });
    assert.deepEqual(reconnected[0], { peerId: 'p1', resumed: true, previousPeerId: 'p1', via: 'token' });
    assert.equal(stub.handshakes.length, 2);
    assert.equal(stub.handshakes[1].resumeToken, 'resume-1');
    assert.notEqual(stub.handshakes[1].token, stub.handshakes[0].token, 'reconnected with the expired token');
    assert.equal(calls, 2);
    assert.equal(client.state, 'connected');
    assert.deepEqual(errors, []);
  } finally {
    await client.close();
    await stub.close();
  }
});

test('SwitchboardClient with a static token told TOKEN_EXPIRED closes itself with an unauthorized error', async () => {
  const stub = await startStub();
  const { client, errors, closed, logger } = newClient(stub.url, { token: await mint('alice', 3600) });
  try {
    await client.connect();
    assert.equal(
      logger.warnings.filter((w) => /no getToken option to renew it/.test(w)).length,
      1,
      `warnings: ${JSON.stringify(logger.warnings)}`,
    );
    const socket = stub.sockets[0];
    socket.emit('disconnectReason', { code: 'TOKEN_EXPIRED', message: 'token expired' });
    socket.disconnect(true);
    await waitFor('closed', () => closed.length === 1, { timeoutMs: 5000 });
    await sleep(300);
    assert.equal(stub.handshakes.length, 1);
    assert.equal(client.state, 'closed');
    assert.deepEqual(
      errors.map((e) => [e.reason, e.code]),
      [['unauthorized', 'TOKEN_EXPIRED']],
    );
  } finally {
    await client.close();
    await stub.close();
  }
});

test('SwitchboardClient fetching ICE servers sends the latest token as Authorization: Bearer', async () => {
  const stub = await startStub();
  const { client } = newClient(stub.url, { getToken: () => mint('alice', 3600) });
  try {
    await client.connect();
    // The fetch that ICE restarts and expiring TURN credentials trigger (no peers here to trigger it).
    const servers = await (
      client as unknown as { iceServers: { refresh(): Promise<RTCIceServer[] | null> } }
    ).iceServers.refresh();
    assert.deepEqual(servers, []);
    assert.equal(stub.iceServerRequests.length, 1);
    assert.equal(stub.iceServerRequests[0], `Bearer ${String(stub.handshakes[0].token)}`);
  } finally {
    await client.close();
    await stub.close();
  }
});
