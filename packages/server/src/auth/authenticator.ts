import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_TOKEN_LENGTH } from '@switchboard/protocol';
import { clientIp, limitKey } from '../common/client-ip';
import type { MetricsService } from '../metrics/metrics.service';
import type { AuthThrottle } from './auth-throttle';
import type { AuthenticatedUser, TokenFailureReason, TokenVerifier } from './token-verifier';

/** The `reason` label of `switchboard_auth_failures_total`. */
export type AuthFailureReason = TokenFailureReason | 'missing' | 'forbidden' | 'blocked';

export type AuthOutcome =
  | { ok: true; user: AuthenticatedUser }
  | {
      ok: false;
      reason: AuthFailureReason;
      /** For the client: what was wrong, never the token. */
      message: string;
      /** With `blocked`: how long the client IP stays blocked, ms. */
      retryAfterMs?: number;
    };

export interface AuthenticatorOptions {
  /** Proxies in front whose X-Forwarded-For is trusted (TRUST_PROXY); 0 = the socket's address. */
  trustProxy: number;
}

/**
 * One place where a presented token is judged, for the Socket.IO handshake, `refreshToken` and the
 * HTTP bearer guard alike: a client IP blocked for failing too often is refused before its token is
 * looked at; every failure is counted (`switchboard_auth_failures_total{reason}`) and throttled per
 * client IP ({@link AuthThrottle}), except `key_unavailable` (a JWKS that cannot be fetched is not the
 * client's fault, and blocking every IP for it would turn an outage into a longer one).
 * Without a verifier, authentication is off: `required` is false and nothing here is called.
 */
export class Authenticator {
  constructor(
    private readonly verifier: TokenVerifier | undefined,
    private readonly throttle: AuthThrottle,
    private readonly metrics: MetricsService,
    private readonly options: AuthenticatorOptions,
  ) {}

  /** Whether connections and `GET /webrtc/ice-servers` need a token. */
  get required(): boolean {
    return this.verifier !== undefined;
  }

  /** The verifier in use, when authentication is on (for the start-up log line). */
  get tokenVerifier(): TokenVerifier | undefined {
    return this.verifier;
  }

  /**
   * Unix second from which a connection authenticated as `user` is closed: its `exp` plus the
   * clock tolerance the token was verified with, so a token the handshake accepted is not cut at once.
   */
  deadlineOf(user: AuthenticatedUser): number {
    return user.exp + (this.verifier?.clockToleranceSeconds ?? 0);
  }

  /** Judges `token` presented by the client of `req`. Never throws. */
  async authenticate(token: unknown, req: IncomingMessage): Promise<AuthOutcome> {
    const verifier = this.verifier;
    if (!verifier) throw new Error('authenticate() called with authentication off');
    const key = limitKey(clientIp(req, this.options.trustProxy));
    const blockedMs = await this.throttle.blockedFor(key);
    if (blockedMs > 0) {
      this.metrics.authFailed('blocked');
      return {
        ok: false,
        reason: 'blocked',
        message: `too many failed authentications from this address; retry in ${Math.ceil(blockedMs / 1000)} s`,
        retryAfterMs: blockedMs,
      };
    }
    if (typeof token !== 'string' || token.length === 0)
      return this.failed(
        key,
        'missing',
        'a token is required (handshake auth.token, or Authorization: Bearer)',
      );
    if (token.length > MAX_TOKEN_LENGTH)
      return this.failed(key, 'invalid', `token is longer than ${MAX_TOKEN_LENGTH} characters`);
    const result = await verifier.verify(token);
    if (result.ok) return result;
    return this.failed(key, result.reason, result.message);
  }

  /**
   * Counts and throttles a failure the caller found itself: a valid token that does not fit (a
   * `refreshToken` for another user).
   */
  async refuse(req: IncomingMessage, reason: 'forbidden'): Promise<void> {
    await this.failed(limitKey(clientIp(req, this.options.trustProxy)), reason, '');
  }

  private async failed(key: string, reason: AuthFailureReason, message: string): Promise<AuthOutcome> {
    this.metrics.authFailed(reason);
    if (reason !== 'key_unavailable') {
      const delayMs = await this.throttle.failed(key);
      if (delayMs > 0) await sleep(delayMs, undefined, { ref: false });
    }
    return { ok: false, reason, message };
  }
}
