import type { z } from 'zod';
import type { ErrorCode, Result, WireError } from './errors.js';
import type { Schemas, PEER_CONNECTION_STATES, ICE_CONNECTION_STATES } from './schemas.js';

/** The Socket.IO namespace of the signaling protocol. */
export const NAMESPACE = '/webrtc';

// ---- client → server payloads (derived from the runtime schemas) ----

/** `joinRoom` payload. */
export type JoinRoomRequest = z.input<Schemas['joinRoom']>;
/** `leaveRoom` payload. */
export type LeaveRoomRequest = z.input<Schemas['leaveRoom']>;
/** `offer` / `answer` payload: `sdp` is the session description's `sdp` text. */
export type SdpSignalRequest = z.input<Schemas['offer']>;
/** `iceCandidate` payload; `candidate: null` means end of candidates. */
export type IceCandidateRequest = z.input<Schemas['iceCandidate']>;
/**
 * `iceCandidates` payload: several candidates to one peer in one message with one acknowledgement
 * (at most `MAX_CANDIDATES_PER_BATCH`); a `null` among them is end of candidates.
 */
export type IceCandidatesRequest = z.input<Schemas['iceCandidates']>;
/** `connectionState` payload: the sender's view of its link to `peerId`. */
export type ConnectionStateReport = z.input<Schemas['connectionState']>;
/**
 * `callQuality` payload: how this side's link to `peerId` connected (candidate types, protocol,
 * round-trip time, setup time) or why it failed. Types and numbers only, never addresses.
 */
export type CallQualityReport = z.input<Schemas['callQuality']>;
/** The candidate object as the browser's `RTCIceCandidate.toJSON()` gives it. */
export type IceCandidateInit = NonNullable<IceCandidateRequest['candidate']>;
export type PeerConnectionState = (typeof PEER_CONNECTION_STATES)[number];
export type IceConnectionState = (typeof ICE_CONNECTION_STATES)[number];

// ---- shared shapes ----

/** One entry of `RTCConfiguration.iceServers`. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/** A peer in a room, as others see it. */
export interface PeerInfo {
  peerId: string;
  /** The authenticated user (the token's `sub`), when the server requires authentication. */
  userId?: string;
  displayName: string;
  /** Unix epoch milliseconds. */
  joinedAt: number;
  metadata?: Record<string, unknown>;
}

/** `GET /webrtc/ice-servers` body; also the source of `iceServers` in the `joinRoom` ack. */
export interface IceServersResponse {
  iceServers: IceServer[];
  /** True when at least one TURN server is configured. */
  hasTurn: boolean;
  /** Seconds the returned credentials stay valid. */
  ttl: number;
  /** Unix epoch milliseconds after which the credentials must be fetched again. */
  expiresAt: number;
}

/** `GET /webrtc/config` body: settings the SDK uses to behave like the server expects. */
export interface ClientConfigResponse {
  namespace: string;
  /** Socket.IO client `reconnectionDelay`, ms. */
  reconnectionDelay: number;
  /** Socket.IO client `reconnectionDelayMax`, ms. */
  reconnectionDelayMax: number;
  pingInterval: number;
  pingTimeout: number;
  /** How long the server keeps a dropped peer's id and rooms, ms. */
  resumeWindowMs: number;
  maxSdpBytes: number;
  maxPeersPerRoom: number;
  /**
   * Signals (`offer`, `answer`, `iceCandidate`) one connection may send: a sustained rate per second
   * (0 = no limit) and the burst above it. A client that paces itself to this is never refused.
   */
  signalRate?: { perSecond: number; burst: number };
  /** Whether connections and `GET /webrtc/ice-servers` need a token (`auth.token`, `Authorization: Bearer`). */
  authRequired?: boolean;
}

/** `refreshToken` payload: a newer token of the same user, before the current one expires. */
export type RefreshTokenRequest = z.input<Schemas['refreshToken']>;

export interface RefreshTokenResponse {
  /** Unix epoch ms at which the new token expires (a further refresh is due before it). */
  expiresAt: number;
  /**
   * Rooms the new token no longer grants: the peer has left them, as with `leaveRoom` (the others
   * saw `peerLeft { reason: 'left' }`). Absent when the new grant covers every room the peer is in.
   */
  leftRooms?: string[];
}

/** `data` of the `connect_error` of a refused handshake (its `message` is the code). */
export interface ConnectErrorData {
  code: ErrorCode;
  message: string;
}

// ---- acknowledgement bodies ----

export interface JoinRoomResponse {
  peerId: string;
  roomId: string;
  /** The other peers already in the room. */
  peers: PeerInfo[];
  iceServers: IceServer[];
  /** Unix epoch ms after which `iceServers` credentials must be refreshed. */
  iceServersExpiresAt: number;
  /** Present in `auth.resumeToken` of a fresh connection to resume this peer after a drop. Single use. */
  resumeToken: string;
}

export interface SignalResponse {
  /** The same `messageId` was already accepted from this sender; it was not forwarded again. */
  duplicate?: boolean;
  /** The addressee is reconnecting; the signal is held and will be delivered when it returns. */
  queued?: boolean;
}

// ---- server → client messages ----

export interface PeerJoinedEvent {
  roomId: string;
  peerId: string;
  /** The authenticated user (the token's `sub`), when the server requires authentication. */
  userId?: string;
  displayName: string;
  joinedAt: number;
  metadata?: Record<string, unknown>;
}

/**
 * Why a peer left: it asked to (`left`), its socket closed cleanly (`disconnected`), its resume
 * window passed (`timeout`), or an operator removed it or closed the room (`removed`, admin API).
 */
export type PeerLeftReason = 'left' | 'disconnected' | 'timeout' | 'removed';

export interface PeerLeftEvent {
  roomId: string;
  peerId: string;
  reason: PeerLeftReason;
}

export interface SdpSignalMessage {
  roomId: string;
  /** Set by the server from the sender's session, never from the payload. */
  from: string;
  sdp: string;
  sequence?: number;
  messageId?: string;
  /** On a server with shared state: this signal's number in the receiving peer's own sequence (see `HandshakeAuth.lastSeq`). */
  seq?: number;
}

export interface IceCandidateMessage {
  roomId: string;
  from: string;
  candidate: IceCandidateInit | null;
  sequence?: number;
  messageId?: string;
  /** On a server with shared state: this signal's number in the receiving peer's own sequence. */
  seq?: number;
}

/** A batch of candidates relayed as one message (`iceCandidates`); repeats already relayed are left out. */
export interface IceCandidatesMessage {
  roomId: string;
  from: string;
  candidates: (IceCandidateInit | null)[];
  sequence?: number;
  messageId?: string;
  /** On a server with shared state: this batch's number in the receiving peer's own sequence. */
  seq?: number;
}

export interface IceRestartRequiredEvent {
  roomId: string;
  /** The remote peer of the link to restart. */
  peerId: string;
  attempt: number;
  maxAttempts: number;
}

export interface ConnectionFailedEvent {
  roomId: string;
  peerId: string;
  reason: 'ice-restart-exhausted';
}

/** Sent instead of an acknowledgement when a signal carried a `messageId` but no ack callback. */
export interface SignalAckEvent {
  messageId: string;
  ok: boolean;
  duplicate?: boolean;
  queued?: boolean;
  error?: WireError;
}

/**
 * Sent once to a new connection with the peer id the server assigned. It travels through the
 * peer's channel (a broadcast), so the client holds a Socket.IO recovery offset from the start.
 */
export interface SessionEvent {
  peerId: string;
}

export interface ResumedEvent {
  peerId: string;
  /** The rooms the peer is still in, with their current peers (excluding itself). */
  rooms: { roomId: string; peers: PeerInfo[] }[];
  /** A fresh single-use token for the next resume. */
  resumeToken: string;
}

export interface ResumeFailedEvent {
  error: WireError;
}

/**
 * Sent just before the server disconnects a connection on its own initiative, saying why (for now
 * `RATE_LIMITED`: the connection kept exceeding its limits). Not sent when the connection is closed
 * because the client stopped reading (nothing would reach it).
 */
export interface DisconnectReasonEvent {
  code: ErrorCode;
  message: string;
}

/** An operator closed the room (admin API): this peer is no longer in it; nobody is. */
export interface RoomClosedEvent {
  roomId: string;
}

/** A message from the app's backend (admin API), to the whole room or to this peer alone. */
export interface ServerMessageEvent {
  roomId: string;
  /** Whatever JSON the backend sent (at most 4 KiB). */
  payload: unknown;
  /** Set when the message was sent to this peer alone. */
  to?: string;
}

export interface ServerShutdownEvent {
  /** Suggested wait before reconnecting, ms. */
  reconnectAfterMs: number;
}

/** Acknowledgement callback of an event. */
export type Ack<T extends object = object> = (result: Result<T>) => void;

/** Events a client emits; each takes its payload and an acknowledgement callback. */
export interface ClientToServerEvents {
  joinRoom: (payload: JoinRoomRequest, ack: Ack<JoinRoomResponse>) => void;
  leaveRoom: (payload: LeaveRoomRequest, ack: Ack) => void;
  offer: (payload: SdpSignalRequest, ack: Ack<SignalResponse>) => void;
  answer: (payload: SdpSignalRequest, ack: Ack<SignalResponse>) => void;
  iceCandidate: (payload: IceCandidateRequest, ack: Ack<SignalResponse>) => void;
  iceCandidates: (payload: IceCandidatesRequest, ack: Ack<SignalResponse>) => void;
  connectionState: (payload: ConnectionStateReport, ack: Ack) => void;
  callQuality: (payload: CallQualityReport, ack: Ack) => void;
  refreshToken: (payload: RefreshTokenRequest, ack: Ack<RefreshTokenResponse>) => void;
}

/** Events the server emits to a client. */
export interface ServerToClientEvents {
  peerJoined: (event: PeerJoinedEvent) => void;
  peerLeft: (event: PeerLeftEvent) => void;
  offer: (message: SdpSignalMessage) => void;
  answer: (message: SdpSignalMessage) => void;
  iceCandidate: (message: IceCandidateMessage) => void;
  iceCandidates: (message: IceCandidatesMessage) => void;
  iceRestartRequired: (event: IceRestartRequiredEvent) => void;
  connectionFailed: (event: ConnectionFailedEvent) => void;
  signalAck: (event: SignalAckEvent) => void;
  session: (event: SessionEvent) => void;
  resumed: (event: ResumedEvent) => void;
  resumeFailed: (event: ResumeFailedEvent) => void;
  serverShutdown: (event: ServerShutdownEvent) => void;
  disconnectReason: (event: DisconnectReasonEvent) => void;
  roomClosed: (event: RoomClosedEvent) => void;
  serverMessage: (event: ServerMessageEvent) => void;
}

/** Handshake `auth` a client may send. */
export interface HandshakeAuth {
  /** JWT when the server requires authentication. */
  token?: string;
  /** The `resumeToken` from the last `joinRoom` ack or `resumed` event. */
  resumeToken?: string;
  /**
   * With `resumeToken`, on a server with shared state (signals carry `seq`): the highest `seq` up
   * to which this client has received every signal. The server sends again what followed it.
   */
  lastSeq?: number;
}
