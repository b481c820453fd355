import { Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import {
  createSchemas,
  ErrorCode,
  failure,
  NAMESPACE,
  rateLimited,
  type ClientToServerEvents,
  type ConnectErrorData,
  type HandshakeAuth,
  type RefreshTokenResponse,
  type Result,
  type ServerToClientEvents,
} from '@switchboard/protocol';
import type { Namespace, Socket } from 'socket.io';
import type { z } from 'zod';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import { STATE_STORE, type StateStore } from './store/state-store';
import { validate } from './dto/validation';
import { relayFastPaths, type FastPath } from './dto/relay-fast-path';
import type { Awaitable } from '../common/awaitable';
import { PendingQueues, SocketQueue } from './socket-queue';
import { ConnectionLimits, type ConnectionLimitsOptions, type LimitKind } from './connection-limits';
import { RefusedFrame } from '../common/guarded-parser';
import { CLOCK, type Clock } from '../common/clock';
import { ConnectionAdmission } from '../common/connection-admission';
import { SignalingService, peerChannel, roomChannel, type SignalTransport } from './signaling.service';
import { Authenticator } from '../auth/authenticator';
import { publicationFor, subscribed } from '../cluster/cluster-adapter';
import { StoreConnectionError } from './store/script-connection';
import { ExpirySchedule } from '../auth/expiry-schedule';
import type { AuthenticatedUser } from '../auth/token-verifier';
import { STORE_HEALTH, type StoreHealth } from '../common/store-health';
import { FairScheduler } from '../common/fair-scheduler';

interface SocketData {
  peerId?: string;
  /**
   * Who the connection's token says it is (authentication on). Set by the handshake middleware for
   * every connection, a recovered one included (Socket.IO restores `data`, then the middleware
   * replaces `user` with what the token presented now says), and by `refreshToken`.
   */
  user?: AuthenticatedUser;
}
type SignalingSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
type SignalingNamespace = Namespace<
  ClientToServerEvents,
  ServerToClientEvents,
  Record<string, never>,
  SocketData
>;
type Ack = (result: Result<object>) => void;
/** How one client event is limited, validated and handled. */
interface Route {
  limit: LimitKind;
  schema: z.ZodType;
  handle: (socket: SignalingSocket, data: unknown) => Awaitable<Result<object>>;
  /** Whether the socket's next jobs may start before this one has finished (see SocketQueue.run). */
  overlaps: boolean;
  /** Accepts the payloads honest clients send without the schema's machinery (relay events only). */
  fast?: FastPath;
}

const MAX_MESSAGE_ID = 128;

// Where a socket keeps its queue: on the Socket object itself, not in `socket.data` (which
// connection state recovery hands to the restored socket, queue and all).
const QUEUE = Symbol('queue');
// Rate limits, likewise per Socket object (a recovered or resumed connection starts afresh), made on
// the socket's first event so an idle peer carries none.
const LIMITS = Symbol('limits');
type QueuedSocket = SignalingSocket & { [QUEUE]?: SocketQueue; [LIMITS]?: ConnectionLimits };

/**
 * Events that start or change a call, served first when the server is busy (see FairScheduler);
 * each also makes its sender's other events urgent for {@link CALL_SETUP_WINDOW_MS}, so the
 * candidates that follow an offer or answer are not left behind it. Relay traffic of established
 * calls is what waits its turn.
 */
const URGENT_EVENTS: ReadonlySet<string> = new Set([
  'joinRoom',
  'leaveRoom',
  'offer',
  'answer',
  'refreshToken',
]);
/** How long after an urgent event its sender's events stay urgent, ms: gathering and trickle. */
const CALL_SETUP_WINDOW_MS = 5_000;

/** A listener shared by all sockets: Socket.IO and EventEmitter call it with the socket as `this`. */
function socketListener<A extends unknown[]>(
  handle: (socket: SignalingSocket, ...args: A) => void,
): (this: SignalingSocket, ...args: A) => void {
  return function (this: SignalingSocket, ...args: A): void {
    handle(this, ...args);
  };
}

function queueOf(socket: SignalingSocket): SocketQueue {
  const queue = (socket as QueuedSocket)[QUEUE];
  if (!queue) throw new Error(`socket ${socket.id} has no queue`);
  return queue;
}

/**
 * The Socket.IO edge of the `/webrtc` namespace. Events are dispatched from one `socket.onAny`
 * listener through a route table rather than `@SubscribeMessage`: Nest's per-message pipeline
 * (context creation, RxJS, exception zones) costs more than the relay itself, and every route here
 * only validates, calls {@link SignalingService} and acknowledges.
 */
@WebSocketGateway({ namespace: NAMESPACE })
export class WebrtcGateway implements OnGatewayInit, OnGatewayConnection, OnModuleDestroy {
  private readonly logger = new Logger(WebrtcGateway.name);
  private readonly routes: Map<string, Route>;
  private readonly limitOptions: ConnectionLimitsOptions;
  private nsp: SignalingNamespace | undefined;
  /** Authenticated connections by the second their token runs out (one timer for all). */
  private readonly expiries: ExpirySchedule<SignalingSocket>;
  /** Sockets whose jobs wait for the store. */
  private readonly pending = new PendingQueues();
  /** Serves call setup first and senders in turns when the server is busy (CALL_SETUP_FIRST). */
  private readonly scheduler: FairScheduler<SignalingSocket>;

  constructor(
    @Inject(SignalingService) private readonly core: SignalingService,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(STATE_STORE) private readonly store: StateStore,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(ConnectionAdmission) private readonly admission: ConnectionAdmission,
    @Inject(Authenticator) private readonly auth: Authenticator,
    @Inject(STORE_HEALTH) private readonly health: StoreHealth,
  ) {
    this.expiries = new ExpirySchedule(clock, this.onTokenExpired);
    this.scheduler = new FairScheduler<SignalingSocket>(
      {
        pause: (socket) => transportOf(socket)?.pause?.(),
        resume: (socket) => transportOf(socket)?.resume?.(),
      },
      (err) => this.onJobError(err),
      // Off: never busy, so every event runs at once, first come, first served.
      config.CALL_SETUP_FIRST ? {} : { busyUtilization: 2, busyPerMs: Number.POSITIVE_INFINITY },
    );
    const limits = { maxSdpBytes: config.MAX_SDP_BYTES, maxMetadataBytes: 2048 };
    const s = createSchemas(limits);
    const fast = relayFastPaths(limits);
    const c = this.core;
    const route = <S extends z.ZodType>(
      limit: LimitKind,
      schema: S,
      handle: (socket: SignalingSocket, data: z.output<S>) => Awaitable<Result<object>>,
      overlaps = false,
      fastPath?: FastPath,
    ): Route => ({ limit, schema, handle: handle as Route['handle'], overlaps, fast: fastPath });
    // A relay that is one store step issues it before it returns: the socket's next signal need
    // not wait for its reply (see SocketQueue.run).
    const relayOverlaps = c.relaysInOneStep;
    this.routes = new Map<keyof ClientToServerEvents, Route>([
      ['joinRoom', route('join', s.joinRoom, (socket, d) => c.joinRoom(socket, d))],
      ['leaveRoom', route('join', s.leaveRoom, (socket, d) => c.leaveRoom(socket, d))],
      [
        'offer',
        route('signal', s.offer, (socket, d) => c.relay(socket, 'offer', d), relayOverlaps, fast.sdp),
      ],
      [
        'answer',
        route('signal', s.answer, (socket, d) => c.relay(socket, 'answer', d), relayOverlaps, fast.sdp),
      ],
      [
        'iceCandidate',
        route(
          'signal',
          s.iceCandidate,
          (socket, d) => c.relay(socket, 'iceCandidate', d),
          relayOverlaps,
          fast.iceCandidate,
        ),
      ],
      // One message, one token: a batch is what the limit counts (its candidates are capped).
      [
        'iceCandidates',
        route(
          'signal',
          s.iceCandidates,
          (socket, d) => c.relay(socket, 'iceCandidates', d),
          relayOverlaps,
          fast.iceCandidates,
        ),
      ],
      [
        'connectionState',
        route('state_report', s.connectionState, (socket, d) => c.reportConnectionState(socket, d)),
      ],
      [
        'callQuality',
        route('state_report', s.callQuality, async (socket, d) => {
          const refused = await c.refuseReport(socket, d.roomId, d.peerId);
          if (refused) return refused;
          this.metrics.callQuality(d);
          return { ok: true };
        }),
      ],
      // With the joins: each verification may cost a signature check or a JWKS fetch.
      ['refreshToken', route('join', s.refreshToken, (socket, d) => this.refreshToken(socket, d.token))],
    ]);
    this.limitOptions = {
      signal: { perSecond: config.SIGNAL_RATE_PER_SEC, burst: config.SIGNAL_BURST },
      join: { perSecond: config.JOIN_RATE_PER_SEC, burst: config.JOIN_BURST },
      stateReport: { perSecond: config.STATE_REPORT_RATE_PER_SEC, burst: config.STATE_REPORT_BURST },
      disconnectAfter: config.RATE_LIMIT_DISCONNECT_AFTER,
    };
  }

  afterInit(nsp: SignalingNamespace): void {
    this.nsp = nsp;
    // Middlewares run for recovered sockets too (`skipMiddlewares: false`): a recovered connection
    // presents its token again. A draining server still lets one recover, as before.
    nsp.use((socket, next) => {
      const trouble = this.health.trouble();
      if (this.core.isDraining && !socket.recovered)
        next(connectError(ErrorCode.SERVER_SHUTTING_DOWN, 'the server is shutting down; connect again'));
      // A connection needs its session in the shared state: refused at once, not left half-made.
      else if (trouble) next(connectError(ErrorCode.UNAVAILABLE, 'shared state unreachable; retry shortly'));
      else next();
    });
    if (this.auth.required) nsp.use(this.authenticate);
    this.metrics.observeSize('token_expiries', () => this.expiries.size);
    this.metrics.observeSize('deferred_events', () => this.scheduler.backlog);
    this.metrics.observeDeferred(() => this.scheduler.deferredCount);
    this.metrics.observe({
      sockets: () => nsp.sockets.size,
      pendingResumes: () => this.core.pendingResumes,
      storeKeys: () => this.store.size(),
    });
    this.metrics.observeSize('socketio_rooms', () => nsp.adapter.rooms.size);
    this.metrics.observeSize('restart_timers', () => this.core.pendingRestartTimers);
    const recovery = nsp.adapter as Partial<{ loggedRooms: number; persistedSessions: number }>;
    if (recovery.loggedRooms !== undefined) {
      this.metrics.observeSize('recovery_logs', () => recovery.loggedRooms ?? 0);
      this.metrics.observeSize('recovery_sessions', () => recovery.persistedSessions ?? 0);
    }
    const publication = publicationFor(nsp.adapter);
    const transport: SignalTransport = {
      toPeer: (peerId, event, payload) => {
        this.metrics.emitted(event);
        emit(nsp.to(peerChannel(peerId)), event, payload);
      },
      ...(publication
        ? { publication: (peerId: string, event: string) => publication(peerChannel(peerId), event) }
        : {}),
      toPeerPublished: (peerId, event, payload) => {
        this.metrics.emitted(event);
        // The store published it to the other instances as the adapter would have.
        this.metrics.adapterPublished();
        // Socket.IO encodes a packet before it looks for its recipients: 6 % of the sending
        // instance's instructions per candidate when, as usual in a cluster, the receiver is elsewhere.
        const channel = peerChannel(peerId);
        if (nsp.adapter.rooms.has(channel)) emit(nsp.local.to(channel), event, payload);
      },
      toRoom: (roomId, exceptPeerId, event, payload) => {
        this.metrics.emitted(event);
        emit(nsp.to(roomChannel(roomId)).except(peerChannel(exceptPeerId)), event, payload);
      },
      leaveChannel: (peerId, roomId) => nsp.in(peerChannel(peerId)).socketsLeave(roomChannel(roomId)),
      subscribed: (room) => subscribed(nsp.adapter, room),
      reconnectLocalClients: () => {
        for (const socket of nsp.sockets.values()) socket.conn.close();
      },
      disconnectSocket: (socketId, reason) => {
        this.metrics.forcedDisconnect(reason.code.toLowerCase());
        // Through the adapter, like the disconnect, so both reach the socket wherever it is; on one
        // node they run in this order, and the notice is written before the close (which waits for it).
        emit(nsp.to(socketId), 'disconnectReason', reason);
        nsp.in(socketId).disconnectSockets(true);
      },
    };
    this.core.attach(transport);
  }

  /** The namespace, once Socket.IO is up (used by graceful shutdown). */
  get namespace(): SignalingNamespace | undefined {
    return this.nsp;
  }

  /**
   * Resolves once no socket has a job pending: after the sockets are closed, when their disconnects
   * have reached the store (graceful shutdown waits for this before closing a Redis store).
   */
  settled(): Promise<void> {
    return this.pending.settled();
  }

  /** Stops the token-expiry timer and the scheduler's sampling (Nest calls this when the app closes). */
  onModuleDestroy(): void {
    this.expiries.close();
    this.scheduler.close();
  }

  /**
   * The handshake middleware when authentication is on: `auth.token` must verify, or the connection
   * is refused with `connect_error` (message `UNAUTHORIZED`, `data` `{ code, message }`).
   */
  private readonly authenticate = (socket: SignalingSocket, next: (err?: Error) => void): void => {
    const auth = socket.handshake.auth as HandshakeAuth | undefined;
    this.auth.authenticate(auth?.token, socket.request).then(
      (outcome) => {
        if (!outcome.ok) {
          next(connectError(ErrorCode.UNAUTHORIZED, outcome.message));
          // Then close the connection under it rather than let an unauthenticated client hold it until
          // Socket.IO's 45 s connect timeout. Socket.IO writes the refusal on the next tick (and only
          // while the connection is open); Engine.IO's close waits for it to be flushed.
          setImmediate(() => socket.conn.close());
          return;
        }
        socket.data.user = outcome.user;
        // Socket.IO keeps the handshake for the connection's life; the token (up to 8 KiB) has done its work.
        if (auth) auth.token = undefined;
        next();
      },
      (err: unknown) => {
        this.logger.error({ err }, 'handshake authentication failed');
        next(connectError(ErrorCode.INTERNAL, 'internal error'));
      },
    );
  };

  handleConnection(socket: SignalingSocket): void {
    const auth = socket.handshake.auth as HandshakeAuth | undefined;
    const user = socket.data.user;
    if (user) this.expiries.add(socket, this.auth.deadlineOf(user));
    const queue = new SocketQueue(this.onJobError, this.pending);
    (socket as QueuedSocket)[QUEUE] = queue;
    // Connect runs first: every message waits for the socket to have its peer.
    // Only a whole, non-negative number is a lastSeq; anything else is as if none was given.
    const lastSeq =
      Number.isSafeInteger(auth?.lastSeq) && (auth?.lastSeq ?? -1) >= 0 ? auth?.lastSeq : undefined;
    queue.run(() =>
      this.core.connect(socket, socket.recovered, auth?.resumeToken, lastSeq).catch((err: unknown) => {
        // No session (Redis failed in between): a socket without its peer can do nothing. Its
        // transport is closed, so the client reconnects by itself, as after a drain.
        this.logger.warn({ err }, 'connection setup failed; closing the transport');
        socket.conn.close();
      }),
    );
    // Shared listeners (Socket.IO calls them with the socket as `this`), not closures per socket:
    // per-socket closures were most of an idle peer's heap.
    socket.on('disconnect', this.onDisconnect);
    socket.on('error', this.onSocketError);
    socket.onAny(this.onEvent);
  }

  private readonly onJobError = (err: unknown): void => {
    this.logger.error({ err }, 'socket job failed');
  };

  // A frame that could not be decoded (malformed, or refused unparsed with no event to answer):
  // Socket.IO closes the connection after this. Without a listener it would print to stderr.
  private readonly onSocketError = socketListener((socket, err: Error) => {
    this.metrics.forcedDisconnect('parse_error');
    this.logger.debug({ socketId: socket.id, err: err.message }, 'undecodable frame; connection closed');
  });

  private readonly onDisconnect = socketListener((socket, reason: string) => {
    const user = socket.data.user;
    if (user) this.expiries.remove(socket, this.auth.deadlineOf(user));
    if (!this.scheduler.hasBacklog(socket)) {
      queueOf(socket).run(() => this.core.disconnect(socket, reason));
      return;
    }
    // After the events it sent before it went (their handlers see it gone and answer nothing). Counted
    // as pending meanwhile: a graceful shutdown waits for the disconnect to reach the store.
    this.pending.add();
    this.scheduler.defer(socket, () => {
      try {
        queueOf(socket).run(() => this.core.disconnect(socket, reason));
      } finally {
        this.pending.remove();
      }
    });
  });

  private readonly onTokenExpired = (socket: SignalingSocket): void => {
    if (socket.connected)
      this.cutOff(socket, ErrorCode.TOKEN_EXPIRED, 'its token expired without a refreshToken');
  };

  /**
   * `refreshToken`: a newer token of the same user replaces the connection's expiry, grant and default
   * name; rooms the new grant does not cover are left (see `SignalingService.updateUser`). Another
   * user's token is refused `FORBIDDEN` and changes nothing.
   */
  private async refreshToken(socket: SignalingSocket, token: string): Promise<Result<RefreshTokenResponse>> {
    const current = socket.data.user;
    if (!current)
      return failure(
        ErrorCode.VALIDATION_FAILED,
        'authentication is off on this server: there is no token to refresh',
      );
    const outcome = await this.auth.authenticate(token, socket.request);
    if (!outcome.ok) return failure(ErrorCode.UNAUTHORIZED, outcome.message);
    if (outcome.user.sub !== current.sub) {
      await this.auth.refuse(socket.request, 'forbidden');
      return failure(ErrorCode.FORBIDDEN, "the token is another user's (sub); the connection keeps its own");
    }
    // Cut off while the new token was being verified: nothing to extend (and re-adding it would leak it).
    if (!socket.connected) return failure(ErrorCode.UNAUTHORIZED, 'the connection token expired first');
    this.expiries.move(socket, this.auth.deadlineOf(current), this.auth.deadlineOf(outcome.user));
    const leftRooms = await this.core.updateUser(socket, outcome.user);
    return { ok: true, expiresAt: outcome.user.exp * 1000, ...(leftRooms.length > 0 ? { leftRooms } : {}) };
  }

  private readonly onEvent = socketListener((socket, event: string, ...args: unknown[]) => {
    this.dispatch(socket, event, args);
  });

  /**
   * Limits, validates and acknowledges a client event, handing a valid one to the core in the
   * socket's order. The cheap refusals come first and skip the queue: the rate limit (unknown events
   * count as signals), then a frame the parser refused unparsed ({@link RefusedFrame}), then the name.
   */
  private dispatch(socket: SignalingSocket, event: string, args: unknown[]): void {
    if (!socket.connected) return; // events read in the same batch as a cut-off one
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as Ack) : undefined;
    const payload = args[0];
    const route = this.routes.get(event);
    const now = this.clock.now();
    const limits = ((socket as QueuedSocket)[LIMITS] ??= new ConnectionLimits(this.limitOptions));
    const kind = route?.limit ?? 'signal';
    const wait = limits.admit(kind, now);
    if (wait > 0) {
      this.metrics.rateLimited(kind);
      if (route) this.metrics.handled(event, ErrorCode.RATE_LIMITED);
      this.respond(
        socket,
        ack,
        payload,
        rateLimited(`too many ${kind} requests; retry after ${wait} ms`, wait),
      );
      if (limits.refused(now)) this.cutOff(socket, ErrorCode.RATE_LIMITED, 'kept exceeding its rate limits');
      return;
    }
    if (!route) {
      if (ack)
        ack(failure(ErrorCode.VALIDATION_FAILED, `unknown event ${JSON.stringify(event.slice(0, 64))}`));
      return;
    }
    if (payload instanceof RefusedFrame) {
      this.metrics.handled(event, payload.code);
      ack?.(failure(payload.code, payload.message));
      return;
    }
    let urgent = URGENT_EVENTS.has(event);
    if (urgent) limits.startCallSetup(now, CALL_SETUP_WINDOW_MS);
    else urgent = limits.settingUpCall(now);
    if (this.scheduler.runsNow(socket, urgent, now)) {
      this.handle(socket, event, route, payload, ack);
      return;
    }
    this.scheduler.defer(socket, () => {
      // Cut off (rate limit, token expiry) or gone meanwhile: as for events read with the cut-off one.
      if (socket.connected) this.handle(socket, event, route, payload, ack);
    });
  }

  /** Validates an admitted event and hands it to the core in the socket's order; answers through the ack. */
  private handle(
    socket: SignalingSocket,
    event: string,
    route: Route,
    payload: unknown,
    ack: Ack | undefined,
  ): void {
    queueOf(socket).run(() => {
      const answer = (result: Result<object>): void => {
        this.metrics.handled(event, outcomeOf(result));
        this.respond(socket, ack, payload, result);
      };
      const failed = (err: unknown): void => {
        const trouble = this.health.trouble();
        if (trouble || isStoreTimeout(err)) {
          this.logger.warn({ event, trouble, err: (err as Error).message }, 'shared state unreachable');
          return answer(failure(ErrorCode.UNAVAILABLE, 'shared state unreachable; retry shortly'));
        }
        this.logger.error({ err, event }, 'handler failed');
        answer(failure(ErrorCode.INTERNAL, 'internal error'));
      };
      // The relay events' fast path accepts what honest clients send; anything else goes to the schema.
      let data: unknown = route.fast?.(payload);
      if (data === undefined) {
        const checked = validate(route.schema, payload);
        if (!checked.ok) return answer(checked);
        data = checked.data;
      }
      let result: Awaitable<Result<object>>;
      try {
        result = route.handle(socket, data);
      } catch (err) {
        return failed(err);
      }
      if (result instanceof Promise) return result.then(answer, failed);
      answer(result);
    }, route.overlaps);
  }

  /** Tells the client why, then disconnects it: it leaves its rooms at once (a voluntary disconnect). */
  private cutOff(socket: SignalingSocket, code: ErrorCode, why: string): void {
    const context = { socketId: socket.id, peerId: socket.data.peerId, userId: socket.data.user?.sub, code };
    if (code === ErrorCode.RATE_LIMITED) this.logger.warn(context, `disconnecting a client: ${why}`);
    else this.logger.log(context, `disconnecting a client: ${why}`);
    this.metrics.forcedDisconnect(code === ErrorCode.RATE_LIMITED ? 'rate_limited' : code.toLowerCase());
    socket.emit('disconnectReason', { code, message: `disconnected: ${why}` });
    socket.disconnect(true);
    // Reconnecting for a fresh allowance each time gets the client IP blocked after a few rounds.
    if (code === ErrorCode.RATE_LIMITED) this.admission.penalize(socket.request);
  }

  // Answers through the ack; a client that sent a messageId without one gets a signalAck event.
  private respond(
    socket: SignalingSocket,
    ack: Ack | undefined,
    payload: unknown,
    result: Result<object>,
  ): void {
    if (ack) {
      ack(result);
      return;
    }
    const messageId = (payload as { messageId?: unknown } | null)?.messageId;
    if (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > MAX_MESSAGE_ID) return;
    if (result.ok) {
      const { duplicate, queued } = result as { duplicate?: boolean; queued?: boolean };
      socket.emit('signalAck', {
        messageId,
        ok: true,
        ...(duplicate ? { duplicate } : {}),
        ...(queued ? { queued } : {}),
      });
    } else {
      socket.emit('signalAck', { messageId, ok: false, error: result.error });
    }
  }
}

/** The `ws` socket under a connection (Engine.IO's WebSocket transport), whose reading can be paused. */
function transportOf(socket: SignalingSocket): { pause?(): void; resume?(): void } | undefined {
  return (socket.conn as unknown as { transport?: { socket?: { pause?(): void; resume?(): void } } })
    .transport?.socket;
}

/** ioredis's `commandTimeout` error: Redis is connected but not answering in time. */
/** A store command that timed out (ioredis), or a script whose connection was lost. */
function isStoreTimeout(err: unknown): boolean {
  return err instanceof StoreConnectionError || (err instanceof Error && err.message === 'Command timed out');
}

/** A handshake refusal: Socket.IO sends `message` and `data` to the client in `connect_error`. */
function connectError(code: ErrorCode, message: string): Error & { data: ConnectErrorData } {
  return Object.assign(new Error(code), { data: { code, message } });
}

// Socket.IO's typed emit wants the literal event; the core passes the union it was given.
function emit(target: { emit: unknown }, event: string, payload: unknown): void {
  (target.emit as (e: string, p: unknown) => boolean)(event, payload);
}

function outcomeOf(result: Result<object>): string {
  if (!result.ok) return result.error.code;
  const r = result as { duplicate?: boolean; queued?: boolean };
  return r.duplicate ? 'duplicate' : r.queued ? 'queued' : 'ok';
}
