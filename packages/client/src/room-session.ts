import {
  type CallQualityReport,
  type ClientConfigResponse,
  type ConnectionStateReport,
  type DisconnectReasonEvent,
  type IceCandidateInit,
  type IceCandidateMessage,
  type IceCandidatesMessage,
  type IceServer,
  type PeerInfo,
  type ResumedEvent,
  type SdpSignalMessage,
  type ServerMessageEvent,
  ErrorCode,
  NAMESPACE,
} from '@switchboard/protocol';
import { AccessToken } from './access-token.js';
import { CandidateBatcher, MAX_CANDIDATES_PER_BATCH } from './candidate-batcher.js';
import { ConnectionState } from './connection-state.js';
import { FALLBACK_SERVER_CONFIG, LIMITS } from './defaults.js';
import { SwitchboardError } from './errors.js';
import { fetchJson } from './http.js';
import type { Logger } from './logger.js';
import { DefaultReconnectPolicy, type ReconnectPolicy } from './reconnect-policy.js';
import { type SessionOutcome, type SignalEvent, SignalChannel } from './signal-channel.js';
import type { JoinResult, PeerLeaveReason, RemotePeer, SwitchboardEvents } from './types.js';

export interface RoomSessionOptions {
  /** Server origin, without a trailing slash. */
  url: string;
  room: string;
  displayName?: string;
  metadata?: Record<string, unknown>;
  ackTimeoutMs: number;
  maxSendAttempts: number;
  connectTimeoutMs: number;
  resumeTimeoutMs: number;
  /** Candidates to one peer gathered within this window go as one `iceCandidates` batch; 0: one by one. */
  candidateBatchWindowMs: number;
  /** The app's policy; default: built from the server's `GET /webrtc/config`. */
  reconnectPolicy?: ReconnectPolicy;
  token?: string;
  getToken?: () => Promise<string>;
  logger: Logger;
}

/** What the session tells its owner (the facade), in the order things happen. */
export interface RoomSessionHooks {
  onStateChange(state: ConnectionState, previous: ConnectionState): void;
  /** Joined the room (first join, or a rejoin under a new id after `onReconnected`'s `via: 'rejoin'`). */
  onJoined(result: JoinResult): void;
  /** Signaling is back (see the `reconnected` event); with `resumed`, links may go on where they waited. */
  onReconnected(event: SwitchboardEvents['reconnected']): void;
  onReconnecting(info: SwitchboardEvents['reconnecting']): void;
  /** A peer is in the room; `initiator`: this side makes the first offer (it is the newcomer). */
  onPeerJoined(peer: RemotePeer, initiator: boolean): void;
  onPeerLeft(peerId: string, reason: PeerLeaveReason): void;
  /** A relayed offer or answer, once, in order, from a peer of the room. */
  onDescription(peerId: string, type: 'offer' | 'answer', sdp: string): void;
  /** A relayed ICE candidate (`null`: end of candidates). */
  onCandidate(peerId: string, candidate: RTCIceCandidateInit | null): void;
  onIceRestartRequired(peerId: string, attempt?: number): void;
  /** The server gave up restarting ICE for the link to `peerId`. */
  onConnectionFailed(peerId: string, reason: string): void;
  onServerMessage(event: SwitchboardEvents['serverMessage']): void;
  /** STUN/TURN servers from the join ack. */
  onIceServers(servers: IceServer[], expiresAt: number): void;
  onError(error: SwitchboardError): void;
  /** The session is closing (by `close()` or for good by the server): close every link now. */
  onClosing(): void;
  onClosed(reason: string): void;
}

/**
 * One client's membership of one room, over one {@link SignalChannel}: the connection lifecycle
 * (fresh join, Socket.IO recovery, resume by token, rejoin under a new id when the server forgot
 * us, reconciling the peer list after a resume), the access token's renewal, the signal envelope
 * (per-peer `sequence`, unique `messageId`, incoming duplicates dropped) and the room's events.
 * It knows the room's members but no peer connection: those are the owner's, told through
 * {@link RoomSessionHooks}.
 */
export class RoomSession {
  private currentState: ConnectionState = ConnectionState.Idle;
  private channel: SignalChannel | null = null;
  private config: ClientConfigResponse | null = null;
  private policy: ReconnectPolicy | null = null;
  private selfId: string | null = null;
  /** The room's other peers as the server announced them. */
  private readonly members = new Map<string, RemotePeer>();
  private readonly sequences = new Map<string, number>();
  private readonly seenMessageIds = new Map<string, Set<string>>();
  private readonly instanceId = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  private messageCounter = 0;
  private joinGeneration = 0;
  private pendingConnect: { resolve: (r: JoinResult) => void; reject: (e: unknown) => void } | null = null;
  private connectPromise: Promise<JoinResult> | null = null;
  private closePromise: Promise<void> | null = null;
  /** The access token every handshake presents, and its renewal. */
  readonly token: AccessToken;
  /** Outgoing candidates per peer, coalesced into batches before they get their envelope. */
  private readonly candidates: CandidateBatcher<IceCandidateInit | null>;

  constructor(
    private readonly options: RoomSessionOptions,
    private readonly hooks: RoomSessionHooks,
  ) {
    const inactive: ConnectionState[] = [
      ConnectionState.Idle,
      ConnectionState.Disconnected,
      ConnectionState.Closed,
    ];
    this.token = new AccessToken({
      token: options.token,
      getToken: options.getToken,
      logger: options.logger,
      active: () => !inactive.includes(this.currentState),
      open: () => this.currentState !== ConnectionState.Closed,
      refreshDue: () => void this.refreshToken(),
    });
    this.candidates = new CandidateBatcher({
      windowMs: options.candidateBatchWindowMs,
      maxBatch: MAX_CANDIDATES_PER_BATCH,
      // Chromium ends gathering with `null`, Firefox with an empty candidate (its ufrag names the round).
      isEnd: (candidate) => candidate === null || candidate.candidate === '',
      // A lone candidate goes as the single event: same size, and the one every server and SDK knows.
      send: (to, batch) =>
        batch.length === 1
          ? this.send('iceCandidate', to, { candidate: batch[0] ?? null })
          : this.send('iceCandidates', to, { candidates: batch }),
    });
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Our peer id in the room, once joined. */
  get peerId(): string | null {
    return this.selfId;
  }

  /** True while signals reach the server. */
  get signalingUp(): boolean {
    return this.channel?.isReady === true;
  }

  /** The other peers of the room. */
  get peers(): ReadonlyMap<string, RemotePeer> {
    return this.members;
  }

  /**
   * Fetches the server's settings, connects and joins the room. Resolves once joined; rejects
   * when the server refuses the join or the reconnect policy gives up. Calling it while
   * connecting or connected returns the same result.
   */
  connect(): Promise<JoinResult> {
    if (this.currentState === ConnectionState.Closed) return Promise.reject(SwitchboardError.closed());
    if (this.connectPromise) return this.connectPromise;
    this.connectPromise = new Promise<JoinResult>((resolve, reject) => {
      this.pendingConnect = { resolve, reject };
    });
    this.connectPromise.catch(() => undefined); // the caller may not await it; errors are also events
    this.setState(ConnectionState.Connecting);
    this.token.resetRefusals();
    this.token.warnIfNotRenewable();
    this.token.schedule();
    void this.start();
    return this.connectPromise;
  }

  /** Leaves the room (when `leave` and joined), closes the channel; safe twice. */
  close(reason: string, leave: boolean): Promise<void> {
    this.closePromise ??= this.shutdown(reason, leave);
    return this.closePromise;
  }

  /**
   * Sends a signal to a peer. Candidates wait up to `candidateBatchWindowMs` to travel in a batch;
   * an offer or answer first sends the candidates waiting for that peer, so that every signal keeps
   * the order it was made in (a candidate of an old ICE generation stays before a restart's offer,
   * one gathered after an offer stays after it). Delivery failures surface as `onError`.
   */
  signal(event: 'offer' | 'answer', to: string, body: { sdp: string }): void;
  signal(event: 'iceCandidate', to: string, body: { candidate: IceCandidateInit | null }): void;
  signal(
    event: 'offer' | 'answer' | 'iceCandidate',
    to: string,
    body: { sdp: string } | { candidate: IceCandidateInit | null },
  ): void {
    if (!this.channel || this.currentState === ConnectionState.Closed) return;
    if ('candidate' in body) {
      this.candidates.add(to, body.candidate);
      return;
    }
    this.candidates.flush(to);
    this.send(event, to, body);
  }

  /**
   * Hands a signal to the channel in the envelope the server orders and de-duplicates by: the pair's
   * next `sequence` and a `messageId` unique to this client.
   */
  private send(
    event: SignalEvent,
    to: string,
    body:
      { sdp: string } | { candidate: IceCandidateInit | null } | { candidates: (IceCandidateInit | null)[] },
  ): void {
    const channel = this.channel;
    if (!channel || this.currentState === ConnectionState.Closed) return;
    const sequence = (this.sequences.get(to) ?? 0) + 1;
    this.sequences.set(to, sequence);
    const messageId = `${this.instanceId}-${++this.messageCounter}`;
    const payload = { roomId: this.options.room, to, sequence, messageId, ...body };
    channel.send(event, payload as Parameters<SignalChannel['send']>[1]).catch(() => undefined);
  }

  /**
   * Sends a fire-and-forget report (`connectionState`, `callQuality`) on the live connection, once.
   * Not connected, refused or unanswered: logged at debug level and dropped; a report never
   * disturbs a call.
   */
  report(event: 'connectionState', payload: ConnectionStateReport): void;
  report(event: 'callQuality', payload: CallQualityReport): void;
  report(event: 'connectionState' | 'callQuality', payload: ConnectionStateReport | CallQualityReport): void {
    const channel = this.channel;
    if (!channel?.isReady || !this.selfId) return;
    const sent =
      event === 'connectionState'
        ? channel.request(event, payload as ConnectionStateReport, 1)
        : channel.request(event, payload as CallQualityReport, 1);
    sent
      .then((result) => {
        if (!result.ok) this.options.logger.debug(`${event} report refused: ${result.error.code}`);
      })
      .catch((error: unknown) => this.options.logger.debug(`${event} report not acknowledged`, error));
  }

  // ---- connection ----

  private async start(): Promise<void> {
    if (!this.config) {
      try {
        this.config = {
          ...FALLBACK_SERVER_CONFIG,
          ...(await fetchJson<ClientConfigResponse>(`${this.options.url}/webrtc/config`)),
        };
      } catch (error) {
        this.options.logger.warn('GET /webrtc/config failed; using default settings', error);
        this.config = FALLBACK_SERVER_CONFIG;
      }
    }
    if (this.currentState === ConnectionState.Closed) return;
    const config = this.config;
    this.policy = this.options.reconnectPolicy ?? DefaultReconnectPolicy.fromServerConfig(config);
    this.channel ??= this.createChannel(config);
    this.channel.open();
  }

  private createChannel(config: ClientConfigResponse): SignalChannel {
    const { logger } = this.options;
    const channel = new SignalChannel(
      {
        url: this.options.url,
        namespace: config.namespace || NAMESPACE,
        ackTimeoutMs: this.options.ackTimeoutMs,
        maxSendAttempts: this.options.maxSendAttempts,
        connectTimeoutMs: this.options.connectTimeoutMs,
        resumeTimeoutMs: this.options.resumeTimeoutMs,
        reconnectPolicy: () => this.policy ?? new DefaultReconnectPolicy(),
        resumeWindowMs: config.resumeWindowMs,
        signalRate: config.signalRate,
        authToken: this.token.present ? () => this.token.forHandshake() : undefined,
        logger,
      },
      {
        onReady: (outcome) => this.onSessionReady(outcome),
        onLost: (reason) => {
          if (this.currentState === ConnectionState.Connected) this.setState(ConnectionState.Reconnecting);
          logger.info(`signaling lost (${reason}); calls stay up while reconnecting`);
        },
        onRetryScheduled: (info) => {
          if (this.currentState === ConnectionState.Reconnecting) this.hooks.onReconnecting(info);
        },
        onGiveUp: (reason) => this.fail(SwitchboardError.signalingUnavailable(reason)),
        onResumedLater: (event) => this.reconcile(event),
        onSignalFailed: (error, to) => {
          if (error.code === ErrorCode.PEER_NOT_FOUND || error.code === ErrorCode.NOT_IN_ROOM) {
            logger.debug(`signal to ${to} dropped: ${error.message}`);
            return;
          }
          this.hooks.onError(error);
        },
        onUnauthorized: (cause) => {
          const error = this.token.refusedAtHandshake(cause);
          if (error) this.fail(error);
          return error === null;
        },
      },
    );
    const room = this.options.room;
    channel.onRoomEvent('disconnectReason', (event) => this.onDisconnectReason(event));
    channel.onRoomEvent('roomClosed', (event) => {
      if (event.roomId === room && this.currentState !== ConnectionState.Closed)
        void this.closeFor(SwitchboardError.removed('ROOM_CLOSED', `room ${event.roomId}`));
    });
    channel.onRoomEvent('serverMessage', (event: ServerMessageEvent) => {
      if (event.roomId !== room) return;
      this.hooks.onServerMessage({ payload: event.payload, ...(event.to ? { to: event.to } : {}) });
    });
    channel.onRoomEvent('peerJoined', (event) => {
      if (event.roomId === room && event.peerId !== this.selfId) this.addMember(event, false);
    });
    channel.onRoomEvent('peerLeft', (event) => {
      if (event.roomId === room) this.removeMember(event.peerId, event.reason);
    });
    channel.onRoomEvent('iceRestartRequired', (event) => {
      if (event.roomId === room && this.members.has(event.peerId))
        this.hooks.onIceRestartRequired(event.peerId, event.attempt);
    });
    channel.onRoomEvent('connectionFailed', (event) => {
      if (event.roomId === room) this.hooks.onConnectionFailed(event.peerId, event.reason);
    });
    channel.onSignal('offer', (message) => this.onDescription('offer', message));
    channel.onSignal('answer', (message) => this.onDescription('answer', message));
    channel.onSignal('iceCandidate', (message) => this.onCandidate(message));
    channel.onSignal('iceCandidates', (message) => this.onCandidates(message));
    return channel;
  }

  // ---- lifecycle ----

  private onSessionReady(outcome: SessionOutcome): void {
    if (this.currentState === ConnectionState.Closed) return;
    this.token.resetRefusals();
    switch (outcome.kind) {
      case 'fresh':
        void this.join();
        return;
      case 'recovered':
        this.sessionKept(null, 'recovery');
        return;
      case 'resumed':
        this.sessionKept(outcome.event, 'token');
        return;
      case 'resume-failed':
        this.options.logger.info(`resume refused (${outcome.error.code}); rejoining the room`);
        this.rejoin();
        return;
      default: {
        const unknown: never = outcome;
        this.options.logger.error('unknown session outcome', unknown);
      }
    }
  }

  private sessionKept(event: ResumedEvent | null, via: 'recovery' | 'token'): void {
    if (this.selfId === null) {
      // Lost before the join completed: nothing to keep.
      void this.join();
      return;
    }
    if (event && !this.reconcile(event)) return;
    this.setState(ConnectionState.Connected);
    this.hooks.onReconnected({ peerId: this.selfId, resumed: true, previousPeerId: this.selfId, via });
  }

  /** Aligns the members with the room as the server knows it after a resume. False when a rejoin was started. */
  private reconcile(event: ResumedEvent): boolean {
    if (event.peerId !== this.selfId) {
      this.options.logger.warn(`resumed as ${event.peerId} instead of ${this.selfId}; rejoining`);
      this.rejoin();
      return false;
    }
    const room = event.rooms.find((r) => r.roomId === this.options.room);
    if (!room) {
      this.options.logger.warn(`no longer in room ${this.options.room} after resuming; rejoining`);
      this.rejoin();
      return false;
    }
    const present = new Set(room.peers.map((p) => p.peerId));
    for (const peerId of [...this.members.keys()])
      if (!present.has(peerId)) this.removeMember(peerId, 'timeout');
    // Peers that joined while we were away offer to us (their offers were held for us).
    for (const peer of room.peers) if (peer.peerId !== this.selfId) this.addMember(peer, false);
    return true;
  }

  private rejoin(): void {
    const previous = this.selfId;
    for (const peerId of [...this.members.keys()]) this.removeMember(peerId, 'rejoined');
    this.candidates.dropAll();
    this.channel?.clearOutbox();
    this.sequences.clear();
    this.seenMessageIds.clear();
    this.selfId = null;
    void this.join(previous);
  }

  private async join(previousPeerId: string | null = null): Promise<void> {
    const channel = this.channel;
    if (!channel) return;
    const generation = ++this.joinGeneration;
    let result;
    try {
      result = await channel.request('joinRoom', {
        roomId: this.options.room,
        displayName: this.options.displayName,
        metadata: this.options.metadata as Record<string, never> | undefined,
      });
    } catch (error) {
      if (generation !== this.joinGeneration || !channel.isConnected) return; // the next connection joins
      this.options.logger.warn('joinRoom was not acknowledged; reconnecting', error);
      channel.dropConnection();
      return;
    }
    if (generation !== this.joinGeneration || this.currentState === ConnectionState.Closed) return;
    if (!result.ok) {
      const { code, message } = result.error;
      if (code === ErrorCode.RATE_LIMITED) {
        // Joined or left too often in a short time: join again once the server allows it.
        const wait = result.error.retryAfterMs ?? 1000;
        this.options.logger.warn(`joinRoom refused (${code}); retrying in ${wait} ms`);
        setTimeout(() => {
          if (generation === this.joinGeneration && this.channel === channel && channel.isReady)
            void this.join(previousPeerId);
        }, wait);
        return;
      }
      if (code === ErrorCode.SERVER_SHUTTING_DOWN || code === ErrorCode.INTERNAL) {
        this.options.logger.warn(`joinRoom refused (${code}); retrying later`);
        channel.dropConnection();
        return;
      }
      const error = SwitchboardError.joinRejected(this.options.room, code, message);
      this.hooks.onError(error);
      this.channel = null;
      channel.close();
      this.setState(ConnectionState.Disconnected);
      this.settleConnect(error);
      return;
    }
    this.selfId = result.peerId;
    channel.setResumeToken(result.resumeToken);
    this.hooks.onIceServers(result.iceServers, result.iceServersExpiresAt);
    this.setState(ConnectionState.Connected);
    const joined: JoinResult = {
      peerId: result.peerId,
      roomId: result.roomId,
      peers: result.peers.map(toRemotePeer),
    };
    this.hooks.onJoined(joined);
    if (previousPeerId !== null) {
      this.hooks.onReconnected({ peerId: result.peerId, resumed: false, previousPeerId, via: 'rejoin' });
    }
    // The newcomer offers to everyone already here; they wait for its offer (see the glare notes).
    for (const peer of result.peers) this.addMember(peer, true);
    this.settleConnect(null, joined);
  }

  /**
   * Connecting stopped for good (the policy gave up, the join or the token was refused): the client
   * is `disconnected`; `connect()` may start again.
   */
  private fail(error: SwitchboardError): void {
    this.token.stop();
    this.setState(ConnectionState.Disconnected);
    this.connectPromise = null;
    this.hooks.onError(error);
    this.settleConnect(error);
  }

  private settleConnect(error: unknown, result?: JoinResult): void {
    const pending = this.pendingConnect;
    this.pendingConnect = null;
    if (error) this.connectPromise = null;
    if (!pending) return;
    if (error) pending.reject(error);
    else if (result) pending.resolve(result);
  }

  /** The server ended the session for good: `error`, then closed without `leaveRoom`. */
  private closeFor(error: SwitchboardError): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.hooks.onError(error);
    // The server has already let go of this connection (and, when the session was replaced, the
    // room membership belongs to the new connection).
    this.closePromise = this.shutdown(error.message, false);
    this.settleConnect(error);
    return this.closePromise;
  }

  private async shutdown(reason: string, leave: boolean): Promise<void> {
    const channel = this.channel;
    const wasJoined = leave && channel?.isReady === true && this.selfId !== null;
    this.setState(ConnectionState.Closed);
    this.joinGeneration += 1;
    this.token.stop();
    this.hooks.onClosing();
    this.candidates.close();
    this.members.clear();
    this.settleConnect(SwitchboardError.closed());
    if (channel && wasJoined) {
      await Promise.race([
        channel.request('leaveRoom', { roomId: this.options.room }, 1).catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, LIMITS.leaveTimeoutMs)),
      ]);
    }
    channel?.close();
    this.channel = null;
    this.hooks.onClosed(reason);
  }

  private setState(state: ConnectionState): void {
    const previous = this.currentState;
    if (previous === state || previous === ConnectionState.Closed) return;
    this.currentState = state;
    this.options.logger.debug(`state ${previous} -> ${state}`);
    this.hooks.onStateChange(state, previous);
  }

  // ---- access token ----

  /** Gets a new token and hands it to the server on the live connection (`refreshToken`). */
  private async refreshToken(): Promise<void> {
    let token: string;
    try {
      token = await this.token.fetch(); // schedules the next refresh
    } catch (error) {
      this.options.logger.warn('getToken() failed; trying again shortly', error);
      this.token.retrySoon();
      return;
    }
    const channel = this.channel;
    // Not connected: the next handshake presents the new token.
    if (!channel?.isReady || this.currentState === ConnectionState.Closed) return;
    let result;
    try {
      result = await channel.request('refreshToken', { token }, 1);
    } catch (error) {
      if (!channel.isConnected) return;
      this.options.logger.warn('refreshToken was not acknowledged; trying again shortly', error);
      this.token.retrySoon();
      return;
    }
    if (this.closePromise) return; // closed while waiting
    if (result.ok && result.leftRooms?.includes(this.options.room)) {
      // The new token's grant no longer covers this room: the server has taken us out of it.
      this.leaveRoomForGood(
        SwitchboardError.unauthorized(
          ErrorCode.FORBIDDEN,
          `the renewed token does not grant room "${this.options.room}"; the server removed this client from it`,
        ),
      );
      return;
    }
    if (result.ok) {
      this.options.logger.debug(
        `access token renewed; it expires at ${new Date(result.expiresAt).toISOString()}`,
      );
      // An opaque token: the server's answer is the only way to know its expiry.
      this.token.learnExpiry(token, result.expiresAt);
      return;
    }
    const { code, message } = result.error;
    if (code === ErrorCode.FORBIDDEN) {
      // A token of another user: asking again would give the same. The server ends the session at
      // the old token's expiry, and the reconnection then presents this token.
      this.hooks.onError(SwitchboardError.unauthorized(code, message));
      return;
    }
    this.options.logger.warn(`refreshToken refused (${code}: ${message}); trying again shortly`);
    if (code === ErrorCode.UNAUTHORIZED && this.token.isCurrent(token)) this.token.markStale();
    this.token.retrySoon(result.error.retryAfterMs);
  }

  /** The server no longer has us in the room (and will not take us back with this token): end the call. */
  private leaveRoomForGood(error: SwitchboardError): void {
    const channel = this.channel;
    for (const peerId of [...this.members.keys()]) this.removeMember(peerId, 'left');
    this.channel = null;
    this.selfId = null;
    channel?.close();
    this.fail(error);
  }

  /** The server says why it is about to disconnect us. */
  private onDisconnectReason(event: DisconnectReasonEvent): void {
    if (this.currentState === ConnectionState.Closed) return;
    switch (event.code) {
      case ErrorCode.SESSION_REPLACED:
        // Another tab or device resumed this session: reconnecting would take it back from them.
        void this.closeFor(SwitchboardError.sessionReplaced(event.message));
        return;
      case ErrorCode.REMOVED:
        // The peer is gone from the server for good: a reconnection would only make a stranger.
        void this.closeFor(SwitchboardError.removed('REMOVED', event.message));
        return;
      case ErrorCode.TOKEN_EXPIRED:
        if (this.token.renewable) {
          // The refresh did not arrive in time: reconnect with a new token (resuming the session, or
          // rejoining when the server let it go, as Switchboard's does on TOKEN_EXPIRED).
          this.token.markStale();
          return;
        }
        void this.closeFor(SwitchboardError.unauthorized(event.code, event.message));
        return;
      default:
        return; // e.g. RATE_LIMITED: the channel reconnects as after any loss
    }
  }

  // ---- members and incoming signals ----

  private addMember(peer: PeerInfo | RemotePeer, initiator: boolean): void {
    if (!this.selfId || this.members.has(peer.peerId) || this.currentState === ConnectionState.Closed) return;
    const info = toRemotePeer(peer);
    this.members.set(info.peerId, info);
    this.hooks.onPeerJoined(info, initiator);
  }

  private removeMember(peerId: string, reason: PeerLeaveReason): void {
    if (!this.members.delete(peerId)) return;
    this.candidates.drop(peerId);
    this.channel?.dropSignalsTo(peerId);
    // The sequence counter is kept: should the same id come back, a restarted counter could be
    // refused as STALE_SEQUENCE by a server that still remembers the pair. A rejoin clears them all.
    this.seenMessageIds.delete(peerId);
    this.hooks.onPeerLeft(peerId, reason);
  }

  private isDuplicate(from: string, messageId: string | undefined): boolean {
    if (!messageId) return false;
    let seen = this.seenMessageIds.get(from);
    if (!seen) {
      seen = new Set();
      this.seenMessageIds.set(from, seen);
    }
    if (seen.has(messageId)) return true;
    seen.add(messageId);
    if (seen.size > LIMITS.seenIdsPerPeer) seen.delete(seen.values().next().value as string);
    return false;
  }

  private onDescription(type: 'offer' | 'answer', message: SdpSignalMessage): void {
    if (message.roomId !== this.options.room || !this.selfId) return;
    if (this.isDuplicate(message.from, message.messageId)) return;
    if (!this.members.has(message.from)) {
      if (type !== 'offer') return;
      // An offer can overtake the `peerJoined` that announces its sender.
      this.addMember({ peerId: message.from, displayName: '', joinedAt: Date.now() }, false);
      if (!this.members.has(message.from)) return;
    }
    this.hooks.onDescription(message.from, type, message.sdp);
  }

  private onCandidate(message: IceCandidateMessage): void {
    this.acceptCandidates(message, [message.candidate]);
  }

  /** A batch: each candidate in order, exactly as the same candidates sent one by one would be. */
  private onCandidates(message: IceCandidatesMessage): void {
    this.acceptCandidates(message, message.candidates);
  }

  private acceptCandidates(
    message: IceCandidateMessage | IceCandidatesMessage,
    candidates: readonly (IceCandidateInit | null)[],
  ): void {
    if (message.roomId !== this.options.room || !this.selfId) return;
    if (this.isDuplicate(message.from, message.messageId)) return;
    if (!this.members.has(message.from)) return;
    for (const candidate of candidates) this.hooks.onCandidate(message.from, toBrowserCandidate(candidate));
  }
}

function toBrowserCandidate(candidate: IceCandidateInit | null): RTCIceCandidateInit | null {
  if (candidate === null) return null;
  return {
    candidate: candidate.candidate,
    sdpMid: candidate.sdpMid ?? null,
    sdpMLineIndex: candidate.sdpMLineIndex ?? null,
    usernameFragment: candidate.usernameFragment ?? null,
  };
}

function toRemotePeer(peer: PeerInfo | RemotePeer): RemotePeer {
  const info: RemotePeer = { peerId: peer.peerId, displayName: peer.displayName, joinedAt: peer.joinedAt };
  if (peer.userId !== undefined) info.userId = peer.userId;
  if (peer.metadata) info.metadata = peer.metadata;
  return info;
}
