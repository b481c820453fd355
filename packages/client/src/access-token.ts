import { ErrorCode } from '@switchboard/protocol';
import { tokenExpiresAt, tokenRefreshDelayMs } from './auth-token.js';
import { LIMITS } from './defaults.js';
import { SwitchboardError } from './errors.js';
import type { Logger } from './logger.js';

export interface AccessTokenOptions {
  /** The app's token (`token` option), if any. */
  token?: string;
  /** The app's `getToken` option, if any: the only way to renew a token. */
  getToken?: () => Promise<string>;
  logger: Logger;
  /** True while a refresh is worth scheduling (connecting, connected or reconnecting). */
  active(): boolean;
  /** False once the client is closed: a token that arrives then is dropped. */
  open(): boolean;
  /** A scheduled refresh is due: the owner gets a new token (`fetch`) and hands it to the server. */
  refreshDue(): void;
}

/**
 * The access token of an authenticated session: the one every handshake and `GET
 * /webrtc/ice-servers` presents, when it must be renewed (at the later of 75 % of its lifetime
 * and one minute before `exp`), and what to do when the server refuses it. It does not talk to the
 * server itself: the room session delivers renewed tokens with `refreshToken`.
 */
export class AccessToken {
  private token: string | undefined;
  /** Its `exp` (epoch ms) and when the client got it, for the refresh schedule. */
  private expiresAt: number | null = null;
  private receivedAt = 0;
  /** The server refused or expired the current token: the next handshake asks `getToken` for a new one. */
  private stale = false;
  private pending: Promise<string> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private handshakeRefusals = 0;
  private warnedExpiry = false;

  constructor(private readonly options: AccessTokenOptions) {
    if (options.token) this.use(options.token);
  }

  /** True when handshakes carry a token at all. */
  get present(): boolean {
    return this.token !== undefined || this.options.getToken !== undefined;
  }

  /** True when a new token can be had (`getToken`). */
  get renewable(): boolean {
    return this.options.getToken !== undefined;
  }

  /** True when `token` is the one the client holds now. */
  isCurrent(token: string): boolean {
    return this.token === token;
  }

  private use(token: string): void {
    this.token = token;
    this.stale = false;
    this.receivedAt = Date.now();
    this.expiresAt = tokenExpiresAt(token);
    this.schedule();
  }

  /** A new token from `getToken()`, shared by concurrent callers (the refresh timer, a handshake). */
  fetch(): Promise<string> {
    const getToken = this.options.getToken;
    if (!getToken) return Promise.reject(new Error('no getToken option'));
    this.pending ??= (async () => {
      try {
        const token = await getToken();
        if (typeof token !== 'string' || token.length === 0) {
          throw new TypeError('getToken() must resolve with a non-empty string');
        }
        if (this.options.open()) this.use(token);
        return token;
      } finally {
        this.pending = null;
      }
    })();
    return this.pending;
  }

  /** The token a handshake presents: the current one, unless it was refused or its refresh is due. */
  async forHandshake(): Promise<string | undefined> {
    if (!this.options.getToken) return this.token;
    const due =
      this.expiresAt !== null && tokenRefreshDelayMs(this.expiresAt, this.receivedAt, Date.now()) === 0;
    if (this.token === undefined || this.stale || due) return this.fetch();
    return this.token;
  }

  /** The server refused the current token: the next handshake or fetch presents a new one. */
  markStale(): void {
    this.stale = true;
  }

  /** Learns the expiry of an opaque token (not a JWT) from the server's `refreshToken` answer. */
  learnExpiry(token: string, expiresAt: number): void {
    if (this.expiresAt !== null || this.token !== token) return;
    this.expiresAt = expiresAt;
    this.schedule();
  }

  /** Arms the refresh timer: after `delayMs`, else at the current token's refresh time. */
  schedule(delayMs?: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.options.getToken || !this.options.active()) return;
    if (delayMs === undefined) {
      if (this.expiresAt === null) return; // not a JWT with `exp`: renewed when the server asks
      delayMs = tokenRefreshDelayMs(this.expiresAt, this.receivedAt, Date.now());
    }
    delayMs = Math.min(Math.max(delayMs, LIMITS.minTokenRefreshDelayMs), 2 ** 31 - 1);
    this.timer = setTimeout(() => this.options.refreshDue(), delayMs);
  }

  /** Another refresh attempt soon: `hintMs`, else a third of the time the token has left, within 1-10 s. */
  retrySoon(hintMs?: number): void {
    const left = (this.expiresAt ?? Date.now()) - Date.now();
    this.schedule(hintMs ?? Math.min(Math.max(left / 3, 1000), 10_000));
  }

  /** Stops the refresh timer. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A (re)connection completed: handshake refusals start counting from zero again. */
  resetRefusals(): void {
    this.handshakeRefusals = 0;
  }

  /**
   * The server refused the handshake's token (`connect_error` UNAUTHORIZED). `null`: try again with
   * a new token; otherwise the error that ends the attempts.
   */
  refusedAtHandshake(cause: Error): SwitchboardError | null {
    const detail = (cause as Error & { data?: { message?: unknown } }).data?.message;
    const text = typeof detail === 'string' ? detail : cause.message;
    if (this.options.getToken && this.handshakeRefusals < LIMITS.maxUnauthorizedRetries) {
      this.handshakeRefusals += 1;
      this.stale = true;
      this.options.logger.warn(
        `the server refused the access token (${text}); retrying with a new one ` +
          `(${this.handshakeRefusals}/${LIMITS.maxUnauthorizedRetries})`,
      );
      return null;
    }
    this.stop();
    const hint = this.token ? '' : ' (this server requires a token: pass the token or getToken option)';
    return SwitchboardError.unauthorized(ErrorCode.UNAUTHORIZED, text + hint, cause);
  }

  /** Warns once when the token will expire and cannot be renewed (no `getToken`). */
  warnIfNotRenewable(): void {
    if (this.options.getToken || this.expiresAt === null || this.warnedExpiry) return;
    this.warnedExpiry = true;
    const seconds = Math.round((this.expiresAt - Date.now()) / 1000);
    this.options.logger.warn(
      `the access token expires at ${new Date(this.expiresAt).toISOString()} (in ${seconds} s) and ` +
        'there is no getToken option to renew it: the server will end this session then',
    );
  }
}
