import { SignJWT } from 'jose';

/** The `AUTH_JWT_SECRET` the tests start servers with (HS256 needs at least 32 bytes). */
export const TEST_AUTH_SECRET = 'switchboard-test-secret-0123456789abcdef';

export interface TokenClaims {
  sub: string;
  /** The grant: one room, several, or `'*'`. */
  room?: string;
  rooms?: string[];
  name?: string;
  /** Lifetime in seconds (`exp` is whole seconds, so the token lives between ttl - 1 and ttl s). Default 3600. */
  ttlSeconds?: number;
}

/** An HS256 access token as a deployment's backend (or `npm run token`) would mint it. */
export async function mintToken(claims: TokenClaims, secret = TEST_AUTH_SECRET): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const body: Record<string, unknown> = {};
  if (claims.room !== undefined) body.room = claims.room;
  if (claims.rooms !== undefined) body.rooms = claims.rooms;
  if (claims.name !== undefined) body.name = claims.name;
  return new SignJWT(body)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setJti(Math.random().toString(36).slice(2))
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.ttlSeconds ?? 3600))
    .sign(new TextEncoder().encode(secret));
}
