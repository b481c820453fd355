import type {
  ClientToServerEvents,
  ConnectErrorData,
  JoinRoomResponse,
  Result,
  ResumedEvent,
  ResumeFailedEvent,
  ServerToClientEvents,
} from '@switchboard/protocol';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { createApp, type SwitchboardApp } from '../../src/bootstrap';
import type { Clock } from '../../src/common/clock';
import { loadConfig, type EnvInput } from '../../src/config/config';
import { MemoryStateStore } from '../../src/webrtc/store/memory-state-store';
import { PeerSessionService } from '../../src/webrtc/services/peer-session.service';
import { STATE_STORE, type StateStore } from '../../src/webrtc/store/state-store';
import { SystemClock } from '../../src/common/clock';

export type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface TestServer {
  url: string;
  sb: SwitchboardApp;
  store: MemoryStateStore;
  close(): Promise<void>;
}

/**
 * Starts a real server on 127.0.0.1, port 0, with test-friendly defaults overridden by `env`.
 * `wrapStore` puts something between the server and its in-memory store (see `deferredStore`).
 */
export async function startServer(
  env: EnvInput = {},
  clock: Clock = new SystemClock(),
  wrapStore: (store: MemoryStateStore) => StateStore = (store) => store,
): Promise<TestServer> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    STUN_URLS: '',
    DEMO_ENABLED: 'false',
    ...env,
  });
  const store = new MemoryStateStore(clock);
  const sb = await createApp(config, { clock, store: wrapStore(store) });
  const url = await sb.listen();
  return { url, sb, store, close: () => sb.shutdown() };
}

/** The Redis the cluster tests use: REDIS_TEST_URL, or the one scripts/setup.sh starts. */
export const REDIS_TEST_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379';

/** One instance of a {@link TestCluster}: a real server whose state is in Redis. */
export interface TestInstance {
  url: string;
  sb: SwitchboardApp;
  store: StateStore;
  close(): Promise<void>;
}

/** Instances sharing one Redis under a key prefix of their own. */
export interface TestCluster {
  /** Key and channel prefix (REDIS_KEY_PREFIX) of this cluster alone: runs and tests never collide. */
  prefix: string;
  nodes: TestInstance[];
  /** Starts one more instance of the cluster. */
  add(env?: EnvInput): Promise<TestInstance>;
  /** Shuts every instance down and deletes every key under the prefix. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts `count` servers on 127.0.0.1, port 0, sharing the Redis at {@link REDIS_TEST_URL} under a
 * fresh random prefix (REDIS_URL and REDIS_KEY_PREFIX), with the test defaults of
 * {@link startServer} overridden by `env`. With `redisUrl`, on that Redis instead (a test's own,
 * whose keys it deletes itself).
 */
export async function startCluster(
  count: number,
  env: EnvInput = {},
  redisUrl: string = REDIS_TEST_URL,
): Promise<TestCluster> {
  const prefix = `sbtest:${randomBytes(6).toString('hex')}:`;
  const nodes: TestInstance[] = [];
  const add = async (extra: EnvInput = {}): Promise<TestInstance> => {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      STUN_URLS: '',
      DEMO_ENABLED: 'false',
      ...env,
      ...extra,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
    });
    const sb = await createApp(config);
    const url = await sb.listen();
    const node = { url, sb, store: sb.app.get<symbol, StateStore>(STATE_STORE), close: () => sb.shutdown() };
    nodes.push(node);
    return node;
  };
  let closing: Promise<void> | undefined;
  const cluster: TestCluster = {
    prefix,
    nodes,
    add,
    close: () =>
      (closing ??= (async () => {
        await Promise.all(nodes.map((n) => n.close()));
        if (redisUrl === REDIS_TEST_URL) await deleteRedisKeys(prefix);
      })()),
  };
  try {
    for (let i = 0; i < count; i++) await add();
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

/** Deletes every key under `prefix` in the test Redis; returns how many there were. */
export async function deleteRedisKeys(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: 1 });
  try {
    const keys = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      for (const k of batch) keys.add(k);
      cursor = next;
    } while (cursor !== '0');
    if (keys.size > 0) await redis.unlink(...keys);
    return keys.size;
  } finally {
    redis.disconnect();
  }
}

export type ConnectedClient = Client & {
  peerId: string;
  /** The server's answer to a resume token in the handshake. */
  resumeOutcome: Promise<{ resumed?: ResumedEvent; failed?: ResumeFailedEvent }>;
};

/** A connected client of the /webrtc namespace, with its assigned peer id. */
export async function connect(
  url: string,
  opts: {
    auth?: Record<string, unknown>;
    reconnection?: boolean;
    /** Delay before Socket.IO reconnects, ms. Default 50. */
    reconnectionDelay?: number;
    /** Called before the handshake, to attach listeners for what the server sends at once. */
    setup?: (socket: Client) => void;
    /** Local address to connect from (any of 127.0.0.0/8 reaches a server on 127.0.0.1): another client IP. */
    localAddress?: string;
    /** `Origin` header of the WebSocket handshake, as a browser would send it. */
    origin?: string;
  } = {},
): Promise<ConnectedClient> {
  const socket = io(`${url}/webrtc`, {
    transports: ['websocket'],
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    ...(opts.origin ? { origin: opts.origin } : {}),
    forceNew: true,
    reconnection: opts.reconnection ?? false,
    reconnectionDelay: opts.reconnectionDelay ?? 50,
    reconnectionDelayMax: opts.reconnectionDelay ?? 100,
    randomizationFactor: 0,
    auth: opts.auth ?? {},
  }) as ConnectedClient;
  opts.setup?.(socket);
  const session = once(socket, 'session', 5000);
  session.catch(() => undefined); // awaited below only when the handshake succeeds
  // Listen before connecting: the server answers a resume token right after the handshake.
  const resumed = once(socket, 'resumed', 5000).then((event) => ({ resumed: event }));
  const failed = once(socket, 'resumeFailed', 5000).then((event) => ({ failed: event }));
  socket.resumeOutcome = Promise.race([resumed, failed]);
  socket.resumeOutcome.catch(() => undefined);
  resumed.catch(() => undefined);
  failed.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
  if (!opts.auth?.resumeToken) socket.peerId = (await session).peerId;
  else {
    const outcome = await socket.resumeOutcome;
    socket.peerId = outcome.resumed ? outcome.resumed.peerId : (await session).peerId;
  }
  return socket;
}

/** A refused handshake's `connect_error`: `message` is the code, `data` is `{ code, message }`. */
export type ConnectRefusal = Error & { data?: ConnectErrorData };

/** Connects expecting the server to refuse the handshake; resolves with its `connect_error`. */
export async function refusal(
  url: string,
  opts: Parameters<typeof connect>[1] = {},
): Promise<ConnectRefusal> {
  let socket: ConnectedClient;
  try {
    socket = await connect(url, opts);
  } catch (err) {
    return err as ConnectRefusal;
  }
  socket.disconnect();
  throw new Error(`the handshake was accepted (peer ${socket.peerId})`);
}

/** Resolves with the next `event`, or rejects after `ms`. */
export function once<E extends keyof ServerToClientEvents>(
  socket: Client,
  event: E,
  ms = 3000,
): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler as never);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const handler = (payload: Parameters<ServerToClientEvents[E]>[0]) => {
      clearTimeout(timer);
      socket.off(event, handler as never);
      resolve(payload);
    };
    socket.on(event, handler as never);
  });
}

/** Collects every `event` from now on. */
export function record<E extends keyof ServerToClientEvents>(
  socket: Client,
  event: E,
): Parameters<ServerToClientEvents[E]>[0][] {
  const seen: Parameters<ServerToClientEvents[E]>[0][] = [];
  socket.on(event, ((p: Parameters<ServerToClientEvents[E]>[0]) => seen.push(p)) as never);
  return seen;
}

/** Emits with an ack and returns the result envelope. */
export function request<E extends keyof ClientToServerEvents>(
  socket: Client,
  event: E,
  payload: unknown,
): Promise<Result<Record<string, unknown>>> {
  return (
    socket.timeout(3000).emitWithAck as (e: string, p: unknown) => Promise<Result<Record<string, unknown>>>
  )(event, payload);
}

export async function join(socket: Client, roomId: string, displayName?: string): Promise<JoinRoomResponse> {
  const res = await request(socket, 'joinRoom', { roomId, ...(displayName ? { displayName } : {}) });
  if (!res.ok) throw new Error(`join failed: ${res.error.code} ${res.error.message}`);
  return res as unknown as JoinRoomResponse;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until `check` is true, polling; throws after `ms`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms = 3000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export const SDP = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';

export function candidate(port: number, ufrag = 'abcd') {
  return {
    candidate: `candidate:842163049 1 udp 1677729535 192.0.2.1 ${port} typ srflx raddr 0.0.0.0 rport 0 generation 0`,
    sdpMid: '0',
    sdpMLineIndex: 0,
    usernameFragment: ufrag,
  };
}

/**
 * Cuts the connection the way a network loss does: the server sees "transport close", not a
 * voluntary disconnect.
 */
export function cutTransport(socket: Client): void {
  (socket.io as unknown as { engine: { close(): void } }).engine.close();
}

/** Waits until `server` has noticed that `peerId`'s connection is gone (its resume window runs). */
export async function untilDropped(server: Pick<TestServer, 'sb'>, peerId: string, ms = 2000): Promise<void> {
  const sessions = server.sb.app.get(PeerSessionService);
  await until(async () => !(await sessions.isOnline(peerId)), ms, `${peerId} dropped`);
}

/** Closes clients without throwing. */
export function closeAll(...sockets: (Client | undefined)[]): void {
  for (const s of sockets) s?.disconnect();
}

/** Emits without an ack callback and without type checks (for malformed or fire-and-forget input). */
export function rawEmit(socket: Client, event: string, ...args: unknown[]): void {
  (socket.emit as unknown as (e: string, ...a: unknown[]) => void)(event, ...args);
}

/**
 * Reads one sample of a metric from `GET /metrics` (name with labels, as exposed); 0 when absent (a
 * labelled counter is exported from its first increment).
 */
export async function metric(server: Pick<TestServer, 'url'>, sample: string): Promise<number> {
  return sampleOf(await (await fetch(`${server.url}/metrics`)).text(), sample);
}

/** One sample's value in a Prometheus text exposition; 0 when absent. */
export function sampleOf(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(sample + ' '));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** Emits with an ack callback and no timeout, not waiting: for floods. `onAck` gets each answer. */
export function fire(
  socket: Client,
  event: string,
  payload: unknown,
  onAck: (result: Result<Record<string, unknown>>) => void = () => undefined,
): void {
  (
    socket.emit as unknown as (
      e: string,
      p: unknown,
      cb: (r: Result<Record<string, unknown>>) => void,
    ) => void
  )(event, payload, onAck);
}

/**
 * An honest call from another client IP (127.0.0.2 by default): two fresh clients join `roomId`,
 * exchange an offer and an answer (each acknowledged and received), and leave. Tests of hostile
 * clients use it to show that everyone else is still served.
 */
export async function honestCall(
  server: TestServer,
  roomId: string,
  localAddress = '127.0.0.2',
): Promise<void> {
  const a = await connect(server.url, { localAddress });
  const b = await connect(server.url, { localAddress });
  try {
    await join(a, roomId);
    await join(b, roomId);
    const offer = once(b, 'offer');
    const sent = await request(a, 'offer', { roomId, to: b.peerId, sdp: SDP });
    if (!sent.ok) throw new Error(`honest offer refused: ${sent.error.code}`);
    await offer;
    const answer = once(a, 'answer');
    const answered = await request(b, 'answer', { roomId, to: a.peerId, sdp: SDP });
    if (!answered.ok) throw new Error(`honest answer refused: ${answered.error.code}`);
    await answer;
  } finally {
    closeAll(a, b);
  }
}
