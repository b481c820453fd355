import {
  applyDecorators,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  SetMetadata,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ErrorCode } from '@switchboard/protocol';
import type { Request, Response } from 'express';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import { clientIp, limitKey } from './client-ip';

/** A per-client-IP request budget for one route. */
export interface IpRateLimitSpec {
  /** Name of the limit: the `limit` label of `switchboard_rate_limited_total`. */
  limit: string;
  /** Requests one client IP (IPv6: its /64) may make per minute; 0 = no limit. */
  perMinute: (config: AppConfig) => number;
}

const IP_RATE_LIMIT = Symbol('ipRateLimit');

/**
 * Limits a route to `perMinute` requests per client IP per minute (fixed one-minute window from the
 * client's first request). Past it the route answers 429 with `Retry-After` (seconds) and
 * `{ error: { code: 'RATE_LIMITED', message, retryAfterMs } }`.
 *
 * @example
 * @Get('ice-servers')
 * @IpRateLimit({ limit: 'ice_servers', perMinute: (c) => c.ICE_SERVERS_RATE_PER_IP })
 * getIceServers() { ... }
 */
export function IpRateLimit(spec: IpRateLimitSpec): MethodDecorator {
  return applyDecorators(SetMetadata(IP_RATE_LIMIT, spec), UseGuards(IpRateLimitGuard));
}

/** The guard behind `@IpRateLimit`; one in-memory limiter per named limit. */
@Injectable()
export class IpRateLimitGuard implements CanActivate {
  private readonly limiters = new Map<string, RateLimiterMemory | undefined>();

  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(MetricsService) private readonly metrics: MetricsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const spec = this.reflector.get<IpRateLimitSpec | undefined>(IP_RATE_LIMIT, context.getHandler());
    if (!spec) return true;
    const limiter = this.limiterFor(spec);
    if (!limiter) return true;
    const http = context.switchToHttp();
    // The same address (and IPv6 grouping) the WebSocket caps count under.
    const key = limitKey(clientIp(http.getRequest<Request>(), this.config.TRUST_PROXY));
    try {
      await limiter.consume(key);
      return true;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      this.metrics.rateLimited(spec.limit);
      const retryAfterMs = Math.max(1, Math.ceil(err.msBeforeNext));
      http.getResponse<Response>().setHeader('Retry-After', String(Math.ceil(retryAfterMs / 1000)));
      throw new HttpException(
        {
          error: {
            code: ErrorCode.RATE_LIMITED,
            message: `Too many requests from this address; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
            retryAfterMs,
          },
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
  }

  private limiterFor(spec: IpRateLimitSpec): RateLimiterMemory | undefined {
    if (!this.limiters.has(spec.limit)) {
      const points = spec.perMinute(this.config);
      this.limiters.set(spec.limit, points > 0 ? new RateLimiterMemory({ points, duration: 60 }) : undefined);
    }
    return this.limiters.get(spec.limit);
  }
}
