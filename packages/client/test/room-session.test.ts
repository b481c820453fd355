// RoomSession (the SDK's room layer: lifecycle, signal envelope, room events) in Node against the
// real server on port 0, with real socket.io-clients: no peer connections are involved, the hooks
// record what the facade would be told. A TCP proxy in front of the server cuts one session's
// signaling for real when a test needs a reconnection.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { DEFAULT_OPTIONS } from '../src/defaults.js';
import type { Logger } from '../src/logger.js';
import { DefaultReconnectPolicy } from '../src/reconnect-policy.js';
import { RoomSession, type RoomSessionHooks } from '../src/room-session.js';
import type { SwitchboardError } from '../src/errors.js';
import { startServer, type ServerHandle } from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { sleep, waitFor, within } from './support/wait.js';

type HookName = keyof RoomSessionHooks;
interface Recorded {
  hook: HookName;
  args: unknown[];
}

interface TestSession {
  session: RoomSession;
  events: Recorded[];
  logs: string[];
  /** The recorded calls of one hook, their arguments each. */
  calls(hook: HookName): unknown[][];
  errors(): SwitchboardError[];
}

const open: { close(): Promise<unknown> | void }[] = [];
after(async () => {
  for (const item of open.reverse()) await item.close();
});

async function server(env: Record<string, string> = {}): Promise<ServerHandle> {
  const handle = await startServer({ LOG_LEVEL: 'info', ...env });
  open.push({ close: () => handle.stop() });
  return handle;
}

async function proxyTo(handle: ServerHandle): Promise<TcpProxy> {
  const proxy = await startTcpProxy(handle.port);
  open.push(proxy);
  return proxy;
}

/** A RoomSession whose hooks record every call, with fast reconnects (and the SDK's default candidate window). */
function newSession(
  url: string,
  room: string,
  name: string,
  candidateBatchWindowMs: number = DEFAULT_OPTIONS.candidateBatchWindowMs,
): TestSession {
  const events: Recorded[] = [];
  const logs: string[] = [];
  const record = (level: string) => (message: string) => logs.push(`${level} ${message}`);
  const logger: Logger = {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
  const hooks = new Proxy({} as RoomSessionHooks, {
    get:
      (_, hook: HookName) =>
      (...args: unknown[]) =>
        events.push({ hook, args }),
  });
  const session = new RoomSession(
    {
      url,
      room,
      displayName: name,
      ackTimeoutMs: 2000,
      maxSendAttempts: 3,
      connectTimeoutMs: 3000,
      resumeTimeoutMs: 3000,
      candidateBatchWindowMs,
      reconnectPolicy: new DefaultReconnectPolicy({ delaysMs: [0, 100, 200], jitterRatio: 0 }),
      logger,
    },
    hooks,
  );
  open.push({ close: () => session.close('test over', true) });
  return {
    session,
    events,
    logs,
    calls: (hook) => events.filter((e) => e.hook === hook).map((e) => e.args),
    errors: () => events.filter((e) => e.hook === 'onError').map((e) => e.args[0] as SwitchboardError),
  };
}

/** A minimal session description the server's schema accepts (`name` tells them apart). */
function sdp(name: string): string {
  return `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=${name}\r\nt=0 0\r\n`;
}

/** A bare protocol client joined to `room`: it sees exactly what the server relays. */
async function rawPeer(url: string, room: string): Promise<{ socket: Socket; peerId: string }> {
  const socket = io(`${url}/webrtc`, { transports: ['websocket'], reconnection: false });
  open.push({ close: () => void socket.close() });
  const joined = (await within(
    socket.emitWithAck('joinRoom', { roomId: room, displayName: 'raw' }),
    5000,
    () => 'raw joinRoom not acknowledged',
  )) as { ok: boolean; peerId: string };
  assert.equal(joined.ok, true);
  return { socket, peerId: joined.peerId };
}

test('RoomSession.connect() on a real server joins, and each side is told of the other with the newcomer as initiator', async () => {
  const { url } = await server();
  const ada = newSession(url, 'rs-join', 'ada');
  const joinedAda = await within(ada.session.connect(), 10_000, () => 'ada did not join');
  assert.equal(ada.session.state, 'connected');
  assert.equal(ada.session.peerId, joinedAda.peerId);
  assert.deepEqual(joinedAda.peers, []);
  const bob = newSession(url, 'rs-join', 'bob');
  const joinedBob = await within(bob.session.connect(), 10_000, () => 'bob did not join');
  assert.deepEqual(
    joinedBob.peers.map((p) => [p.peerId, p.displayName]),
    [[joinedAda.peerId, 'ada']],
  );
  // The newcomer offers to those already there; they wait for its offer.
  assert.deepEqual(
    bob.calls('onPeerJoined').map(([peer, initiator]) => [(peer as { peerId: string }).peerId, initiator]),
    [[joinedAda.peerId, true]],
  );
  await waitFor('ada told of bob', () => ada.calls('onPeerJoined').length === 1);
  assert.deepEqual(
    ada.calls('onPeerJoined').map(([peer, initiator]) => [(peer as { peerId: string }).peerId, initiator]),
    [[joinedBob.peerId, false]],
  );
  assert.deepEqual(
    ada.calls('onStateChange').map(([state]) => state),
    ['connecting', 'connected'],
  );
  assert.deepEqual(ada.errors(), []);
});

test('RoomSession.signal() numbers each peer pair from 1 with a messageId unique to the client, in order', async () => {
  const { url } = await server();
  const ada = newSession(url, 'rs-envelope', 'ada');
  await ada.session.connect();
  const raw = await rawPeer(url, 'rs-envelope');
  const relayed: { event: string; sequence?: number; messageId?: string; from: string }[] = [];
  for (const event of ['offer', 'iceCandidate'] as const) {
    raw.socket.on(event, (message: { sequence?: number; messageId?: string; from: string }) =>
      relayed.push({ event, ...message }),
    );
  }
  await waitFor('ada told of the raw peer', () => ada.session.peers.has(raw.peerId));
  ada.session.signal('offer', raw.peerId, { sdp: sdp('first') });
  ada.session.signal('iceCandidate', raw.peerId, {
    candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 },
  });
  ada.session.signal('offer', raw.peerId, { sdp: sdp('second') });
  await waitFor('three signals relayed', () => relayed.length === 3, {
    timeoutMs: 5000,
    diagnose: () => JSON.stringify({ relayed, errors: ada.errors().map((e) => e.message), logs: ada.logs }),
  });
  assert.deepEqual(
    relayed.map((r) => [r.event, r.sequence, r.from]),
    [
      ['offer', 1, ada.session.peerId],
      ['iceCandidate', 2, ada.session.peerId],
      ['offer', 3, ada.session.peerId],
    ],
  );
  const ids = relayed.map((r) => r.messageId);
  assert.equal(new Set(ids).size, 3);
  for (const id of ids) assert.match(id ?? '', /^[a-z0-9]+-\d+$/);
  assert.deepEqual(ada.errors(), []);
});

/** A host candidate the server's schema accepts; `n` tells them apart. */
function hostCandidate(n: number): { candidate: string; sdpMid: string; sdpMLineIndex: number } {
  return {
    candidate: `candidate:${n} 1 udp 2122260223 192.0.2.${n} 5000${n} typ host`,
    sdpMid: '0',
    sdpMLineIndex: 0,
  };
}

interface RelayedSignal {
  event: string;
  sequence?: number;
  from: string;
  sdp?: string;
  candidate?: { candidate: string } | null;
  candidates?: ({ candidate: string } | null)[];
}

/** What the raw peer receives of offers and candidates, in arrival order. */
function recordSignals(socket: Socket): RelayedSignal[] {
  const relayed: RelayedSignal[] = [];
  for (const event of ['offer', 'iceCandidate', 'iceCandidates'] as const) {
    socket.on(event, (message: Omit<RelayedSignal, 'event'>) => relayed.push({ event, ...message }));
  }
  return relayed;
}

/** A relayed signal in short: event, sequence, and the offer's name or the candidates' numbers (`end` for end-of-candidates). */
function summary(r: RelayedSignal): [string, number | undefined, string] {
  const name = (c: { candidate: string } | null) =>
    c === null ? 'end' : (/^candidate:(\d+)/.exec(c.candidate)?.[1] ?? '?');
  if (r.sdp !== undefined) return [r.event, r.sequence, /s=(\w+)/.exec(r.sdp)?.[1] ?? '?'];
  if (r.candidates) return [r.event, r.sequence, r.candidates.map(name).join(',')];
  return [r.event, r.sequence, name(r.candidate ?? null)];
}

test('RoomSession.signal() of candidates within the window sends them as one iceCandidates batch, after the offer before them and before the offer after them, end-of-candidates last', async () => {
  const { url } = await server();
  const ada = newSession(url, 'rs-batch', 'ada', 20);
  await ada.session.connect();
  const raw = await rawPeer(url, 'rs-batch');
  const relayed = recordSignals(raw.socket);
  await waitFor('ada told of the raw peer', () => ada.session.peers.has(raw.peerId));
  ada.session.signal('offer', raw.peerId, { sdp: sdp('first') });
  for (const n of [1, 2, 3]) ada.session.signal('iceCandidate', raw.peerId, { candidate: hostCandidate(n) });
  // An ICE restart's offer: the first round's candidates, still in their window, go before it.
  ada.session.signal('offer', raw.peerId, { sdp: sdp('restart') });
  ada.session.signal('iceCandidate', raw.peerId, { candidate: hostCandidate(4) });
  ada.session.signal('iceCandidate', raw.peerId, { candidate: hostCandidate(5) });
  ada.session.signal('iceCandidate', raw.peerId, { candidate: null });
  // A lone candidate of a later phase goes when its window ends, as the single event.
  ada.session.signal('iceCandidate', raw.peerId, { candidate: hostCandidate(6) });
  await waitFor('five signals relayed', () => relayed.length === 5, {
    timeoutMs: 5000,
    diagnose: () => JSON.stringify({ relayed, errors: ada.errors().map((e) => e.message), logs: ada.logs }),
  });
  assert.deepEqual(relayed.map(summary), [
    ['offer', 1, 'first'],
    ['iceCandidates', 2, '1,2,3'],
    ['offer', 3, 'restart'],
    ['iceCandidates', 4, '4,5,end'],
    ['iceCandidate', 5, '6'],
  ]);
  assert.deepEqual(ada.errors(), []);
});

test('RoomSession.signal() with candidateBatchWindowMs 0 sends each candidate as its own iceCandidate at once', async () => {
  const { url } = await server();
  const ada = newSession(url, 'rs-nobatch', 'ada', 0);
  await ada.session.connect();
  const raw = await rawPeer(url, 'rs-nobatch');
  const relayed = recordSignals(raw.socket);
  await waitFor('ada told of the raw peer', () => ada.session.peers.has(raw.peerId));
  ada.session.signal('offer', raw.peerId, { sdp: sdp('first') });
  for (const n of [1, 2, 3]) ada.session.signal('iceCandidate', raw.peerId, { candidate: hostCandidate(n) });
  ada.session.signal('iceCandidate', raw.peerId, { candidate: null });
  await waitFor('five signals relayed', () => relayed.length === 5, { timeoutMs: 5000 });
  assert.deepEqual(relayed.map(summary), [
    ['offer', 1, 'first'],
    ['iceCandidate', 2, '1'],
    ['iceCandidate', 3, '2'],
    ['iceCandidate', 4, '3'],
    ['iceCandidate', 5, 'end'],
  ]);
});

test('RoomSession handed an iceCandidates batch passes on each candidate in order, end-of-candidates included, and a copy of the batch not again', async () => {
  const { url } = await server({ SIGNAL_DEDUP_WINDOW_MS: '1000' });
  const ada = newSession(url, 'rs-batch-in', 'ada');
  await ada.session.connect();
  const raw = await rawPeer(url, 'rs-batch-in');
  await waitFor('ada told of the raw peer', () => ada.session.peers.has(raw.peerId));
  const to = ada.session.peerId;
  const send = (event: string, payload: Record<string, unknown>) =>
    raw.socket.emitWithAck(event, { roomId: 'rs-batch-in', to, ...payload });
  assert.deepEqual(await send('offer', { sdp: sdp('first'), messageId: 'raw-1' }), { ok: true });
  const batch = { candidates: [hostCandidate(1), hostCandidate(2), null], messageId: 'raw-2' };
  assert.deepEqual(await send('iceCandidates', batch), { ok: true });
  assert.deepEqual(await send('iceCandidate', { candidate: hostCandidate(3), messageId: 'raw-3' }), {
    ok: true,
  });
  await waitFor('four candidates passed on', () => ada.calls('onCandidate').length >= 4, { timeoutMs: 5000 });
  // The same batch again, past the server's dedup window: the session's memory of ids drops it.
  await sleep(1500);
  await send('iceCandidates', batch);
  await send('iceCandidate', { candidate: hostCandidate(4), messageId: 'raw-4' });
  await waitFor('the next candidate passed on', () => ada.calls('onCandidate').length >= 5, {
    timeoutMs: 5000,
  });
  await sleep(200);
  assert.deepEqual(
    ada
      .calls('onCandidate')
      .map(([from, c]) => [
        from,
        c === null ? 'end' : /^candidate:(\d+)/.exec((c as RTCIceCandidateInit).candidate ?? '')?.[1],
      ]),
    [
      [raw.peerId, '1'],
      [raw.peerId, '2'],
      [raw.peerId, 'end'],
      [raw.peerId, '3'],
      [raw.peerId, '4'],
    ],
  );
  const first = ada.calls('onCandidate')[0]![1] as RTCIceCandidateInit;
  assert.deepEqual(first, { ...hostCandidate(1), usernameFragment: null });
});

test('RoomSession handed the same messageId twice by the server (after its dedup window) passes it on once', async () => {
  // The server forgets messageIds after SIGNAL_DEDUP_WINDOW_MS (1 s at least): a late copy of an
  // offer without a sequence is relayed again, and only the session's own memory of ids stops it.
  const { url } = await server({ SIGNAL_DEDUP_WINDOW_MS: '1000' });
  const ada = newSession(url, 'rs-dup', 'ada');
  await ada.session.connect();
  const raw = await rawPeer(url, 'rs-dup');
  await waitFor('ada told of the raw peer', () => ada.session.peers.has(raw.peerId));
  const offer = { roomId: 'rs-dup', to: ada.session.peerId, sdp: sdp('once'), messageId: 'raw-1' };
  assert.deepEqual(await raw.socket.emitWithAck('offer', offer), { ok: true });
  await sleep(1500);
  assert.deepEqual(
    await raw.socket.emitWithAck('offer', offer),
    { ok: true },
    'the server relayed the copy (its window passed)',
  );
  await raw.socket.emitWithAck('offer', { ...offer, sdp: sdp('next'), messageId: 'raw-2' });
  await waitFor('the next offer arrived', () => ada.calls('onDescription').length >= 2);
  await sleep(200);
  assert.deepEqual(
    ada.calls('onDescription').map(([from, type, text]) => [from, type, /s=(\w+)/.exec(String(text))?.[1]]),
    [
      [raw.peerId, 'offer', 'once'],
      [raw.peerId, 'offer', 'next'],
    ],
  );
});

for (const recovery of [true, false]) {
  const via = recovery ? 'recovery' : 'token';
  test(`RoomSession whose connection is cut reconnects and resumes as the same peer (via ${via})`, async () => {
    const handle = await server({ CONNECTION_STATE_RECOVERY: String(recovery) });
    const proxy = await proxyTo(handle);
    const ada = newSession(proxy.url, `rs-resume-${via}`, 'ada');
    const joined = await ada.session.connect();
    const bob = newSession(handle.url, `rs-resume-${via}`, 'bob');
    await bob.session.connect();
    await waitFor('ada told of bob', () => ada.session.peers.size === 1);
    proxy.cut();
    await waitFor('ada reconnected', () => ada.calls('onReconnected').length === 1, { timeoutMs: 10_000 });
    assert.deepEqual(ada.calls('onReconnected')[0][0], {
      peerId: joined.peerId,
      resumed: true,
      previousPeerId: joined.peerId,
      via,
    });
    assert.equal(ada.session.peerId, joined.peerId);
    assert.deepEqual(
      ada.calls('onStateChange').map(([state]) => state),
      ['connecting', 'connected', 'reconnecting', 'connected'],
    );
    // Nobody left: the links would go on untouched.
    assert.deepEqual(ada.calls('onPeerLeft'), []);
    assert.deepEqual(bob.calls('onPeerLeft'), []);
    assert.deepEqual(ada.errors(), []);
  });
}

test('RoomSession whose session the server forgot while it was away is refused RESUME_REJECTED and rejoins under a new id', async () => {
  const handle = await server({ RESUME_WINDOW_MS: '1000' });
  const proxy = await proxyTo(handle);
  const ada = newSession(proxy.url, 'rs-rejoin', 'ada');
  const first = await ada.session.connect();
  const bob = newSession(handle.url, 'rs-rejoin', 'bob');
  const bobJoined = await bob.session.connect();
  await waitFor('ada told of bob', () => ada.session.peers.size === 1);
  proxy.block();
  proxy.cut();
  // Bob's view: the server dropped ada once her resume window passed.
  await waitFor('the server forgot ada', () => bob.calls('onPeerLeft').length === 1, { timeoutMs: 10_000 });
  assert.deepEqual(bob.calls('onPeerLeft')[0], [first.peerId, 'timeout']);
  proxy.unblock();
  await waitFor('ada rejoined', () => ada.calls('onReconnected').length === 1, { timeoutMs: 10_000 });
  const [reconnected] = ada.calls('onReconnected')[0] as [{ peerId: string; resumed: boolean; via: string }];
  assert.equal(reconnected.resumed, false);
  assert.equal(reconnected.via, 'rejoin');
  assert.notEqual(reconnected.peerId, first.peerId);
  assert.deepEqual(ada.calls('onReconnected')[0][0], {
    peerId: reconnected.peerId,
    resumed: false,
    previousPeerId: first.peerId,
    via: 'rejoin',
  });
  assert.ok(
    ada.logs.some((line) => line.includes('resume refused (RESUME_REJECTED)')),
    ada.logs.join('\n'),
  );
  // Every link of the old identity closes; the newcomer offers to everyone again.
  assert.deepEqual(ada.calls('onPeerLeft'), [[bobJoined.peerId, 'rejoined']]);
  assert.deepEqual(
    ada.calls('onPeerJoined').map(([peer, initiator]) => [(peer as { peerId: string }).peerId, initiator]),
    [
      [bobJoined.peerId, false],
      [bobJoined.peerId, true],
    ],
  );
  await waitFor('bob told of the new ada', () => bob.calls('onPeerJoined').length === 2);
  assert.equal((bob.calls('onPeerJoined')[1][0] as { peerId: string }).peerId, reconnected.peerId);
  assert.deepEqual(ada.errors(), []);
});

test('RoomSession.close() leaves the room at once: the others are told the peer left', async () => {
  const { url } = await server();
  const ada = newSession(url, 'rs-close', 'ada');
  const joined = await ada.session.connect();
  const bob = newSession(url, 'rs-close', 'bob');
  await bob.session.connect();
  await ada.session.close('done', true);
  assert.equal(ada.session.state, 'closed');
  assert.deepEqual(ada.calls('onClosed'), [['done']]);
  assert.equal(ada.calls('onClosing').length, 1);
  await waitFor('bob told', () => bob.calls('onPeerLeft').length === 1);
  assert.deepEqual(bob.calls('onPeerLeft')[0], [joined.peerId, 'left']);
  await assert.rejects(ada.session.connect(), { name: 'SwitchboardError', reason: 'closed' });
});
