import {
  type ClientConfigResponse,
  type IceCandidateInit,
  type IceServer,
  type IceServersResponse,
  type PeerInfo,
  type PeerLeftReason,
  type ResumedEvent,
  type DisconnectReasonEvent,
  type SdpSignalMessage,
  type IceCandidateMessage,
  ErrorCode,
  NAMESPACE,
  iceRestartSide,
  isPolite,
} from '@switchboard/protocol';
import { ConnectionState } from './connection-state.js';
import { TypedEmitter } from './typed-emitter.js';
import { SwitchboardError } from './errors.js';
import { type Logger, type LogLevel, createConsoleLogger } from './logger.js';
import { tokenExpiresAt, tokenRefreshDelayMs } from './auth-token.js';
import { type IceRestartReason, type PeerLinkDiagnostics, PeerLink } from './peer-link.js';
import { DefaultReconnectPolicy, type ReconnectPolicy } from './reconnect-policy.js';
import { type SessionOutcome, type SignalEvent, SignalChannel } from './signal-channel.js';

/** Options of {@link SwitchboardClient}. Only `room` is required. */
export interface SwitchboardClientOptions {
  /** Room to join: 1-64 of `[A-Za-z0-9_.:-]`, starting with a letter or digit. */
  room: string;
  /** Origin of the Switchboard server, e.g. `https://rtc.example.com`. Default: the page's `location.origin`. */
  url?: string;
  /** Name the other peers see (1-64 characters). Default: none (the server's default). */
  displayName?: string;
  /** Small JSON object the other peers receive with `peerJoined`. Default: none. */
  metadata?: Record<string, unknown>;
  /** Camera/microphone (or any) stream to send to every peer; change it later with `setLocalStream`. Default: `null` (receive only). */
  localStream?: MediaStream | null;
  /** `'relay'` sends media only through TURN. Default `'all'`. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** ICE servers to use instead of the server's (`joinRoom` ack and `GET /webrtc/ice-servers`). Default: the server's. */
  iceServers?: RTCIceServer[];
  /** When to retry after losing the server. Default: {@link DefaultReconnectPolicy} built from `GET /webrtc/config`. */
  reconnectPolicy?: ReconnectPolicy;
  /** How long to wait for the server to acknowledge a message before sending it again, ms. Default 4000. */
  ackTimeoutMs?: number;
  /** Ack timeouts (while connected) after which a message is given up with an `error` event. Default 5. */
  maxSendAttempts?: number;
  /** Timeout of one connection attempt, ms. Default 10000. */
  connectTimeoutMs?: number;
  /** How long to wait for `resumed`/`resumeFailed` after reconnecting with a resume token, ms. Default 5000. */
  resumeTimeoutMs?: number;
  /**
   * A peer connection still in `new` after this long is recreated (Chromium glare stall), and so is
   * one whose remote answer the browser refuses (Firefox's DTLS role on ICE restart, see the README),
   * at once; ICE still `checking` this long with a succeeded candidate pair is restarted (a Firefox
   * stall). 0 disables all three (a refused answer is then a `negotiation-failed` error). Default 5000.
   */
  stuckConnectionTimeoutMs?: number;
  /** Recreations of one peer connection before giving up with a `connection-stuck` error. Default 3. */
  maxRecreations?: number;
  /** Minimum spacing of the ICE restarts this client starts by itself on `failed`, ms. Default 5000. */
  iceRestartMinIntervalMs?: number;
  /** Open a data channel with every peer (`send`, `dataChannelMessage`). Default true. */
  dataChannel?: boolean;
  /**
   * Access token (a JWT) for a server that requires authentication: sent in the handshake
   * (`auth.token`) and as `Authorization: Bearer` to `GET /webrtc/ice-servers`. Alone, it cannot be
   * renewed: the server ends the session at its `exp` (the client warns once). Default: none, or
   * the first `getToken()` result when `getToken` is given.
   */
  token?: string;
  /**
   * Returns a fresh access token (of the same user). Called before the first connection when there
   * is no `token`, ahead of each token's expiry (at the later of 75 % of its lifetime and one minute
   * before its `exp`; the renewed token goes to the server with `refreshToken`, so calls carry on),
   * before a reconnection whose token is due, and after the server refused a token (UNAUTHORIZED,
   * 3 times in a row at most) or ended the connection for TOKEN_EXPIRED. A rejection at a
   * (re)connection counts as a failed attempt of the reconnect policy. Default: none.
   * @example
   * getToken: async () => (await fetch('/api/switchboard-token', { method: 'POST' })).text()
   */
  getToken?: () => Promise<string>;
  /** @deprecated Use `token` (same meaning; `token` wins when both are set). */
  authToken?: string;
  /** Where diagnostics go. Default: `console`, filtered by `logLevel`. */
  logger?: Logger;
  /** Level of the default console logger. Default `'warn'`. */
  logLevel?: LogLevel;
}

/** A remote peer of the room. */
export interface RemotePeer {
  peerId: string;
  /** The peer's authenticated user (its token's `sub`), when the server requires authentication. */
  userId?: string;
  displayName: string;
  /** Unix epoch ms when it joined. */
  joinedAt: number;
  metadata?: Record<string, unknown>;
}

/** A remote peer and the state of the link to it. */
export interface PeerSnapshot extends RemotePeer {
  connectionState: RTCPeerConnectionState;
  iceConnectionState: RTCIceConnectionState;
  /** `stable` when no offer/answer exchange is in progress. */
  signalingState: RTCSignalingState;
  dataChannelOpen: boolean;
  diagnostics: PeerLinkDiagnostics;
}

/** Why a peer left: the server's reasons, or `rejoined` when this client had to rejoin under a new id. */
export type PeerLeaveReason = PeerLeftReason | 'rejoined';

/** One side of the selected ICE candidate pair. */
export interface CandidateSummary {
  /** `host`, `srflx`, `prflx` or `relay`. */
  candidateType: string;
  protocol?: string;
  address?: string;
  port?: number;
}

/** The candidate pair a peer connection is using. */
export interface SelectedCandidatePair {
  local: CandidateSummary;
  remote: CandidateSummary;
  /** Seconds. */
  currentRoundTripTime?: number;
}

/** What `connect()` resolves with. */
export interface JoinResult {
  peerId: string;
  roomId: string;
  peers: RemotePeer[];
}

/** Events of {@link SwitchboardClient}, by name, with their payloads. */
export interface SwitchboardEvents {
  /** The client's own state changed (see {@link ConnectionState}). */
  stateChange: { state: ConnectionState; previous: ConnectionState };
  /** Joined the room: first join, and every clean rejoin. */
  joined: JoinResult;
  /** A peer is in the room (already there when we joined, or new). */
  peerJoined: RemotePeer;
  /** A peer left; its link is closed. */
  peerLeft: { peerId: string; reason: PeerLeaveReason };
  /** A remote track arrived; `stream` groups the peer's tracks (set it as a `<video>`'s `srcObject`). */
  remoteStream: { peerId: string; stream: MediaStream; track: MediaStreamTrack };
  /** The RTCPeerConnection (or ICE) state of the link to a peer changed. */
  connectionStateChange: {
    peerId: string;
    connectionState: RTCPeerConnectionState;
    iceConnectionState: RTCIceConnectionState;
  };
  /** The data channel to a peer opened. */
  dataChannelOpen: { peerId: string };
  /** The data channel to a peer closed. */
  dataChannelClose: { peerId: string };
  /** A data-channel message from a peer. */
  dataChannelMessage: { peerId: string; data: string | ArrayBuffer };
  /** The signaling connection is lost; the next attempt is in `delayMs`. Calls stay up meanwhile. */
  reconnecting: { attempt: number; delayMs: number; reason: string };
  /**
   * Signaling is back. `resumed`: same peer id, calls untouched (`via` Socket.IO's connection state
   * recovery, or the resume token). Otherwise the server had forgotten us and the client rejoined
   * under a new id (`previousPeerId`), renegotiating every call.
   */
  reconnected: {
    peerId: string;
    resumed: boolean;
    previousPeerId: string;
    via: 'recovery' | 'token' | 'rejoin';
  };
  /** An ICE restart started for a peer (asked by the server, on local failure, or by `restartIce`). */
  iceRestart: { peerId: string; reason: IceRestartReason; attempt?: number };
  /**
   * Something failed; see `SwitchboardError.reason`. The client keeps running unless its state says
   * otherwise: `unauthorized` (the token was refused for good) leaves it `disconnected`;
   * `session-replaced`, and `unauthorized` with code `TOKEN_EXPIRED`, close it.
   */
  error: SwitchboardError;
  /** A message from the app's backend (the server's admin API): to the room, or to this peer (`to`). */
  serverMessage: { payload: unknown; to?: string };
  /** The client closed: `close()` completed, or the server ended the session for good (after an `error`). */
  closed: { reason: string };
}

interface PeerEntry {
  info: RemotePeer;
  link: PeerLink;
  stream: MediaStream | null;
}

const DEFAULT_CONFIG: ClientConfigResponse = {
  namespace: NAMESPACE,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  pingInterval: 25000,
  pingTimeout: 20000,
  resumeWindowMs: 30000,
  maxSdpBytes: 65536,
  maxPeersPerRoom: 16,
};
const HTTP_TIMEOUT_MS = 5000;
/** Handshakes refused as UNAUTHORIZED in a row, each with a new `getToken()` token, before giving up. */
const MAX_UNAUTHORIZED_RETRIES = 3;
/** Shortest wait between two scheduled token refreshes, ms (a `getToken` that returns stale tokens must not spin). */
const MIN_TOKEN_REFRESH_DELAY_MS = 1000;
const SEEN_IDS_PER_PEER = 256;
const LEAVE_TIMEOUT_MS = 1000;

/**
 * A participant of one Switchboard room: connects to the server's `/webrtc` namespace over
 * WebSocket, joins the room and keeps one RTCPeerConnection per remote peer (a full mesh).
 *
 * - Negotiation is W3C perfect negotiation (`isPolite` of the protocol picks the polite side);
 *   a newcomer offers to the peers already in the room and they answer.
 * - Signals are acknowledged, retried, de-duplicated by `messageId`, ordered by `sequence`,
 *   and queued while the socket is down.
 * - Losing the server does not end calls: the client reconnects with backoff, resumes its
 *   session (same peer id) or, when the server has forgotten it, rejoins cleanly.
 * - ICE restarts when the server asks (`iceRestartRequired`) or when the link fails on the
 *   side that owns restarts, with fresh TURN credentials.
 *
 * @example
 * const localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
 * const client = new SwitchboardClient({ room: 'standup', displayName: 'Ada', localStream });
 * client.on('remoteStream', ({ peerId, stream }) => { videoFor(peerId).srcObject = stream; });
 * client.on('peerLeft', ({ peerId }) => removeVideo(peerId));
 * await client.connect();
 * // later
 * await client.close();
 */
export class SwitchboardClient extends TypedEmitter<SwitchboardEvents> {
  private readonly options: SwitchboardClientOptions & { url: string };
  private currentState: ConnectionState = ConnectionState.Idle;
  private channel: SignalChannel | null = null;
  private config: ClientConfigResponse | null = null;
  private policy: ReconnectPolicy | null = null;
  private selfId: string | null = null;
  private localStream: MediaStream | null;
  private readonly peers = new Map<string, PeerEntry>();
  private readonly sequences = new Map<string, number>();
  private readonly seenMessageIds = new Map<string, Set<string>>();
  private iceServers: RTCIceServer[] = [];
  private iceServersExpiresAt = 0;
  private iceRefreshTimer: ReturnType<typeof setTimeout> | undefined;
  private joinGeneration = 0;
  private pendingConnect: { resolve: (r: JoinResult) => void; reject: (e: unknown) => void } | null = null;
  private connectPromise: Promise<JoinResult> | null = null;
  private closePromise: Promise<void> | null = null;
  private readonly instanceId = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  private messageCounter = 0;
  /** The latest access token: presented by every handshake and `GET /webrtc/ice-servers`. */
  private token: string | undefined;
  /** Its `exp` (epoch ms) and when the client got it, for the refresh schedule. */
  private tokenExpiresAt: number | null = null;
  private tokenReceivedAt = 0;
  /** The server refused or expired the current token: the next handshake asks `getToken` for a new one. */
  private tokenStale = false;
  private tokenFetch: Promise<string> | null = null;
  private tokenTimer: ReturnType<typeof setTimeout> | undefined;
  private unauthorizedRetries = 0;
  private warnedTokenExpiry = false;

  constructor(options: SwitchboardClientOptions) {
    super(options.logger ?? createConsoleLogger(options.logLevel ?? 'warn'));
    const url = (options.url ?? globalThis.location?.origin ?? '').replace(/\/+$/, '');
    if (!url) throw new TypeError('options.url is required outside a browser page');
    if (!options.room) throw new TypeError('options.room is required');
    this.options = { ...options, url };
    this.localStream = options.localStream ?? null;
    const token = options.token ?? options.authToken;
    if (token) this.useToken(token);
  }

  /** The client's own state. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** Our peer id in the room, once joined. */
  get peerId(): string | null {
    return this.selfId;
  }

  get roomId(): string {
    return this.options.room;
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
    this.unauthorizedRetries = 0;
    this.warnIfTokenCannotBeRenewed();
    this.scheduleTokenRefresh();
    void this.start();
    return this.connectPromise;
  }

  private async start(): Promise<void> {
    if (!this.config) {
      try {
        this.config = {
          ...DEFAULT_CONFIG,
          ...(await fetchJson<ClientConfigResponse>(`${this.options.url}/webrtc/config`)),
        };
      } catch (error) {
        this.logger.warn('GET /webrtc/config failed; using default settings', error);
        this.config = DEFAULT_CONFIG;
      }
    }
    if (this.currentState === ConnectionState.Closed) return;
    const config = this.config;
    this.policy = this.options.reconnectPolicy ?? DefaultReconnectPolicy.fromServerConfig(config);
    if (!this.channel) this.channel = this.createChannel(config);
    this.channel.open();
  }

  private createChannel(config: ClientConfigResponse): SignalChannel {
    const channel = new SignalChannel(
      {
        url: this.options.url,
        namespace: config.namespace || NAMESPACE,
        ackTimeoutMs: this.options.ackTimeoutMs ?? 4000,
        maxSendAttempts: this.options.maxSendAttempts ?? 5,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 10000,
        resumeTimeoutMs: this.options.resumeTimeoutMs ?? 5000,
        reconnectPolicy: () => this.policy ?? new DefaultReconnectPolicy(),
        resumeWindowMs: config.resumeWindowMs,
        signalRate: config.signalRate,
        authToken: this.token || this.options.getToken ? () => this.handshakeToken() : undefined,
        logger: this.logger,
      },
      {
        onReady: (outcome) => this.onSessionReady(outcome),
        onLost: (reason) => {
          if (this.currentState === ConnectionState.Connected) this.setState(ConnectionState.Reconnecting);
          this.logger.info(`signaling lost (${reason}); calls stay up while reconnecting`);
        },
        onRetryScheduled: (info) => {
          if (this.currentState === ConnectionState.Reconnecting) this.safeEmit('reconnecting', info);
        },
        onGiveUp: (reason) => this.onGiveUp(reason),
        onResumedLater: (event) => this.reconcile(event),
        onSignalFailed: (error, to) => {
          if (error.code === ErrorCode.PEER_NOT_FOUND || error.code === ErrorCode.NOT_IN_ROOM) {
            this.logger.debug(`signal to ${to} dropped: ${error.message}`);
            return;
          }
          this.safeEmit('error', error);
        },
        onUnauthorized: (error) => this.onTokenRefused(error),
      },
    );
    const socket = channel.socket;
    socket.on('disconnectReason', (event) => this.onDisconnectReason(event));
    socket.on('roomClosed', (event) => {
      if (event.roomId === this.options.room && this.currentState !== ConnectionState.Closed)
        void this.closeFor(SwitchboardError.removed('ROOM_CLOSED', `room ${event.roomId}`));
    });
    socket.on('serverMessage', (event) => {
      if (event.roomId !== this.options.room) return;
      this.safeEmit('serverMessage', { payload: event.payload, ...(event.to ? { to: event.to } : {}) });
    });
    socket.on('peerJoined', (event) => {
      if (event.roomId !== this.options.room || event.peerId === this.selfId) return;
      this.addPeer(event, false);
    });
    socket.on('peerLeft', (event) => {
      if (event.roomId === this.options.room) this.removePeer(event.peerId, event.reason);
    });
    channel.onSignal('offer', (message) => this.onDescription('offer', message));
    channel.onSignal('answer', (message) => this.onDescription('answer', message));
    channel.onSignal('iceCandidate', (message) => this.onCandidate(message));
    socket.on('iceRestartRequired', (event) => {
      if (event.roomId !== this.options.room) return;
      void this.peers.get(event.peerId)?.link.restartIce('server', event.attempt);
    });
    socket.on('connectionFailed', (event) => {
      if (event.roomId !== this.options.room) return;
      this.safeEmit('error', SwitchboardError.iceFailed(event.peerId, event.reason));
    });
    return channel;
  }

  // ---- session ----

  private onSessionReady(outcome: SessionOutcome): void {
    if (this.currentState === ConnectionState.Closed) return;
    this.unauthorizedRetries = 0;
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
        this.logger.info(`resume refused (${outcome.error.code}); rejoining the room`);
        this.rejoin();
        return;
      default: {
        const unknown: never = outcome;
        this.logger.error('unknown session outcome', unknown);
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
    this.safeEmit('reconnected', { peerId: this.selfId, resumed: true, previousPeerId: this.selfId, via });
    for (const [peerId, entry] of this.peers) {
      this.reportState(peerId);
      entry.link.signalingRestored();
    }
  }

  /** Aligns the links with the room as the server knows it after a resume. False when a rejoin was started. */
  private reconcile(event: ResumedEvent): boolean {
    if (event.peerId !== this.selfId) {
      this.logger.warn(`resumed as ${event.peerId} instead of ${this.selfId}; rejoining`);
      this.rejoin();
      return false;
    }
    const room = event.rooms.find((r) => r.roomId === this.options.room);
    if (!room) {
      this.logger.warn(`no longer in room ${this.options.room} after resuming; rejoining`);
      this.rejoin();
      return false;
    }
    const present = new Set(room.peers.map((p) => p.peerId));
    for (const peerId of [...this.peers.keys()]) if (!present.has(peerId)) this.removePeer(peerId, 'timeout');
    // Peers that joined while we were away offer to us (their offers were held for us).
    for (const peer of room.peers) if (peer.peerId !== this.selfId) this.addPeer(peer, false);
    return true;
  }

  private rejoin(): void {
    const previous = this.selfId;
    for (const peerId of [...this.peers.keys()]) this.removePeer(peerId, 'rejoined');
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
      if (generation !== this.joinGeneration || !channel.socket.connected) return; // the next connection joins
      this.logger.warn('joinRoom was not acknowledged; reconnecting', error);
      channel.socket.io.engine?.close();
      return;
    }
    if (generation !== this.joinGeneration || this.currentState === ConnectionState.Closed) return;
    if (!result.ok) {
      const { code, message } = result.error;
      if (code === ErrorCode.RATE_LIMITED) {
        // Joined or left too often in a short time: join again once the server allows it.
        const wait = result.error.retryAfterMs ?? 1000;
        this.logger.warn(`joinRoom refused (${code}); retrying in ${wait} ms`);
        setTimeout(() => {
          if (generation === this.joinGeneration && this.channel === channel && channel.isReady)
            void this.join(previousPeerId);
        }, wait);
        return;
      }
      if (code === ErrorCode.SERVER_SHUTTING_DOWN || code === ErrorCode.INTERNAL) {
        this.logger.warn(`joinRoom refused (${code}); retrying later`);
        channel.socket.io.engine?.close();
        return;
      }
      const error = SwitchboardError.joinRejected(this.options.room, code, message);
      this.safeEmit('error', error);
      this.channel = null;
      channel.close();
      this.setState(ConnectionState.Disconnected);
      this.settleConnect(error);
      return;
    }
    this.selfId = result.peerId;
    channel.setResumeToken(result.resumeToken);
    this.useIceServers(result.iceServers, result.iceServersExpiresAt);
    this.setState(ConnectionState.Connected);
    const joined: JoinResult = {
      peerId: result.peerId,
      roomId: result.roomId,
      peers: result.peers.map(toRemotePeer),
    };
    this.safeEmit('joined', joined);
    if (previousPeerId !== null) {
      this.safeEmit('reconnected', { peerId: result.peerId, resumed: false, previousPeerId, via: 'rejoin' });
    }
    // The newcomer offers to everyone already here; they wait for its offer (see the glare notes).
    for (const peer of result.peers) this.addPeer(peer, true);
    this.settleConnect(null, joined);
  }

  private onGiveUp(reason: string): void {
    const error = SwitchboardError.signalingUnavailable(reason);
    clearTimeout(this.tokenTimer);
    this.setState(ConnectionState.Disconnected);
    this.connectPromise = null;
    this.safeEmit('error', error);
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

  // ---- access token ----

  private useToken(token: string): void {
    this.token = token;
    this.tokenStale = false;
    this.tokenReceivedAt = Date.now();
    this.tokenExpiresAt = tokenExpiresAt(token);
    this.scheduleTokenRefresh();
  }

  /** A new token from `getToken()`, shared by concurrent callers (the refresh timer, a handshake). */
  private fetchToken(): Promise<string> {
    const getToken = this.options.getToken;
    if (!getToken) return Promise.reject(new Error('no getToken option'));
    this.tokenFetch ??= (async () => {
      try {
        const token = await getToken();
        if (typeof token !== 'string' || token.length === 0) {
          throw new TypeError('getToken() must resolve with a non-empty string');
        }
        if (this.currentState !== ConnectionState.Closed) this.useToken(token);
        return token;
      } finally {
        this.tokenFetch = null;
      }
    })();
    return this.tokenFetch;
  }

  /** The token a handshake presents: the current one, unless it was refused or its refresh is due. */
  private async handshakeToken(): Promise<string | undefined> {
    if (!this.options.getToken) return this.token;
    const due =
      this.tokenExpiresAt !== null &&
      tokenRefreshDelayMs(this.tokenExpiresAt, this.tokenReceivedAt, Date.now()) === 0;
    if (this.token === undefined || this.tokenStale || due) return this.fetchToken();
    return this.token;
  }

  private scheduleTokenRefresh(delayMs?: number): void {
    clearTimeout(this.tokenTimer);
    this.tokenTimer = undefined;
    const inactive: ConnectionState[] = [
      ConnectionState.Idle,
      ConnectionState.Disconnected,
      ConnectionState.Closed,
    ];
    if (!this.options.getToken || inactive.includes(this.currentState)) return;
    if (delayMs === undefined) {
      if (this.tokenExpiresAt === null) return; // not a JWT with `exp`: renewed when the server asks
      delayMs = tokenRefreshDelayMs(this.tokenExpiresAt, this.tokenReceivedAt, Date.now());
    }
    delayMs = Math.min(Math.max(delayMs, MIN_TOKEN_REFRESH_DELAY_MS), 2 ** 31 - 1);
    this.tokenTimer = setTimeout(() => void this.refreshToken(), delayMs);
  }

  /** Gets a new token and hands it to the server on the live connection (`refreshToken`). */
  private async refreshToken(): Promise<void> {
    let token: string;
    try {
      token = await this.fetchToken(); // schedules the next refresh
    } catch (error) {
      this.logger.warn('getToken() failed; trying again shortly', error);
      this.retryTokenRefresh();
      return;
    }
    const channel = this.channel;
    // Not connected: the next handshake presents the new token.
    if (!channel?.isReady || this.currentState === ConnectionState.Closed) return;
    let result;
    try {
      result = await channel.request('refreshToken', { token }, 1);
    } catch (error) {
      if (!channel.socket.connected) return;
      this.logger.warn('refreshToken was not acknowledged; trying again shortly', error);
      this.retryTokenRefresh();
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
      this.logger.debug(`access token renewed; it expires at ${new Date(result.expiresAt).toISOString()}`);
      if (this.tokenExpiresAt === null && this.token === token) {
        // An opaque token: the server's answer is the only way to know its expiry.
        this.tokenExpiresAt = result.expiresAt;
        this.scheduleTokenRefresh();
      }
      return;
    }
    const { code, message } = result.error;
    if (code === ErrorCode.FORBIDDEN) {
      // A token of another user: asking again would give the same. The server ends the session at
      // the old token's expiry, and the reconnection then presents this token.
      this.safeEmit('error', SwitchboardError.unauthorized(code, message));
      return;
    }
    this.logger.warn(`refreshToken refused (${code}: ${message}); trying again shortly`);
    if (code === ErrorCode.UNAUTHORIZED && this.token === token) this.tokenStale = true;
    this.retryTokenRefresh(result.error.retryAfterMs);
  }

  /** The server no longer has us in the room (and will not take us back with this token): end the call. */
  private leaveRoomForGood(error: SwitchboardError): void {
    const channel = this.channel;
    for (const peerId of [...this.peers.keys()]) this.removePeer(peerId, 'left');
    this.channel = null;
    this.selfId = null;
    channel?.close();
    clearTimeout(this.tokenTimer);
    this.setState(ConnectionState.Disconnected);
    this.connectPromise = null;
    this.safeEmit('error', error);
    this.settleConnect(error);
  }

  /** Another refresh attempt soon: a third of the time the current token has left, within 1-10 s. */
  private retryTokenRefresh(hintMs?: number): void {
    const left = (this.tokenExpiresAt ?? Date.now()) - Date.now();
    this.scheduleTokenRefresh(hintMs ?? Math.min(Math.max(left / 3, 1000), 10_000));
  }

  private warnIfTokenCannotBeRenewed(): void {
    if (this.options.getToken || this.tokenExpiresAt === null || this.warnedTokenExpiry) return;
    this.warnedTokenExpiry = true;
    const seconds = Math.round((this.tokenExpiresAt - Date.now()) / 1000);
    this.logger.warn(
      `the access token expires at ${new Date(this.tokenExpiresAt).toISOString()} (in ${seconds} s) and ` +
        'there is no getToken option to renew it: the server will end this session then',
    );
  }

  /** `connect_error` UNAUTHORIZED. True: try again with a new token; false: stop. */
  private onTokenRefused(cause: Error): boolean {
    const detail = (cause as Error & { data?: { message?: unknown } }).data?.message;
    const text = typeof detail === 'string' ? detail : cause.message;
    if (this.options.getToken && this.unauthorizedRetries < MAX_UNAUTHORIZED_RETRIES) {
      this.unauthorizedRetries += 1;
      this.tokenStale = true;
      this.logger.warn(
        `the server refused the access token (${text}); retrying with a new one ` +
          `(${this.unauthorizedRetries}/${MAX_UNAUTHORIZED_RETRIES})`,
      );
      return true;
    }
    const hint = this.token ? '' : ' (this server requires a token: pass the token or getToken option)';
    const error = SwitchboardError.unauthorized(ErrorCode.UNAUTHORIZED, text + hint, cause);
    clearTimeout(this.tokenTimer);
    this.setState(ConnectionState.Disconnected);
    this.connectPromise = null;
    this.safeEmit('error', error);
    this.settleConnect(error);
    return false;
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
        if (this.options.getToken) {
          // The refresh did not arrive in time: reconnect with a new token (resuming the session, or
          // rejoining when the server let it go, as Switchboard's does on TOKEN_EXPIRED).
          this.tokenStale = true;
          return;
        }
        void this.closeFor(SwitchboardError.unauthorized(event.code, event.message));
        return;
      default:
        return; // e.g. RATE_LIMITED: the channel reconnects as after any loss
    }
  }

  // ---- peers ----

  private addPeer(peer: PeerInfo | RemotePeer, initiator: boolean): void {
    const selfId = this.selfId;
    if (!selfId || this.peers.has(peer.peerId) || this.currentState === ConnectionState.Closed) return;
    const info = toRemotePeer(peer);
    const peerId = info.peerId;
    const link = new PeerLink(
      {
        selfId,
        remoteId: peerId,
        initiator,
        polite: isPolite(selfId, peerId),
        iceRestartSide: iceRestartSide(selfId, peerId) === selfId,
        rtcConfiguration: this.rtcConfiguration(),
        localStream: this.localStream,
        dataChannel: this.options.dataChannel ?? true,
        stuckTimeoutMs: this.options.stuckConnectionTimeoutMs ?? 5000,
        maxRecreations: this.options.maxRecreations ?? 3,
        iceRestartMinIntervalMs: this.options.iceRestartMinIntervalMs ?? 5000,
        logger: this.logger,
      },
      {
        sendOffer: (sdp) => this.sendSignal('offer', peerId, { sdp }),
        sendAnswer: (sdp) => this.sendSignal('answer', peerId, { sdp }),
        sendCandidate: (candidate) =>
          this.sendSignal('iceCandidate', peerId, { candidate: toWireCandidate(candidate) }),
        onTrack: (track, stream) => {
          const entry = this.peers.get(peerId);
          if (entry) entry.stream = stream;
          this.safeEmit('remoteStream', { peerId, stream, track });
        },
        onStateChange: (connectionState, iceConnectionState) => {
          this.reportState(peerId);
          this.safeEmit('connectionStateChange', { peerId, connectionState, iceConnectionState });
        },
        onDataChannelOpen: () => this.safeEmit('dataChannelOpen', { peerId }),
        onDataChannelClose: () => this.safeEmit('dataChannelClose', { peerId }),
        onDataChannelMessage: (data) => this.safeEmit('dataChannelMessage', { peerId, data }),
        onIceRestart: (reason, attempt) => this.safeEmit('iceRestart', { peerId, reason, attempt }),
        onError: (error) => this.safeEmit('error', error),
        fetchIceServers: () => this.refreshIceServers(),
        signalingUp: () => this.channel?.isReady === true,
      },
    );
    this.peers.set(peerId, { info, link, stream: null });
    this.safeEmit('peerJoined', info);
  }

  private removePeer(peerId: string, reason: PeerLeaveReason): void {
    const entry = this.peers.get(peerId);
    if (!entry) return;
    this.peers.delete(peerId);
    entry.link.close();
    this.channel?.dropSignalsTo(peerId);
    // The sequence counter is kept: should the same id come back, a restarted counter could be
    // refused as STALE_SEQUENCE by a server that still remembers the pair. A rejoin clears them all.
    this.seenMessageIds.delete(peerId);
    this.safeEmit('peerLeft', { peerId, reason });
  }

  private rtcConfiguration(): RTCConfiguration {
    if (this.iceServersExpiresAt && Date.now() > this.iceServersExpiresAt && !this.options.iceServers) {
      // Expired TURN credentials: this link starts with them, restarts and later links get fresh ones.
      this.iceServersExpiresAt = 0;
      void this.refreshIceServers();
    }
    return {
      iceServers: this.options.iceServers ?? this.iceServers,
      iceTransportPolicy: this.options.iceTransportPolicy ?? 'all',
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
    };
  }

  // ---- signals ----

  private sendSignal(
    event: SignalEvent,
    to: string,
    body: { sdp: string } | { candidate: IceCandidateInit | null },
  ): void {
    const channel = this.channel;
    if (!channel || this.currentState === ConnectionState.Closed) return;
    const sequence = (this.sequences.get(to) ?? 0) + 1;
    this.sequences.set(to, sequence);
    const messageId = `${this.instanceId}-${++this.messageCounter}`;
    const payload = { roomId: this.options.room, to, sequence, messageId, ...body };
    // Failures surface through the channel's onSignalFailed hook.
    channel.send(event, payload as Parameters<SignalChannel['send']>[1]).catch(() => undefined);
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
    if (seen.size > SEEN_IDS_PER_PEER) seen.delete(seen.values().next().value as string);
    return false;
  }

  private onDescription(type: 'offer' | 'answer', message: SdpSignalMessage): void {
    if (message.roomId !== this.options.room || !this.selfId) return;
    if (this.isDuplicate(message.from, message.messageId)) return;
    let entry = this.peers.get(message.from);
    if (!entry && type === 'offer') {
      // An offer can overtake the `peerJoined` that announces its sender.
      this.addPeer({ peerId: message.from, displayName: '', joinedAt: Date.now() }, false);
      entry = this.peers.get(message.from);
    }
    if (!entry) return;
    void entry.link.handleDescription(type, message.sdp);
  }

  private onCandidate(message: IceCandidateMessage): void {
    if (message.roomId !== this.options.room || !this.selfId) return;
    if (this.isDuplicate(message.from, message.messageId)) return;
    const candidate = message.candidate;
    void this.peers.get(message.from)?.link.handleCandidate(
      candidate === null
        ? null
        : {
            candidate: candidate.candidate,
            sdpMid: candidate.sdpMid ?? null,
            sdpMLineIndex: candidate.sdpMLineIndex ?? null,
            usernameFragment: candidate.usernameFragment ?? null,
          },
    );
  }

  private reportState(peerId: string): void {
    const channel = this.channel;
    const entry = this.peers.get(peerId);
    if (!channel?.isReady || !entry || !this.selfId) return;
    channel
      .request(
        'connectionState',
        {
          roomId: this.options.room,
          peerId,
          connectionState: entry.link.connectionState,
          iceConnectionState: entry.link.iceConnectionState,
        },
        1,
      )
      .then((result) => {
        if (!result.ok) this.logger.debug(`connectionState report refused: ${result.error.code}`);
      })
      .catch((error) => this.logger.debug('connectionState report not acknowledged', error));
  }

  // ---- ICE servers ----

  private useIceServers(servers: IceServer[], expiresAt: number): void {
    this.iceServers = servers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
    this.iceServersExpiresAt = expiresAt;
    clearTimeout(this.iceRefreshTimer);
    if (!expiresAt || this.options.iceServers) return;
    // Refresh a minute before expiry so that later restarts and new links get valid TURN credentials.
    const delay = Math.min(Math.max(expiresAt - Date.now() - 60_000, 10_000), 2 ** 31 - 1);
    this.iceRefreshTimer = setTimeout(() => {
      void this.refreshIceServers().then((servers) => {
        if (servers) for (const { link } of this.peers.values()) link.setIceServers(servers);
      });
    }, delay);
  }

  private async refreshIceServers(): Promise<RTCIceServer[] | null> {
    if (this.options.iceServers) return this.options.iceServers;
    const url = `${this.options.url}/webrtc/ice-servers`;
    for (let attempt = 1; ; attempt++) {
      try {
        const token = await this.handshakeToken();
        const response = await fetchJson<IceServersResponse>(url, token);
        this.useIceServers(response.iceServers, response.expiresAt);
        return this.iceServers;
      } catch (error) {
        if (error instanceof HttpError && error.status === 401 && this.options.getToken && attempt === 1) {
          this.tokenStale = true; // refused: once more with a new token
          continue;
        }
        this.logger.warn('GET /webrtc/ice-servers failed', error);
        return null;
      }
    }
  }

  // ---- public API ----

  /** The remote peers and the state of each link. */
  getPeers(): PeerSnapshot[] {
    return [...this.peers.keys()].map((peerId) => this.getPeer(peerId) as PeerSnapshot);
  }

  /** One remote peer and its link, or `undefined`. */
  getPeer(peerId: string): PeerSnapshot | undefined {
    const entry = this.peers.get(peerId);
    if (!entry) return undefined;
    return {
      ...entry.info,
      connectionState: entry.link.connectionState,
      iceConnectionState: entry.link.iceConnectionState,
      signalingState: entry.link.signalingState,
      dataChannelOpen: entry.link.dataChannelOpen,
      diagnostics: { ...entry.link.diagnostics },
    };
  }

  /** The last stream received from a peer, or `null`. */
  getRemoteStream(peerId: string): MediaStream | null {
    return this.peers.get(peerId)?.stream ?? null;
  }

  /** The `RTCStatsReport` of the link to a peer. */
  async getStats(peerId: string): Promise<RTCStatsReport> {
    const entry = this.peers.get(peerId);
    if (!entry) throw new RangeError(`unknown peer ${peerId}`);
    return entry.link.getStats();
  }

  /** The ICE candidate pair the link to a peer uses, or `null` before one is selected. */
  async getSelectedCandidatePair(peerId: string): Promise<SelectedCandidatePair | null> {
    const report = await this.getStats(peerId);
    type Stat = Record<string, unknown> & { id: string; type: string };
    const stats = [...report.values()] as Stat[];
    const transport = stats.find(
      (s) => s.type === 'transport' && typeof s.selectedCandidatePairId === 'string',
    );
    let pair = transport ? report.get(transport.selectedCandidatePairId as string) : undefined;
    pair ??= stats.find(
      (s) => s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded',
    );
    if (!pair) return null;
    const summary = (id: unknown): CandidateSummary => {
      const c = (typeof id === 'string' ? report.get(id) : undefined) as Record<string, unknown> | undefined;
      return {
        candidateType: String(c?.candidateType ?? 'unknown'),
        protocol: c?.protocol as string | undefined,
        address: (c?.address ?? c?.ip) as string | undefined,
        port: c?.port as number | undefined,
      };
    };
    return {
      local: summary(pair.localCandidateId),
      remote: summary(pair.remoteCandidateId),
      currentRoundTripTime: pair.currentRoundTripTime as number | undefined,
    };
  }

  /**
   * Sends a small message to a peer over the pair's data channel.
   * @returns false when the channel is not open (yet).
   */
  send(peerId: string, data: string | ArrayBuffer | Blob): boolean {
    return this.peers.get(peerId)?.link.send(data) ?? false;
  }

  /** Sends a message to every peer whose data channel is open; returns how many got it. */
  broadcast(data: string | ArrayBuffer | Blob): number {
    let sent = 0;
    for (const { link } of this.peers.values()) if (link.send(data)) sent += 1;
    return sent;
  }

  /** Sends `stream` to every peer instead of the current local stream (`null` stops sending). */
  async setLocalStream(stream: MediaStream | null): Promise<void> {
    this.localStream = stream;
    await Promise.all([...this.peers.values()].map(({ link }) => link.setLocalStream(stream)));
  }

  /** The stream sent to peers. */
  getLocalStream(): MediaStream | null {
    return this.localStream;
  }

  /**
   * Mutes or unmutes the local tracks of one kind (the tracks keep flowing, as silence/black).
   * @returns false when the local stream has no track of that kind.
   */
  setTrackEnabled(kind: 'audio' | 'video', enabled: boolean): boolean {
    const tracks = this.localStream?.getTracks().filter((t) => t.kind === kind) ?? [];
    for (const track of tracks) track.enabled = enabled;
    return tracks.length > 0;
  }

  /**
   * Starts a new offer/answer exchange with one peer (or all). Safe while another is running:
   * simultaneous offers from both sides (glare) are resolved by perfect negotiation.
   */
  async renegotiate(peerId?: string): Promise<void> {
    await Promise.all(this.linksFor(peerId).map((link) => link.renegotiate()));
  }

  /** Restarts ICE with one peer (or all) with fresh ICE servers. */
  async restartIce(peerId?: string): Promise<void> {
    await Promise.all(this.linksFor(peerId).map((link) => link.restartIce('manual')));
  }

  private linksFor(peerId: string | undefined): PeerLink[] {
    if (peerId === undefined) return [...this.peers.values()].map((e) => e.link);
    const entry = this.peers.get(peerId);
    if (!entry) throw new RangeError(`unknown peer ${peerId}`);
    return [entry.link];
  }

  /**
   * Leaves the room, closes every peer connection and the socket. Safe to call more than once;
   * the client cannot be reused afterwards.
   */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.closePromise = this.shutdown('closed by the application', true);
    return this.closePromise;
  }

  /** Closes the client because the server ended the session for good, after emitting `error`. */
  private closeFor(error: SwitchboardError): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.safeEmit('error', error);
    // No leaveRoom: the server has already let go of this connection (and, when the session was
    // replaced, the room membership belongs to the new connection).
    this.closePromise = this.shutdown(error.message, false);
    this.settleConnect(error);
    return this.closePromise;
  }

  private async shutdown(reason: string, leave: boolean): Promise<void> {
    const channel = this.channel;
    const wasJoined = leave && channel?.isReady === true && this.selfId !== null;
    this.setState(ConnectionState.Closed);
    this.joinGeneration += 1;
    clearTimeout(this.iceRefreshTimer);
    clearTimeout(this.tokenTimer);
    for (const { link } of this.peers.values()) link.close();
    this.peers.clear();
    this.settleConnect(SwitchboardError.closed());
    if (channel && wasJoined) {
      await Promise.race([
        channel.request('leaveRoom', { roomId: this.options.room }, 1).catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, LEAVE_TIMEOUT_MS)),
      ]);
    }
    channel?.close();
    this.channel = null;
    this.safeEmit('closed', { reason });
  }

  private setState(state: ConnectionState): void {
    const previous = this.currentState;
    if (previous === state || previous === ConnectionState.Closed) return;
    this.currentState = state;
    this.logger.debug(`state ${previous} -> ${state}`);
    this.safeEmit('stateChange', { state, previous });
  }
}

function toRemotePeer(peer: PeerInfo | RemotePeer): RemotePeer {
  const info: RemotePeer = { peerId: peer.peerId, displayName: peer.displayName, joinedAt: peer.joinedAt };
  if (peer.userId !== undefined) info.userId = peer.userId;
  if (peer.metadata) info.metadata = peer.metadata;
  return info;
}

function toWireCandidate(candidate: RTCIceCandidateInit | null): IceCandidateInit | null {
  if (candidate === null) return null;
  return {
    candidate: candidate.candidate ?? '',
    sdpMid: candidate.sdpMid ?? null,
    sdpMLineIndex: candidate.sdpMLineIndex ?? null,
    usernameFragment: candidate.usernameFragment ?? null,
  };
}

class HttpError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`GET ${url}: HTTP ${status}`);
  }
}

async function fetchJson<T>(url: string, token?: string): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), HTTP_TIMEOUT_MS);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    const response = await fetch(url, { signal: controller.signal, headers });
    if (!response.ok) throw new HttpError(url, response.status);
    return (await response.json()) as T;
  } finally {
    clearTimeout(timer);
  }
}
