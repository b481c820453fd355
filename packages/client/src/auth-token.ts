/**
 * Reading the access token (a JWT) on the client: only what scheduling its renewal needs. The
 * signature is not checked here (the client has no key, and the server verifies every token).
 */

/** The latest a refresh happens before the token's `exp`, ms (see {@link tokenRefreshDelayMs}). */
export const TOKEN_REFRESH_MARGIN_MS = 60_000;
/** Share of a token's lifetime (from when the client got it) after which it may be refreshed. */
export const TOKEN_REFRESH_AT_LIFETIME = 0.75;

/**
 * The payload of a JWT (`header.payload.signature`, base64url JSON), or `null` when `token` is not
 * a JWT. Not verified.
 */
export function decodeJwtPayload(token: string): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return null;
  try {
    const base64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const payload: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return payload !== null && typeof payload === 'object' && !Array.isArray(payload)
      ? (payload as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** When the token expires (its `exp` claim, as epoch ms), or `null` when it is not a JWT or has no `exp`. */
export function tokenExpiresAt(token: string): number | null {
  const exp = decodeJwtPayload(token)?.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
}

/**
 * How long to wait before refreshing a token that expires at `expiresAt` and was obtained at
 * `receivedAt` (epoch ms): until the later of 75 % of its lifetime and one minute before `exp`.
 * A one-hour token is refreshed at 59 min, a 4-minute one at 3 min, a 5-second one at 3.75 s.
 * The lifetime is counted from `receivedAt` on the client's clock rather than from `iat`, which
 * was written by another machine's clock. 0 when the refresh is due (or the token has expired).
 */
export function tokenRefreshDelayMs(expiresAt: number, receivedAt: number, now: number): number {
  const lifetime = Math.max(0, expiresAt - receivedAt);
  const refreshAt = Math.max(
    receivedAt + lifetime * TOKEN_REFRESH_AT_LIFETIME,
    expiresAt - TOKEN_REFRESH_MARGIN_MS,
  );
  return Math.max(0, Math.min(refreshAt, expiresAt) - now);
}
