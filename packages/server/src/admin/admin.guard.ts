import {
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  NotFoundException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { ErrorCode } from '@switchboard/protocol';
import type { Request, Response } from 'express';
import { timingSafeEqual } from 'node:crypto';
import { Authenticator } from '../auth/authenticator';
import { APP_CONFIG, type AppConfig } from '../config/config';

/**
 * Guards `/admin`. A bearer is an admin when it presents `ADMIN_API_TOKEN`, or (authentication on) a
 * JWT with `admin: true` verified like every client token (failures counted and throttled per IP).
 * With neither configured, the admin API does not exist: 404, never open by accident. A valid token
 * without the admin grant gets 403 `FORBIDDEN`; anything else 401 `UNAUTHORIZED`.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  private readonly staticToken: Buffer | undefined;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(Authenticator) private readonly auth: Authenticator,
  ) {
    this.staticToken = config.ADMIN_API_TOKEN === undefined ? undefined : Buffer.from(config.ADMIN_API_TOKEN);
  }

  /** Whether the admin API is on at all. */
  get enabled(): boolean {
    return this.staticToken !== undefined || this.auth.required;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (!this.enabled) throw new NotFoundException();
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const token = /^Bearer +(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (token !== undefined && this.staticToken !== undefined) {
      const presented = Buffer.from(token);
      if (presented.length === this.staticToken.length && timingSafeEqual(presented, this.staticToken))
        return true;
    }
    if (this.auth.required) {
      const outcome = await this.auth.authenticate(token, req);
      if (outcome.ok && outcome.user.admin) return true;
      if (outcome.ok)
        throw new HttpException(
          {
            error: {
              code: ErrorCode.FORBIDDEN,
              message: 'the token does not grant the admin API (admin: true)',
            },
          },
          HttpStatus.FORBIDDEN,
        );
      if (outcome.retryAfterMs !== undefined)
        http.getResponse<Response>().setHeader('Retry-After', String(Math.ceil(outcome.retryAfterMs / 1000)));
    }
    http.getResponse<Response>().setHeader('WWW-Authenticate', 'Bearer');
    throw new HttpException(
      { error: { code: ErrorCode.UNAUTHORIZED, message: 'an admin token is required' } },
      HttpStatus.UNAUTHORIZED,
    );
  }
}
