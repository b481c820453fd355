import { type ClientConfigResponse, NAMESPACE } from '@switchboard/protocol';

/**
 * The default of every optional {@link SwitchboardClientOptions} setting that has a fixed one,
 * merged once into the client's options (`resolveOptions`); nothing else writes these numbers.
 * Each is documented on its option.
 */
export const DEFAULT_OPTIONS = {
  /** `iceTransportPolicy`: every candidate type. */
  iceTransportPolicy: 'all',
  /** `ackTimeoutMs`: wait for the server's acknowledgement before sending again. */
  ackTimeoutMs: 4000,
  /** `maxSendAttempts`: ack timeouts (while connected) before a message is given up. */
  maxSendAttempts: 5,
  /** `connectTimeoutMs`: one connection attempt. */
  connectTimeoutMs: 10_000,
  /** `resumeTimeoutMs`: wait for `resumed`/`resumeFailed` after presenting a resume token. */
  resumeTimeoutMs: 5000,
  /** `stuckConnectionTimeoutMs`: the peer-link watchdogs. */
  stuckConnectionTimeoutMs: 5000,
  /** `maxRecreations`: rebuilds of one peer connection before `connection-stuck`. */
  maxRecreations: 3,
  /** `iceRestartMinIntervalMs`: spacing of the ICE restarts this client starts on `failed`. */
  iceRestartMinIntervalMs: 5000,
  /**
   * `candidateBatchWindowMs`: a browser's host candidates of one gathering phase come within about a
   * millisecond of each other; 5 ms catches them and is far below any network round trip.
   */
  candidateBatchWindowMs: 5,
  /** `dataChannel`: one data channel per peer. */
  dataChannel: true,
  /** `callQualityReports`: send `callQuality` telemetry to the server. */
  callQualityReports: true,
  /** `logLevel` of the console logger. */
  logLevel: 'warn',
} as const satisfies Record<string, string | number | boolean>;

/**
 * Used only when `GET /webrtc/config` cannot be read: the server's own defaults for what the SDK
 * takes from it (the namespace, the reconnect delays the policy is built from, the resume window).
 * Any server that answers overrides all of it.
 */
export const FALLBACK_SERVER_CONFIG: ClientConfigResponse = {
  namespace: NAMESPACE,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  pingInterval: 25_000,
  pingTimeout: 20_000,
  resumeWindowMs: 30_000,
  // Not `DEFAULT_LIMITS` of the protocol: importing its schemas module would bundle zod.
  maxSdpBytes: 65_536,
  maxPeersPerRoom: 16,
};

/** Fixed internal timings and limits (not options), each with why it is what it is. */
export const LIMITS = {
  /** `GET /webrtc/config` and `GET /webrtc/ice-servers`: an unreachable server must not stall `connect()`. */
  httpTimeoutMs: 5000,
  /** Handshakes refused as UNAUTHORIZED in a row, each with a new `getToken()` token, before giving up. */
  maxUnauthorizedRetries: 3,
  /** Shortest wait between two scheduled token refreshes (a `getToken` that returns stale tokens must not spin). */
  minTokenRefreshDelayMs: 1000,
  /** Incoming messageIds remembered per peer for de-duplication (far more than one negotiation sends). */
  seenIdsPerPeer: 256,
  /** How long `close()` waits for `leaveRoom`'s ack before closing the socket anyway. */
  leaveTimeoutMs: 1000,
  /** Refresh TURN credentials this long before they expire, so that restarts and new links get valid ones. */
  iceRefreshAheadMs: 60_000,
  /** ...but never sooner than this after the last refresh (a short TTL must not make it spin). */
  iceRefreshMinDelayMs: 10_000,
} as const;
