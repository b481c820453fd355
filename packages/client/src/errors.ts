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
  /** A peer connection never left `new` even after being recreated. */
  ConnectionStuck: 'connection-stuck',
  /** The operation needs an open client, but `close()` was called. */
  Closed: 'closed',
} as const;

export type ErrorReason = (typeof ErrorReason)[keyof typeof ErrorReason];

/** One `icecandidateerror` seen while gathering. */
export interface CandidateErrorInfo {
  url: string;
  errorCode: number;
  errorText: string;
}

/** The error type of every `error` event and rejected promise of the SDK. */
export class SwitchboardError extends Error {
  override readonly name = 'SwitchboardError';

  constructor(
    /** What failed; see {@link ErrorReason}. */
    readonly reason: ErrorReason,
    message: string,
    readonly extra: {
      /** The remote peer concerned, when the error is about one link. */
      peerId?: string;
      /** The server's error code (`ErrorCode` of the protocol), when the server refused something. */
      code?: string;
      /** Candidate errors behind an `ice-gathering-failed`. */
      candidateErrors?: CandidateErrorInfo[];
      cause?: unknown;
    } = {},
  ) {
    super(message);
  }

  get peerId(): string | undefined {
    return this.extra.peerId;
  }

  get code(): string | undefined {
    return this.extra.code;
  }

  static signalingUnavailable(lastReason: string): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.SignalingUnavailable,
      `signaling server unreachable; gave up reconnecting (last error: ${lastReason})`,
    );
  }

  static joinRejected(roomId: string, code: string, message: string): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.JoinRejected,
      `joining room "${roomId}" was refused: ${code}: ${message}`,
      {
        code,
      },
    );
  }

  static signalRejected(event: string, peerId: string, code: string, message: string): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.SignalRejected,
      `${event} to ${peerId} was refused: ${code}: ${message}`,
      {
        peerId,
        code,
      },
    );
  }

  static signalTimeout(event: string, peerId: string, attempts: number): SwitchboardError {
    return new SwitchboardError(
      ErrorReason.SignalTimeout,
      `${event} to ${peerId} was not acknowledged after ${attempts} attempts`,
      { peerId },
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

  static closed(): SwitchboardError {
    return new SwitchboardError(ErrorReason.Closed, 'the client is closed');
  }
}
