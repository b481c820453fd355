import type { ErrorCode } from '@switchboard/protocol';

/** Why an SDK operation or a call failed. Emitted as `SwitchboardError.reason`. */
export const ErrorReason = {
  /** The signaling server could not be reached and the reconnect policy gave up. */
  SignalingUnavailable: 'signaling-unavailable',
  /** The server refused `joinRoom` (room full, invalid room id or name, shutting down...). `code` has the wire code. */
  JoinRejected: 'join-rejected',
  /** The server refused a signal (offer, answer or candidate). `code` has the wire code. */
  SignalRejected: 'signal-rejected',
  /** A signal was not acknowledged after all its attempts. */
  SignalTimeout: 'signal-timeout',
  /** The server gave up restarting ICE for a peer (`connectionFailed`). */
  IceFailed: 'ice-failed',
  /**
   * ICE gathering finished without a single local candidate, e.g. every TURN server refused the
   * credentials (401) while `iceTransportPolicy` is `relay`. `details` lists the candidate errors.
   */
  IceGatheringFailed: 'ice-gathering-failed',
  /** Applying or creating a session description failed. */
  NegotiationFailed: 'negotiation-failed',
  /**
   * A peer connection kept getting stuck after `maxRecreations` rebuilds: it never left `new`
   * (Chromium's glare stall), or a renegotiation or ICE restart never settled back to `stable`.
   * Neither watchdog runs when `stuckConnectionTimeoutMs` is 0.
   */
  ConnectionStuck: 'connection-stuck',
  /**
   * The server refused the access token, and no new one could fix it. `code`: `UNAUTHORIZED` (the
   * handshake was refused: token missing, invalid or expired), `TOKEN_EXPIRED` (the connection's
   * token expired and there is no `getToken` to renew it) or `FORBIDDEN` (`getToken` gave another
   * user's token, or one whose grant no longer covers the room, which the client then left).
   * `cause` holds the underlying error, when there is one.
   */
  Unauthorized: 'unauthorized',
  /**
   * Another connection (a new tab or device of the same user) resumed this client's session; the
   * server closed this one and the client closed itself without reconnecting. `code` is `SESSION_REPLACED`.
   */
  SessionReplaced: 'session-replaced',
  /**
   * The app's backend ended this client's part: an operator removed the peer (`code` `REMOVED`; it
   * cannot resume), or closed the room (`code` `ROOM_CLOSED`). The client closed itself without
   * reconnecting.
   */
  Removed: 'removed',
  /** The operation needs an open client, but `close()` was called. */
  Closed: 'closed',
  /** A method was given a peer id that is not (or no longer) in the room (`getStats`, `renegotiate`, `restartIce`). */
  UnknownPeer: 'unknown-peer',
} as const;

export type ErrorReason = (typeof ErrorReason)[keyof typeof ErrorReason];

/**
 * `SwitchboardError.code`: the server's wire code when it refused something, or `ROOM_CLOSED` when
 * an operator closed the room (a `roomClosed` event, not a refusal).
 */
export type SwitchboardErrorCode = ErrorCode | 'ROOM_CLOSED';

/** One `icecandidateerror` seen while gathering. */
export interface CandidateErrorInfo {
  url: string;
  errorCode: number;
  errorText: string;
}

/**
 * The error type of every `error` event and rejected promise of the SDK (options refused by the
 * constructor throw `TypeError`, as does an invalid `DefaultReconnectPolicy` table `RangeError`).
 */
export class SwitchboardError extends Error {
  override readonly name = 'SwitchboardError';

  constructor(
    /** What failed; see {@link ErrorReason}. */
    readonly reason: ErrorReason,
    message: string,
    readonly extra: {
      /** The remote peer concerned, when the error is about one link. */
      peerId?: string;
      /** The server's error code, when the server refused something. */
      code?: SwitchboardErrorCode;
      /** Candidate errors behind an `ice-gathering-failed`. */
      candidateErrors?: CandidateErrorInfo[];
      /** The underlying error (a browser exception, a Socket.IO error), when there is one; also `error.cause`. */
      cause?: unknown;
    } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
  }

  get peerId(): string | undefined {
    return this.extra.peerId;
  }

  /** The server's error code (`ErrorCode` of the protocol) when it refused something; see {@link SwitchboardErrorCode}. */
  get code(): SwitchboardErrorCode | undefined {
    return this.extra.code;
  }

  static signalingUnavailable(lastReason: string): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.SignalingUnavailable,
      `signaling server unreachable; gave up reconnecting (last error: ${lastReason})`,
    );
  }

  static joinRejected(roomId: string, code: ErrorCode, message: string): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.JoinRejected,
      `joining room "${roomId}" was refused: ${code}: ${message}`,
      {
        code,
      },
    );
  }

  static signalRejected(event: string, peerId: string, code: ErrorCode, message: string): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.SignalRejected,
      `${event} to ${peerId} was refused: ${code}: ${message}`,
      {
        peerId,
        code,
      },
    );
  }

  static signalTimeout(event: string, peerId: string, attempts: number, cause?: unknown): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.SignalTimeout,
      `${event} to ${peerId} was not acknowledged after ${attempts} attempts`,
      { peerId, cause },
    );
  }

  static iceFailed(peerId: string, reason: string): SwitchboardError {
    return new SwitchboardError(ErrorReason.IceFailed, `connection to ${peerId} failed: ${reason}`, {
      peerId,
    });
  }

  static iceGatheringFailed(
    peerId: string,
    policy: RTCIceTransportPolicy,
    candidateErrors: CandidateErrorInfo[],
  ): SwitchboardError {
    const seen = candidateErrors.map((e) => `${e.url || '?'} ${e.errorCode} ${e.errorText}`.trim());
    const detail = seen.length > 0 ? `: ${[...new Set(seen)].join('; ')}` : '';
    const hint =
      policy === 'relay' ? ' (iceTransportPolicy is "relay": check the TURN server and its credentials)' : '';
    return new SwitchboardError(
      ErrorReason.IceGatheringFailed,
      `ICE gathering for ${peerId} ended without any usable candidate${hint}${detail}`,
      { peerId, candidateErrors },
    );
  }

  static negotiationFailed(peerId: string, step: string, cause: unknown): SwitchboardError {
    const text = cause instanceof Error ? cause.message : String(cause);
    return new SwitchboardError(ErrorReason.NegotiationFailed, `${step} for ${peerId} failed: ${text}`, {
      peerId,
      cause,
    });
  }

  static connectionStuck(peerId: string, recreations: number): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.ConnectionStuck,
      `connection to ${peerId} stayed in "new" after ${recreations} recreations`,
      { peerId },
    );
  }

  /**
   * The server refused the token. `code` is the server's (`UNAUTHORIZED`, `TOKEN_EXPIRED`,
   * `FORBIDDEN`), `detail` its message.
   */
  static unauthorized(code: ErrorCode, detail: string, cause?: unknown): SwitchboardError {
    const what =
      code === 'TOKEN_EXPIRED'
        ? 'the access token expired and there is no getToken to renew it'
        : code === 'FORBIDDEN'
          ? 'the server refused the renewed access token'
          : 'the server refused the access token';
    return new SwitchboardError(ErrorReason.Unauthorized, `${what}: ${code}: ${detail}`, { code, cause });
  }

  static sessionReplaced(detail: string): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.SessionReplaced,
      `this session was taken over by another connection (another tab or device); not reconnecting: ${detail}`,
      { code: 'SESSION_REPLACED' },
    );
  }

  static removed(code: 'REMOVED' | 'ROOM_CLOSED', detail: string): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.Removed,
      code === 'REMOVED'
        ? `an operator removed this peer; not reconnecting: ${detail}`
        : `an operator closed the room; not reconnecting: ${detail}`,
      { code },
    );
  }

  static unknownPeer(peerId: string): SwitchboardError {
    return new SwitchboardError(ErrorReason.UnknownPeer, `unknown peer ${peerId}`, { peerId });
  }

  static closed(): SwitchboardError {
    return new SwitchboardError(ErrorReason.Closed, 'the client is closed');
  }
}
