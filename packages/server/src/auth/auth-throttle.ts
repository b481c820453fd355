import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export interface AuthThrottleOptions {
  /** Failed authentications one client IP may make in a minute; the last of them blocks it. 0 = no throttle. Default 20. */
  failuresPerMinute: number;
  /** How long a blocked client IP stays blocked, s. Default 300. */
  blockSeconds: number;
  /** Added to the answer of each failure per earlier failure of the same IP in the minute, ms. Default 100. */
  delayStepMs?: number;
  /** Longest delay a failed attempt's answer gets, ms. Default 1000. */
  maxDelayMs?: number;
}

/**
 * Failed authentications per client IP (a limit key from `limitKey()`): each failure is answered a
 * little later than the one before (slowed), and after `failuresPerMinute` within a minute the IP is
 * blocked for `blockSeconds`: its attempts are refused without their token being verified (which may
 * cost a JWKS fetch). Honest clients fail rarely (an expired token, once); the first failure is not
 * delayed. Framework-free, in memory and per instance, like the other per-IP limits.
 *
 * @example
 * const throttle = new AuthThrottle({ failuresPerMinute: 20, blockSeconds: 300 });
 * if ((await throttle.blockedFor(key)) > 0) return refuse();
 * if (!verified) await sleep(await throttle.failed(key));
 */
export class AuthThrottle {
  private readonly limiter: RateLimiterMemory | undefined;
  private readonly delayStepMs: number;
  private readonly maxDelayMs: number;

  constructor(private readonly options: AuthThrottleOptions) {
    this.limiter =
      options.failuresPerMinute > 0
        ? new RateLimiterMemory({ points: options.failuresPerMinute, duration: 60 })
        : undefined;
    this.delayStepMs = options.delayStepMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 1000;
  }

  /** How long `key` stays blocked, ms; 0 when it is not blocked. */
  async blockedFor(key: string): Promise<number> {
    if (!this.limiter) return 0;
    const res = await this.limiter.get(key);
    return res && res.consumedPoints >= this.options.failuresPerMinute ? Math.max(1, res.msBeforeNext) : 0;
  }

  /**
   * Records a failed authentication from `key`; blocks it when that was the last one allowed. Returns
   * how long to wait before answering it, ms.
   */
  async failed(key: string): Promise<number> {
    const limiter = this.limiter;
    if (!limiter) return 0;
    let consumed: number;
    try {
      consumed = (await limiter.consume(key)).consumedPoints;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      consumed = err.consumedPoints; // already past the allowance (attempts that raced the block)
    }
    if (consumed >= this.options.failuresPerMinute) await limiter.block(key, this.options.blockSeconds);
    return Math.min(this.maxDelayMs, (consumed - 1) * this.delayStepMs);
  }
}
