import type { PeerLeftReason } from '@switchboard/protocol';
import type { ConnectionState } from './connection-state.js';
import type { SwitchboardError } from './errors.js';
import type { Logger, LogLevel } from './logger.js';
import type { IceRestartReason, PeerLinkDiagnostics } from './peer-link.js';
import type { ReconnectPolicy } from './reconnect-policy.js';

// The public option, event and snapshot types of `SwitchboardClient`, in one place.

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
   * one whose renegotiation or ICE restart has not settled back to `stable` after this long (the
   * negotiation watchdog; the polite side waits twice as long for both), and one whose remote answer
   * the browser refuses (Firefox's DTLS role on ICE restart, see the README), at once; ICE still
   * `checking` this long with a succeeded candidate pair is restarted (a Firefox stall). 0 disables
   * all four (a refused answer is then a `negotiation-failed` error). Default 5000.
   */
  stuckConnectionTimeoutMs?: number;
  /**
   * Recreations of one peer connection (stuck in `new`, or a negotiation that never settles) before
   * giving up with a `connection-stuck` error. Default 3.
   */
  maxRecreations?: number;
  /** Minimum spacing of the ICE restarts this client starts by itself on `failed`, ms. Default 5000. */
  iceRestartMinIntervalMs?: number;
  /**
   * Candidates gathered for one peer within this many ms of the first are sent as one `iceCandidates`
   * message (one acknowledgement, one token of the server's signal rate) instead of one `iceCandidate`
   * each. No candidate waits longer than this; a batch goes at once when it holds 32 candidates or
   * when gathering ends (end-of-candidates is its last entry). 0 turns batching off. Default 5: a
   * browser emits a gathering phase's host candidates within about a millisecond of each other, and
   * 5 ms is far below a network round trip, so a call does not connect later. Every peer of a room
   * must run an SDK that handles `iceCandidates` (any SDK that has this option does).
   */
  candidateBatchWindowMs?: number;
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
  /**
   * Send call-quality telemetry to the server (`callQuality`, counted in its `/metrics` as
   * `switchboard_call_*`): per peer, once connected and whenever the selected candidate pair's types
   * or protocol change, the setup time (first offer to `connected`), the candidate types
   * (host/srflx/prflx/relay), the protocol and the round-trip time; and why a link failed. Never
   * addresses. `false` sends none. Default true.
   */
  callQualityReports?: boolean;
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
  /** `udp` or `tcp`: the transport of this candidate (for a relay candidate, between the TURN server and the peer). */
  protocol?: string;
  /** A local relay candidate's transport to the TURN server: `udp`, `tcp` or `tls`. */
  relayProtocol?: string;
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
