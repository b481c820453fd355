import {
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { ErrorCode } from '@switchboard/protocol';
import type { Request, Response } from 'express';
import { Authenticator } from './authenticator';
import type { AuthenticatedUser } from './token-verifier';

// Where the guard leaves the verified user on the request, for the handler.
const USER = Symbol('authenticatedUser');
type AuthenticatedRequest = Request & { [USER]?: AuthenticatedUser };

/**
 * Requires `Authorization: Bearer <token>` on a route when authentication is on (a no-op when it is
 * off). Without a valid token the route answers 401 with `WWW-Authenticate: Bearer` (RFC 6750) and
 * `{ error: { code: 'UNAUTHORIZED', message } }`; a client IP blocked for failing too often also gets
 * `Retry-After`. The handler reads the user with {@link authenticatedUser}.
 *
 * @example
 * @Get('ice-servers')
 * @RequireToken()
 * getIceServers(@Req() req: Request) { return ice.getIceServers(authenticatedUser(req)?.sub); }
 */
export function RequireToken(): MethodDecorator {
  return UseGuards(BearerAuthGuard);
}

/** The user a {@link RequireToken} route's token named; undefined when authentication is off. */
export function authenticatedUser(req: Request): AuthenticatedUser | undefined {
  return (req as AuthenticatedRequest)[USER];
}

/** The guard behind `@RequireToken()`. */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  constructor(@Inject(Authenticator) private readonly auth: Authenticator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (!this.auth.required) return true;
    const http = context.switchToHttp();
    const req = http.getRequest<AuthenticatedRequest>();
    const token = /^Bearer +(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const outcome = await this.auth.authenticate(token, req);
    if (outcome.ok) {
      req[USER] = outcome.user;
      return true;
    }
    const res = http.getResponse<Response>();
    // RFC 6750 §3.1: no error code when the request carried no credentials at all.
    res.setHeader(
      'WWW-Authenticate',
      outcome.reason === 'missing' ? 'Bearer' : 'Bearer error="invalid_token"',
    );
    if (outcome.retryAfterMs !== undefined)
      res.setHeader('Retry-After', String(Math.ceil(outcome.retryAfterMs / 1000)));
    throw new HttpException(
      { error: { code: ErrorCode.UNAUTHORIZED, message: outcome.message } },
      HttpStatus.UNAUTHORIZED,
    );
  }
}
