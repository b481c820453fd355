/** What a {@link ReconnectPolicy} knows when it picks the next delay. */
export interface ReconnectContext {
  /** Attempts already made since the connection was lost (0 before the first one). */
  retryCount: number;
  /** Milliseconds since the connection was lost (or since `connect()` for the first connection). */
  elapsedMs: number;
  /** Why the connection or the last attempt failed (Socket.IO's reason or error message). */
  reason: string;
  /** Minimum wait the server asked for in `serverShutdown`, when it sent one. */
  serverHintMs?: number;
  /** How long the server keeps the peer resumable after a drop, from `GET /webrtc/config`. */
  resumeWindowMs?: number;
}

/**
 * Decides when the client tries to reach the server again after losing it.
 * @example
 * // Retry every 2 s, forever.
 * const policy: ReconnectPolicy = { nextRetryDelayMs: () => 2000 };
 */
export interface ReconnectPolicy {
  /** Delay before the next attempt, in ms, or `null` to stop trying. */
  nextRetryDelayMs(context: ReconnectContext): number | null;
}

/** Options of {@link DefaultReconnectPolicy}. */
export interface DefaultReconnectPolicyOptions {
  /**
   * Base delay of each attempt, in ms; the last entry repeats.
   * Default `[0, 300, 1200, 2700, 4800, 7000]`.
   */
  delaysMs?: readonly number[];
  /** Random extra wait, as a fraction of the base delay (0.25 adds 0-25 %), so clients do not return in lockstep. Default 0.25. */
  jitterRatio?: number;
  /** Stop after this many attempts. Default 50. */
  maxRetries?: number;
  /** Stop once this long has passed since the loss, ms. Default 300000 (5 min). */
  maxElapsedMs?: number;
  /** Source of randomness in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** The delays used when the server's settings are unknown. */
export const DEFAULT_RECONNECT_DELAYS_MS: readonly number[] = [0, 300, 1200, 2700, 4800, 7000];

/**
 * The default policy: a short table of delays plus jitter, honouring the server's
 * `serverShutdown` hint, bounded in attempts and in time.
 */
export class DefaultReconnectPolicy implements ReconnectPolicy {
  readonly delaysMs: readonly number[];
  private readonly jitterRatio: number;
  private readonly maxRetries: number;
  private readonly maxElapsedMs: number;
  private readonly random: () => number;

  constructor(options: DefaultReconnectPolicyOptions = {}) {
    const delays = options.delaysMs ?? DEFAULT_RECONNECT_DELAYS_MS;
    if (delays.length === 0 || delays.some((d) => !Number.isFinite(d) || d < 0)) {
      throw new RangeError('delaysMs must be a non-empty list of non-negative numbers');
    }
    this.delaysMs = [...delays];
    this.jitterRatio = options.jitterRatio ?? 0.25;
    this.maxRetries = options.maxRetries ?? 50;
    this.maxElapsedMs = options.maxElapsedMs ?? 300_000;
    this.random = options.random ?? Math.random;
  }

  /**
   * A policy whose table follows the server's Socket.IO settings (`GET /webrtc/config`):
   * an immediate first retry, then `reconnectionDelay` doubling up to `reconnectionDelayMax`.
   */
  static fromServerConfig(
    config: { reconnectionDelay: number; reconnectionDelayMax: number },
    options: Omit<DefaultReconnectPolicyOptions, 'delaysMs'> = {},
  ): DefaultReconnectPolicy {
    const first = Math.max(0, config.reconnectionDelay);
    const max = Math.max(first, config.reconnectionDelayMax);
    const delaysMs = [0];
    for (let d = first; delaysMs.length < 12; d *= 2) {
      delaysMs.push(Math.min(d, max));
      if (d >= max || d === 0) break;
    }
    return new DefaultReconnectPolicy({ ...options, delaysMs });
  }

  nextRetryDelayMs(context: ReconnectContext): number | null {
    if (context.retryCount >= this.maxRetries || context.elapsedMs >= this.maxElapsedMs) return null;
    const base = this.delaysMs[Math.min(context.retryCount, this.delaysMs.length - 1)];
    let delay = base + base * this.jitterRatio * this.random();
    if (context.serverHintMs !== undefined && context.serverHintMs > delay) {
      // A draining server names the earliest useful moment; spread clients just after it.
      delay = context.serverHintMs * (1 + this.jitterRatio * this.random());
    }
    return Math.round(delay);
  }
}
