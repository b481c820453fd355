/**
 * The closed set of error codes a client can receive in an acknowledgement
 * (`{ ok: false, error: { code, message } }`) or in a `signalAck`/`resumeFailed` event.
 * Documented in docs/protocol.md; adding one is a protocol change.
 */
export const ErrorCode = {
  /** The payload does not match the event's schema. Nothing changed on the server. */
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  /** The sender (or the named peer) has not joined the room named in the payload. */
  NOT_IN_ROOM: 'NOT_IN_ROOM',
  /** The addressed peer is not in the room (never joined, left, or its resume window passed). */
  PEER_NOT_FOUND: 'PEER_NOT_FOUND',
  /** The room already holds `MAX_PEERS_PER_ROOM` peers. */
  ROOM_FULL: 'ROOM_FULL',
  /** An offer/answer whose `sequence` is not above the last accepted one for that direction. */
  STALE_SEQUENCE: 'STALE_SEQUENCE',
  /** The SDP (or another field) is larger than the configured limit. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The addressee is reconnecting and this pair's held signals reached the cap; retry later. */
  BUFFER_FULL: 'BUFFER_FULL',
  /** A resume token was unknown, already used, or expired. The client should join afresh. */
  RESUME_REJECTED: 'RESUME_REJECTED',
  /**
   * (`resumeFailed`) The resume token was good, but some signals sent to the peer while it was away
   * are no longer held (more than the delivery log keeps, or Redis lost them), so its calls cannot
   * go on where they were. The old peer has been removed (the others saw it leave); join afresh and
   * negotiate again.
   */
  RESUME_INCOMPLETE: 'RESUME_INCOMPLETE',
  /** The server is draining for shutdown and accepts no new joins; reconnect elsewhere. */
  SERVER_SHUTTING_DOWN: 'SERVER_SHUTTING_DOWN',
  /**
   * The connection sent more of this kind of request than its limit allows (`retryAfterMs` says when
   * to try again); nothing changed on the server. Also the `disconnectReason` of a connection that
   * kept exceeding its limits.
   */
  RATE_LIMITED: 'RATE_LIMITED',
  /** The peer is already in `MAX_ROOMS_PER_PEER` rooms; leave one first. */
  TOO_MANY_ROOMS: 'TOO_MANY_ROOMS',
  /**
   * Authentication is on and the token (handshake `auth.token`, HTTP `Authorization: Bearer`, or
   * `refreshToken`) is missing, invalid or expired. Also the `connect_error` message of a refused
   * handshake, whose `data` is `{ code: 'UNAUTHORIZED', message }`.
   */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** The token is valid but does not grant this: a room outside its `room`/`rooms` claim, or a `refreshToken` for another `sub`. */
  FORBIDDEN: 'FORBIDDEN',
  /** (`disconnectReason`) The connection's token expired without a `refreshToken`. */
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  /**
   * (`disconnectReason`) Another connection resumed this peer with its resume token (the same user,
   * when authentication is on): this one is closed. The client should not reconnect on its own.
   */
  SESSION_REPLACED: 'SESSION_REPLACED',
  /**
   * The server cannot reach its shared state (Redis) right now: nothing was done; try again shortly.
   * Also the `connect_error` of a handshake refused for that reason. `/ready` answers 503 meanwhile.
   */
  UNAVAILABLE: 'UNAVAILABLE',
  /**
   * (`disconnectReason`) An operator removed this peer (admin API): it cannot resume; the others saw
   * `peerLeft { reason: 'removed' }`. The client should not reconnect on its own.
   */
  REMOVED: 'REMOVED',
  /** An unexpected server fault. Internal details are logged, never sent. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_CODES: readonly ErrorCode[] = Object.values(ErrorCode);

/** The error object carried on the wire. */
export interface WireError {
  code: ErrorCode;
  message: string;
  /** With `RATE_LIMITED`: milliseconds until the same request would be accepted. */
  retryAfterMs?: number;
}

/** Successful acknowledgement: `{ ok: true, ...T }`. */
export type Success<T extends object = object> = { ok: true } & T;
/** Failed acknowledgement. */
export interface Failure {
  ok: false;
  error: WireError;
}
/** The result envelope every acknowledgement uses instead of thrown errors. */
export type Result<T extends object = object> = Success<T> | Failure;

/** Builds a failure envelope. */
export function failure(code: ErrorCode, message: string): Failure {
  return { ok: false, error: { code, message } };
}

/** Builds a `RATE_LIMITED` failure that says when to retry. */
export function rateLimited(message: string, retryAfterMs: number): Failure {
  return { ok: false, error: { code: ErrorCode.RATE_LIMITED, message, retryAfterMs } };
}
