import {
  ErrorCode,
  failure,
  type ConnectionStateReport,
  type DisconnectReasonEvent,
  type Failure,
  type IceCandidateInit,
  type JoinRoomResponse,
  type PeerInfo,
  type PeerLeftReason,
  type Result,
  type ServerToClientEvents,
  type SignalResponse,
} from '@switchboard/protocol';
import { grantsRoom, type AuthenticatedUser } from '../auth/token-verifier';
import { after, type Awaitable } from '../common/awaitable';
import type { Clock } from '../common/clock';
import type { Presence } from './presence';
import { NO_EVENTS, type EventSink } from '../webhooks/webhook-dispatcher';
import { logEntry, payloadIndex, type DeliveryLog, type Replay } from '../cluster/delivery-log';
import type { IceCandidateBufferService, HeldSignal } from './services/ice-candidate-buffer.service';
import type { IceServerManagerService } from './services/ice-server-manager.service';
import type { PeerConnectionTrackerService } from './services/peer-connection-tracker.service';
import type { PeerSessionService } from './services/peer-session.service';
import type { RoomRegistryService } from './services/room-registry.service';
import type { SignalingStateMachineService, SignalKind } from './services/signaling-state-machine.service';
import type { SignalPublication, SignalStep } from './store/state-store';

/** The Socket.IO room every socket of a peer is in; signals are emitted to it. */
export const peerChannel = (peerId: string): string => `p:${peerId}`;
/** The Socket.IO room of a signaling room; room-wide events are emitted to it. */
export const roomChannel = (roomId: string): string => `r:${roomId}`;

// Shared answers: results are only read (acked and counted), never changed.
const OK: Result<SignalResponse> = Object.freeze({ ok: true });
const DUPLICATE: Result<SignalResponse> = Object.freeze({ ok: true, duplicate: true });
const QUEUED: Result<SignalResponse> = Object.freeze({ ok: true, queued: true });

function peerNotFound(to: string, roomId: string): Failure {
  return failure(ErrorCode.PEER_NOT_FOUND, `peer ${to} is not in room ${roomId}`);
}

type EventArgs<E extends keyof ServerToClientEvents> = Parameters<ServerToClientEvents[E]>[0];

/** How the signaling core reaches sockets; implemented over a Socket.IO namespace by the gateway. */
export interface SignalTransport {
  toPeer<E extends keyof ServerToClientEvents>(peerId: string, event: E, payload: EventArgs<E>): void;
  toRoom<E extends keyof ServerToClientEvents>(
    roomId: string,
    exceptPeerId: string,
    event: E,
    payload: EventArgs<E>,
  ): void;
  /**
   * How the cluster would publish `event` to `peerId` for the other instances, to be published by
   * the state store in the step that logs the signal (`SignalStep.publish`, without `from`);
   * absent on one instance. A signal published so is then passed to {@link toPeerPublished}.
   */
  publication?(peerId: string, event: SignalKind): Omit<SignalPublication, 'from'>;
  /** `toPeer` for a signal the store has published: to this instance's sockets of `peerId` only. */
  toPeerPublished(peerId: string, event: SignalKind, payload: EventArgs<SignalKind>): void;
  /** Removes every socket of `peerId` from the room's channel. */
  leaveChannel(peerId: string, roomId: string): void;
  /**
   * Resolves once this instance hears what other instances send to Socket.IO room `room` (which a
   * local socket has just joined); at once on one instance.
   */
  subscribed(room: string): Promise<void>;
  /**
   * Tells a socket why with `disconnectReason`, then disconnects it (a resumed peer's previous one).
   * The notice is written before the disconnect, so it reaches a client that is still there.
   */
  disconnectSocket(socketId: string, reason: DisconnectReasonEvent): void;
  /**
   * Closes the transport of every socket connected to this instance, as a drain does: clients
   * reconnect by themselves (their resume tokens then tell them whether they are still known).
   */
  reconnectLocalClients(): void;
}

/** The part of a socket the core needs. */
export interface PeerSocket {
  readonly id: string;
  /** `user`: who the connection's token says it is; absent when authentication is off. */
  readonly data: { peerId?: string; user?: AuthenticatedUser };
  /** The Socket.IO rooms the socket is in: its peer channel and the channels of its rooms. */
  readonly rooms: ReadonlySet<string>;
  join(room: string): unknown;
  leave(room: string): unknown;
  emit<E extends keyof ServerToClientEvents>(event: E, payload: EventArgs<E>): unknown;
}

export interface SignalingOptions {
  /** Resume window, ms. */
  resumeWindowMs: number;
  /** Rooms one peer may be in at once; a further join is refused `TOO_MANY_ROOMS`. Default 8. */
  maxRoomsPerPeer: number;
}

// Socket.IO disconnect reasons that mean the client chose to go, so others learn at once.
const VOLUNTARY = new Set(['client namespace disconnect', 'server namespace disconnect']);

export interface SignalDto {
  roomId: string;
  to: string;
  sdp?: string;
  candidate?: IceCandidateInit | null;
  candidates?: (IceCandidateInit | null)[];
  sequence?: number;
  messageId?: string;
}

/**
 * The signaling core, free of NestJS and Socket.IO: rooms, relay, idempotency, candidate
 * handling, resume and restart orchestration, over the services and a {@link SignalTransport}.
 * Every method takes validated input and returns a result envelope; it never throws for bad input.
 */
/** How an orchestrated ICE restart went: asked for, the pair connected again, or given up. */
export type IceRestartOutcome = 'requested' | 'recovered' | 'exhausted';

export class SignalingService {
  private draining = false;
  private transport: SignalTransport | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly options: SignalingOptions,
    private readonly rooms: RoomRegistryService,
    private readonly sessions: PeerSessionService,
    private readonly stateMachine: SignalingStateMachineService,
    private readonly candidates: IceCandidateBufferService,
    private readonly tracker: PeerConnectionTrackerService,
    private readonly iceServers: IceServerManagerService,
    /** Where peers are connected and when dropped ones expire (timers, or Redis across instances). */
    private readonly presence: Presence,
    /**
     * With shared state: every signal is numbered and logged for its receiver, so a peer resumes on
     * any instance with exactly what it missed. Absent on one instance (Socket.IO's connection state
     * recovery keeps that promise there).
     */
    private readonly log?: DeliveryLog,
    /** Where room, peer and call events go (webhooks); nowhere by default. */
    private readonly events: EventSink = NO_EVENTS,
    /** Counts the ICE restarts this service orchestrates, by outcome (metrics); nowhere by default. */
    private readonly countRestart: (outcome: IceRestartOutcome) => void = () => {},
  ) {}

  attach(transport: SignalTransport): void {
    this.transport = transport;
    this.presence.start({
      expire: (peerId) => this.expire(peerId),
      orphaned: (peerId, socketId, silentForMs) => this.orphaned(peerId, socketId, silentForMs),
      // Sessions and rooms are gone: the clients reconnect, their resume tokens are unknown, and
      // they join again (the SDK does so by itself) and negotiate anew.
      stateLost: async () => transport.reconnectLocalClients(),
    });
    this.tracker.setNotifier({
      requestRestart: (roomId, target, remote, attempt, maxAttempts) => {
        transport.toPeer(target, 'iceRestartRequired', { roomId, peerId: remote, attempt, maxAttempts });
        this.countRestart('requested');
        this.events.emit('ice.restart_requested', {
          roomId,
          peerId: target,
          remotePeerId: remote,
          attempt,
          maxAttempts,
        });
      },
      connectionFailed: (roomId, a, b) => {
        transport.toPeer(a, 'connectionFailed', { roomId, peerId: b, reason: 'ice-restart-exhausted' });
        transport.toPeer(b, 'connectionFailed', { roomId, peerId: a, reason: 'ice-restart-exhausted' });
        this.events.emit('call.failed', { roomId, peerIds: [a, b].sort(), reason: 'ice-restart-exhausted' });
        this.countRestart('exhausted');
      },
      restartRecovered: () => this.countRestart('recovered'),
      callConnected: (roomId, a, b, setupMs) =>
        this.events.emit('call.connected', {
          roomId,
          peerIds: [a, b].sort(),
          ...(setupMs === undefined ? {} : { setupMs }),
        }),
    });
  }

  private get io(): SignalTransport {
    if (!this.transport) throw new Error('SignalingService used before attach()');
    return this.transport;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Stops accepting joins (graceful shutdown). */
  startDraining(): void {
    this.draining = true;
  }

  /** Cancels timers and stops presence polling. Safe to call twice. */
  async close(): Promise<void> {
    await this.presence.close();
    this.tracker.close();
  }

  /**
   * Whether a relayed signal is decided in one store step that `relay()` issues before it returns
   * (with the delivery log, whose store sends `admitSignal` as one command when called, as the Redis
   * store does): then one socket's signals may be relayed without waiting for each other.
   */
  get relaysInOneStep(): boolean {
    return this.log !== undefined;
  }

  /** Pending ICE-restart timers (for leak tests and metrics). */
  get pendingRestartTimers(): number {
    return this.tracker.pendingTimers;
  }

  /** Number of dropped peers waiting for their resume window to pass. */
  get pendingResumes(): number {
    return this.presence.pendingExpiries;
  }

  /**
   * A socket connected. It is either a Socket.IO-recovered socket (its data still names its
   * peer), a fresh connection presenting a resume token, or a new peer. With authentication on, a
   * peer is only ever resumed by the user (`sub`) it was created for.
   */
  async connect(
    socket: PeerSocket,
    recovered: boolean,
    resumeToken: unknown,
    lastSeq?: number,
  ): Promise<void> {
    const userId = socket.data.user?.sub ?? null;
    if (recovered && socket.data.peerId) {
      const session = await this.sessions.get(socket.data.peerId);
      if (session && (session.userId ?? null) === userId) {
        await this.resume(socket, session.peerId, session.socketId);
        return;
      }
      // Socket.IO restored the socket but our session of it has expired (or the connection now
      // carries another user's token): the channels it restored belong to a peer that is gone or not
      // its own, and keeping them would let a new peer act in its rooms.
      for (const room of [...socket.rooms]) if (room !== socket.id) socket.leave(room);
      socket.data.peerId = undefined;
    }
    if (typeof resumeToken === 'string' && resumeToken.length > 0) {
      const session = await this.sessions.consumeToken(resumeToken, userId);
      if (session && this.log) {
        // Only the seq is trusted from the client, and only to choose what to send again.
        const from = lastSeq ?? session.droppedSeq ?? (await this.log.current(session.peerId));
        if ('gap' in (await this.log.since(session.peerId, from))) {
          // Some of what the peer missed is gone: its negotiations cannot go on where they were.
          // The others see it leave now, and its new self arrives as a stranger to negotiate with.
          await this.removePeer(session.peerId, 'disconnected');
          await this.createPeer(socket);
          socket.emit('resumeFailed', {
            error: {
              code: ErrorCode.RESUME_INCOMPLETE,
              message: `signals sent to peer ${session.peerId} after seq ${from} are no longer held; join again`,
            },
          });
          return;
        }
        await this.resume(socket, session.peerId, session.socketId, from);
        return;
      }
      if (session) {
        await this.resume(socket, session.peerId, session.socketId);
        return;
      }
      await this.createPeer(socket);
      socket.emit('resumeFailed', {
        error: {
          code: ErrorCode.RESUME_REJECTED,
          message: 'resume token is unknown, used or expired; join again',
        },
      });
      return;
    }
    await this.createPeer(socket);
  }

  private async createPeer(socket: PeerSocket): Promise<void> {
    const session = await this.sessions.create(socket.id, socket.data.user?.sub ?? null);
    socket.data.peerId = session.peerId;
    socket.join(peerChannel(session.peerId));
    await this.io.subscribed(peerChannel(session.peerId));
    await this.presence.online(session.peerId, socket.id);
    this.io.toPeer(session.peerId, 'session', { peerId: session.peerId });
  }

  /** `replayFrom`: with the delivery log, the seq after which the peer's signals are sent again. */
  private async resume(
    socket: PeerSocket,
    peerId: string,
    previousSocketId: string | null,
    replayFrom?: number,
  ): Promise<void> {
    await this.presence.cancelExpiry(peerId);
    socket.data.peerId = peerId;
    socket.join(peerChannel(peerId));
    // Before the peer is online and before its log is read: what is published from now on reaches it.
    await this.io.subscribed(peerChannel(peerId));
    await this.sessions.markOnline(peerId, socket.id);
    await this.presence.online(peerId, socket.id);
    // The old socket is still connected: a half-open one the server has not noticed yet (the usual
    // case: the client's network changed), or another client holding the resume token. Either way
    // this one replaces it, openly. Marked online first, so the old socket's disconnect finds the
    // session already moved and leaves the peer alone.
    if (previousSocketId !== null && previousSocketId !== socket.id)
      this.io.disconnectSocket(previousSocketId, {
        code: ErrorCode.SESSION_REPLACED,
        message: 'another connection resumed this peer with its resume token; this one is closed',
      });
    const user = socket.data.user;
    const rooms: { roomId: string; peers: PeerInfo[] }[] = [];
    for (const roomId of await this.rooms.roomsOf(peerId)) {
      // The connection's token may grant less than the one the peer joined with.
      if (user && !grantsRoom(user, roomId)) {
        await this.removeFromRoom(peerId, roomId, 'left');
        continue;
      }
      socket.join(roomChannel(roomId));
      rooms.push({ roomId, peers: (await this.rooms.peers(roomId)).filter((p) => p.peerId !== peerId) });
    }
    const resumeToken = await this.sessions.issueToken(peerId);
    // Through the channel, like `session`, so the socket has a fresh recovery offset.
    this.io.toPeer(peerId, 'resumed', { peerId, rooms, resumeToken });
    this.events.emit('peer.resumed', { peerId, roomIds: rooms.map((r) => r.roomId) });
    if (this.log && replayFrom !== undefined) {
      // Read after the socket joined its peer channel: whatever is logged later is also published
      // later, so it reaches this socket live. What is both replayed and live the client drops by
      // its seq, and it puts what arrives out of order back in order.
      const replay: Replay = await this.log.since(peerId, replayFrom);
      if ('entries' in replay)
        for (const { event, payload } of replay.entries)
          this.io.toPeer(peerId, event as never, payload as never);
      return;
    }
    // With the in-memory store nothing can interleave between markOnline and this drain, so held
    // signals go out before any newer one.
    for (const { signals } of await this.candidates.drain(peerId)) {
      for (const s of signals) this.io.toPeer(peerId, s.event, s.payload as never);
    }
  }

  /** A socket went away. A voluntary disconnect removes the peer; a drop starts its resume window. */
  async disconnect(socket: PeerSocket, reason: string): Promise<void> {
    const peerId = socket.data.peerId;
    if (!peerId) return;
    const session = await this.sessions.get(peerId);
    if (!session || session.socketId !== socket.id) return; // already replaced by a resumed socket
    if (VOLUNTARY.has(reason)) {
      await this.removePeer(peerId, 'disconnected');
      return;
    }
    const droppedSeq = this.log ? await this.log.current(peerId) : undefined;
    if (await this.sessions.markDropped(peerId, socket.id, droppedSeq)) {
      await this.presence.offline(peerId);
      await this.presence.scheduleExpiry(peerId, this.options.resumeWindowMs);
    }
  }

  /**
   * The instance holding the peer's socket died without telling anyone: the peer is dropped from
   * now on, unless it has already resumed elsewhere (its session then names another socket).
   */
  private async orphaned(peerId: string, socketId: string, silentForMs: number): Promise<void> {
    const droppedSeq = this.log ? await this.log.current(peerId) : undefined;
    // Only if the session still names the socket the dead instance held: a peer that has resumed
    // elsewhere meanwhile is connected, and left alone.
    if (await this.sessions.markDropped(peerId, socketId, droppedSeq))
      await this.presence.scheduleExpiry(peerId, Math.max(0, this.options.resumeWindowMs - silentForMs));
  }

  private async expire(peerId: string): Promise<void> {
    const session = await this.sessions.get(peerId);
    if (!session || session.socketId !== null) return;
    await this.removePeer(peerId, 'timeout');
  }

  async joinRoom(
    socket: PeerSocket,
    req: { roomId: string; displayName?: string; metadata?: Record<string, unknown> },
  ): Promise<Result<JoinRoomResponse>> {
    if (this.draining) return failure(ErrorCode.SERVER_SHUTTING_DOWN, 'server is shutting down; reconnect');
    const peerId = socket.data.peerId as string;
    const user = socket.data.user;
    if (user && !grantsRoom(user, req.roomId))
      return failure(ErrorCode.FORBIDDEN, `the token does not grant room ${req.roomId}`);
    // Each room a peer is in costs a room record, pair contexts and a channel: bounded per peer.
    if (!socket.rooms.has(roomChannel(req.roomId))) {
      const mine = await this.rooms.roomsOf(peerId);
      if (mine.length >= this.options.maxRoomsPerPeer && !mine.includes(req.roomId))
        return failure(
          ErrorCode.TOO_MANY_ROOMS,
          `already in ${mine.length} rooms (the most is ${this.options.maxRoomsPerPeer}); leave one first`,
        );
    }
    const info: PeerInfo = {
      peerId,
      ...(user ? { userId: user.sub } : {}),
      displayName: req.displayName ?? user?.name ?? `peer-${peerId.slice(0, 6)}`,
      joinedAt: this.clock.now(),
      ...(req.metadata ? { metadata: req.metadata } : {}),
    };
    // Subscribed to the room's channel before the peer is listed in the room: whoever finds it there
    // afterwards (another instance's joiner, say) emits to a channel this instance hears.
    const wasIn = socket.rooms.has(roomChannel(req.roomId));
    socket.join(roomChannel(req.roomId));
    await this.io.subscribed(roomChannel(req.roomId));
    const result = await this.rooms.join(req.roomId, info);
    if (result === 'full') {
      if (!wasIn) socket.leave(roomChannel(req.roomId));
      return failure(ErrorCode.ROOM_FULL, `room ${req.roomId} is full`);
    }
    const peers = (await this.rooms.peers(req.roomId)).filter((p) => p.peerId !== peerId);
    if (result === 'added') {
      this.io.toRoom(req.roomId, peerId, 'peerJoined', { roomId: req.roomId, ...info });
      if (await this.rooms.markStarted(req.roomId, info.joinedAt))
        this.events.emit('room.started', { roomId: req.roomId });
      this.events.emit('peer.joined', {
        roomId: req.roomId,
        peerId,
        ...(info.userId ? { userId: info.userId } : {}),
        displayName: info.displayName,
      });
    }
    // TURN REST usernames name the user when there is one, so coturn's logs and quotas are per user.
    const ice = this.iceServers.getIceServers(user?.sub ?? peerId);
    const resumeToken = await this.sessions.issueToken(peerId);
    return {
      ok: true,
      peerId,
      roomId: req.roomId,
      peers,
      iceServers: ice.iceServers,
      iceServersExpiresAt: ice.expiresAt,
      resumeToken,
    };
  }

  /**
   * Gives the connection a refreshed token's user (the same `sub`): its grant and default name apply
   * from now on, and the peer leaves every room the new grant no longer covers (the others see
   * `peerLeft { reason: 'left' }`), as if it had sent `leaveRoom`. Returns those rooms.
   */
  async updateUser(socket: PeerSocket, user: AuthenticatedUser): Promise<string[]> {
    socket.data.user = user;
    const peerId = socket.data.peerId as string;
    const revoked: string[] = [];
    for (const roomId of await this.rooms.roomsOf(peerId)) {
      if (grantsRoom(user, roomId)) continue;
      await this.removeFromRoom(peerId, roomId, 'left');
      revoked.push(roomId);
    }
    return revoked;
  }

  async leaveRoom(socket: PeerSocket, req: { roomId: string }): Promise<Result> {
    const peerId = socket.data.peerId as string;
    if (!(await this.rooms.isMember(req.roomId, peerId))) {
      return failure(ErrorCode.NOT_IN_ROOM, `not in room ${req.roomId}`);
    }
    await this.removeFromRoom(peerId, req.roomId, 'left');
    return { ok: true };
  }

  private async removeFromRoom(peerId: string, roomId: string, reason: PeerLeftReason) {
    if (!(await this.rooms.leave(roomId, peerId))) return;
    const others = await this.rooms.peerIds(roomId);
    for (const other of others) {
      await this.stateMachine.forgetPair(peerId, other);
      await this.candidates.forgetPair(peerId, other);
    }
    await this.tracker.forgetPeer(roomId, peerId, others);
    this.io.leaveChannel(peerId, roomId);
    this.io.toRoom(roomId, peerId, 'peerLeft', { roomId, peerId, reason });
    this.events.emit('peer.left', { roomId, peerId, reason });
    if (others.length === 0 && (await this.rooms.markFinishedIfEmpty(roomId)))
      this.events.emit('room.finished', { roomId });
  }

  /** Removes every trace of a peer: rooms, pair contexts, held signals, session and token. */
  async removePeer(peerId: string, reason: PeerLeftReason): Promise<void> {
    await this.presence.cancelExpiry(peerId);
    await this.presence.offline(peerId);
    for (const roomId of await this.rooms.roomsOf(peerId)) await this.removeFromRoom(peerId, roomId, reason);
    await this.candidates.discardHeldFor(peerId);
    await this.log?.forget(peerId);
    await this.sessions.remove(peerId);
  }

  // ---- operator actions (admin API); each works on any instance for peers on any instance ----

  /**
   * Removes `peerId` (a member of `roomId`) for good: from every room (the others see
   * `peerLeft { reason: 'removed' }`), its session and resume token (it cannot resume), then its
   * socket is told `disconnectReason { code: 'REMOVED' }` and disconnected. False when it is not in
   * the room.
   */
  async removeByOperator(roomId: string, peerId: string): Promise<boolean> {
    if (!(await this.rooms.isMember(roomId, peerId))) return false;
    const session = await this.sessions.get(peerId);
    // Gone from the store first: the disconnect that follows then finds nothing left to drop.
    await this.removePeer(peerId, 'removed');
    if (session?.socketId)
      this.io.disconnectSocket(session.socketId, {
        code: ErrorCode.REMOVED,
        message: 'an operator removed this peer',
      });
    return true;
  }

  /**
   * Closes `roomId` for everyone: each member is told `roomClosed` and taken out of it (the others
   * still in it see `peerLeft { reason: 'removed' }` as each goes). Returns how many were in it.
   */
  async closeRoom(roomId: string): Promise<number> {
    const members = await this.rooms.peerIds(roomId);
    this.io.toRoom(roomId, '', 'roomClosed', { roomId });
    for (const peerId of members) await this.removeFromRoom(peerId, roomId, 'removed');
    return members.length;
  }

  /**
   * Sends `serverMessage` with `payload` to the room, or to one of its peers. False when the room
   * has no peers or `to` is not one of them.
   */
  async messageRoom(roomId: string, payload: unknown, to?: string): Promise<boolean> {
    if (to !== undefined) {
      if (!(await this.rooms.isMember(roomId, to))) return false;
      this.io.toPeer(to, 'serverMessage', { roomId, payload, to });
      return true;
    }
    if ((await this.rooms.createdAt(roomId)) === undefined) return false;
    this.io.toRoom(roomId, '', 'serverMessage', { roomId, payload });
    return true;
  }

  /**
   * Why the peer on `socket` may not address `to` in `roomId` (both must have joined it), or
   * undefined when it may. The sender's own membership is read from its socket: it is in the room's
   * channel exactly while it is in the room (joined with it, left with it, restored with it).
   */
  private refusePair(socket: PeerSocket, roomId: string, to: string): Awaitable<Failure | undefined> {
    if (!socket.rooms.has(roomChannel(roomId)))
      return failure(ErrorCode.NOT_IN_ROOM, `not in room ${roomId}`);
    if (to === socket.data.peerId) return peerNotFound(to, roomId);
    return after(this.rooms.isMember(roomId, to), (member) =>
      member ? undefined : peerNotFound(to, roomId),
    );
  }

  /**
   * Relays an offer, answer or candidate to one peer of a room both are in. With the in-memory store
   * the whole decision runs synchronously (see `Awaitable`): this is the server's hot path.
   */
  relay(socket: PeerSocket, kind: SignalKind, req: SignalDto): Awaitable<Result<SignalResponse>> {
    if (this.log) return this.relayLogged(socket, kind, req, this.log);
    const to = req.to;
    return after(this.refusePair(socket, req.roomId, to), (refused) => {
      if (refused) return refused;
      return after(this.sessions.isOnline(to), (online) => {
        if (online) return this.admit(socket, kind, req, true);
        const from = socket.data.peerId as string;
        // Refuse before admitting, so a refused signal leaves no trace and its retry is judged afresh.
        return after(this.candidates.hasRoom(from, to), (room) =>
          room
            ? this.admit(socket, kind, req, false)
            : failure(ErrorCode.BUFFER_FULL, `peer ${to} is reconnecting and its buffer is full`),
        );
      });
    });
  }

  /**
   * The relay with the delivery log: the receiver's membership, its session, the message id, the
   * sequence, the candidates' de-duplication and the log append are decided in one store step (one
   * round trip on Redis), in the order the relay without a log checks them. A receiver that dropped
   * is sent nothing until its log holds `maxEntries` signals since its drop: more would push out one
   * it has not had. The signal is published also when the receiver is away: a resume that races the
   * append either reads it from the log or, having joined the peer channel first, receives the
   * publish. Acknowledged only once it is in the log.
   */
  private relayLogged(
    socket: PeerSocket,
    kind: SignalKind,
    req: SignalDto,
    log: DeliveryLog,
  ): Awaitable<Result<SignalResponse>> {
    const { roomId, to, messageId, sequence } = req;
    if (!socket.rooms.has(roomChannel(roomId)))
      return failure(ErrorCode.NOT_IN_ROOM, `not in room ${roomId}`);
    const from = socket.data.peerId as string;
    if (to === from) return peerNotFound(to, roomId);
    const payload: HeldSignal['payload'] = { roomId, from };
    let candidates: (IceCandidateInit | null)[] | undefined;
    if (kind === 'iceCandidates') candidates = req.candidates ?? [];
    else if (kind === 'iceCandidate') payload.candidate = req.candidate ?? null;
    else payload.sdp = req.sdp;
    if (sequence !== undefined) payload.sequence = sequence;
    if (messageId !== undefined) payload.messageId = messageId;
    const step: SignalStep = {
      receiver: { roomKey: this.rooms.membersKey(roomId), peerId: to, sessionKey: this.sessions.keyOf(to) },
      ...this.stateMachine.stepOf(from, to, kind, messageId, sequence),
      ...(kind === 'iceCandidates' || kind === 'iceCandidate'
        ? { candidates: this.candidates.stepOf(from, to, candidates ?? [req.candidate ?? null]) }
        : {}),
      log: { ...log.target(to), ...logEntry(kind, payload, candidates) },
    };
    const publication = this.io.publication?.(to, kind);
    if (publication) step.publish = { ...publication, from: payloadIndex(kind) };
    return after(this.stateMachine.decide(step), (decided) => {
      switch (decided.verdict) {
        case 'not-member':
          return peerNotFound(to, roomId);
        case 'buffer-full':
          return failure(ErrorCode.BUFFER_FULL, `peer ${to} is reconnecting and its buffer is full`);
        case 'duplicate':
          return DUPLICATE;
        case 'stale':
          return failure(
            ErrorCode.STALE_SEQUENCE,
            `sequence ${sequence} is not above ${decided.last} for this direction`,
          );
        case 'accepted':
          if (candidates) payload.candidates = candidates.filter((_, i) => decided.fresh[i]);
          if (kind === 'offer' && this.events !== NO_EVENTS)
            void this.tracker.noteOffer(roomId, from, to).catch(() => undefined);
          if (publication) this.io.toPeerPublished(to, kind, { ...payload, seq: decided.seq } as never);
          else this.io.toPeer(to, kind, { ...payload, seq: decided.seq } as never);
          return decided.online ? OK : QUEUED;
      }
    });
  }

  /** Idempotency, sequencing and candidate de-duplication, then delivery or holding. */
  private admit(
    socket: PeerSocket,
    kind: SignalKind,
    req: SignalDto,
    online: boolean,
  ): Awaitable<Result<SignalResponse>> {
    const from = socket.data.peerId as string;
    const { roomId, to, messageId, sequence } = req;
    return after(this.stateMachine.admit(from, to, kind, messageId, sequence), (verdict) => {
      if (verdict === 'duplicate') return DUPLICATE;
      if (verdict === 'stale') {
        return after(this.stateMachine.lastSequence(from, to), (last) =>
          failure(ErrorCode.STALE_SEQUENCE, `sequence ${sequence} is not above ${last} for this direction`),
        );
      }
      if (kind === 'iceCandidates') return this.admitBatch(from, to, req, online);
      if (kind !== 'iceCandidate')
        return this.deliver(from, to, kind, { roomId, from, sdp: req.sdp }, req, online);
      const candidate = req.candidate ?? null;
      return after(this.candidates.isFirstSighting(from, to, candidate), (first) =>
        first ? this.deliver(from, to, kind, { roomId, from, candidate }, req, online) : DUPLICATE,
      );
    });
  }

  /**
   * A batch: each candidate is de-duplicated on its own (one already relayed, singly or in an earlier
   * batch, is left out), and what is new goes on as one `iceCandidates` message; a batch with
   * nothing new is a duplicate.
   */
  private admitBatch(
    from: string,
    to: string,
    req: SignalDto,
    online: boolean,
  ): Awaitable<Result<SignalResponse>> {
    const all = req.candidates ?? [];
    return after(this.candidates.firstSightings(from, to, all), (first) => {
      const fresh = all.filter((_, i) => first[i]);
      if (fresh.length === 0) return DUPLICATE;
      return this.deliver(
        from,
        to,
        'iceCandidates',
        { roomId: req.roomId, from, candidates: fresh },
        req,
        online,
      );
    });
  }

  private deliver(
    from: string,
    to: string,
    kind: SignalKind,
    payload: HeldSignal['payload'],
    req: SignalDto,
    online: boolean,
  ): Awaitable<Result<SignalResponse>> {
    if (req.sequence !== undefined) payload.sequence = req.sequence;
    if (req.messageId !== undefined) payload.messageId = req.messageId;
    // Call setup time is measured from the first offer (only when someone listens: not on the
    // relay's hot path otherwise).
    if (kind === 'offer' && this.events !== NO_EVENTS)
      void this.tracker.noteOffer(req.roomId, from, to).catch(() => undefined);
    if (online) {
      this.io.toPeer(to, kind, payload as never);
      return OK;
    }
    // hasRoom() above and the per-socket ordering make this succeed on a single node.
    return after(this.candidates.hold(from, to, { event: kind, payload }), () => QUEUED);
  }

  /** Why `socket`'s peer may not report on its link to `peerId` in `roomId`, or undefined when it may. */
  async refuseReport(socket: PeerSocket, roomId: string, peerId: string): Promise<Failure | undefined> {
    return this.refusePair(socket, roomId, peerId);
  }

  /** Records the sender's view of its link to `peerId`; may lead to ICE restart requests. */
  async reportConnectionState(socket: PeerSocket, req: ConnectionStateReport): Promise<Result> {
    const from = socket.data.peerId as string;
    const refused = await this.refusePair(socket, req.roomId, req.peerId);
    if (refused) return refused;
    await this.tracker.report(req.roomId, from, req.peerId, req.connectionState, req.iceConnectionState);
    return { ok: true };
  }
}
