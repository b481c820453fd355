import {
  createRemoteJWKSet,
  errors,
  importSPKI,
  jwtVerify,
  type CryptoKey,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { Clock } from '../common/clock';

/** What a verified token says about its holder. */
export interface AuthenticatedUser {
  /** The user (`sub`): 1-128 characters. Shown to other peers as `userId`. */
  sub: string;
  /** Expiry (`exp`), Unix seconds. */
  exp: number;
  /** Default display name (`name`), trimmed and cut to 64 characters; absent when the token has none. */
  name?: string;
  /** Rooms the token grants (`room` and `rooms`), or `'*'` for every room. Empty: none. */
  rooms: '*' | readonly string[];
  /** The token grants the admin API (`admin: true`). */
  admin?: true;
}

/** Why a token was refused. Metric label values; the message sent with them is separate. */
export type TokenFailureReason = 'invalid' | 'expired' | 'not_yet_valid' | 'key_unavailable';

export type VerifyResult =
  { ok: true; user: AuthenticatedUser } | { ok: false; reason: TokenFailureReason; message: string };

/** Where the keys that sign tokens come from (one of AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY, AUTH_JWKS_URL). */
export type TokenKeySource =
  { kind: 'secret'; secret: string } | { kind: 'publicKey'; pem: string } | { kind: 'jwks'; url: string };

export interface TokenVerifierOptions {
  /** The signing keys. */
  keys: TokenKeySource;
  /** Required `iss`. Default none (not checked). */
  issuer?: string;
  /** Required `aud`: the token's `aud` must be it or contain it. Default none (not checked). */
  audience?: string;
  /** Clock skew allowed between the token's issuer and this server on `exp`, `nbf` and `iat`, s. Default 5. */
  clockToleranceSeconds?: number;
  /** JWKS: least time between two fetches caused by a token with an unknown `kid`, ms. Default 30000. */
  jwksCooldownMs?: number;
  /** JWKS: a fetched key set is fetched again after this long, ms. Default 600000 (10 minutes). */
  jwksCacheMaxAgeMs?: number;
  /** JWKS: how long one fetch may take before verification fails `key_unavailable`, ms. Default 5000. */
  jwksTimeoutMs?: number;
}

/** The JWS algorithms a PEM public key may be used with, tried in this order; one per key type. */
const PUBLIC_KEY_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
/** JWKS keys are asymmetric only: an `oct` key in the set can never verify a token. */
const JWKS_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];
const MAX_SUB_LENGTH = 128;
const MAX_NAME_LENGTH = 64;

/**
 * Verifies the JWTs an app's backend issues to its users: signature (with the algorithm pinned to the
 * configured key, so `alg: none` and an HS256 token "signed" with a public key's text are refused),
 * `exp` (required), `nbf` and `iat` (not in the future), `iss` and `aud` when configured, and the
 * claims Switchboard reads: `sub` (required), `name`, `room`/`rooms`. Time comes from the injected
 * {@link Clock}. Framework-free; built once at start-up with {@link TokenVerifier.create}.
 *
 * @example
 * const verifier = await TokenVerifier.create({ keys: { kind: 'secret', secret } }, clock);
 * const result = await verifier.verify(token);
 * if (result.ok) console.log(result.user.sub, result.user.rooms);
 */
export class TokenVerifier {
  /** Seconds of clock skew allowed on `exp`, `nbf` and `iat`. */
  readonly clockToleranceSeconds: number;

  private constructor(
    private readonly key: Uint8Array | CryptoKey | JWTVerifyGetKey,
    /** The algorithms a token may be signed with (pinned to the key). */
    readonly algorithms: readonly string[],
    /** How the keys were configured, for the start-up log line. */
    readonly description: string,
    private readonly options: TokenVerifierOptions,
    private readonly clock: Clock,
  ) {
    this.clockToleranceSeconds = options.clockToleranceSeconds ?? 5;
  }

  /**
   * Prepares the keys. A PEM key is imported with jose's `importSPKI` for each algorithm in turn
   * (RS256, ES256, EdDSA) and pinned to the one that takes it. A JWKS is not fetched here, only on
   * the first verification (and it is refetched when its cache ages or an unknown `kid` appears).
   * Rejects when the PEM key fits none of them.
   */
  static async create(options: TokenVerifierOptions, clock: Clock): Promise<TokenVerifier> {
    const source = options.keys;
    switch (source.kind) {
      case 'secret':
        return new TokenVerifier(
          new TextEncoder().encode(source.secret),
          ['HS256'],
          'HS256 shared secret (AUTH_JWT_SECRET)',
          options,
          clock,
        );
      case 'publicKey': {
        for (const alg of PUBLIC_KEY_ALGORITHMS) {
          let key: CryptoKey;
          try {
            key = await importSPKI(source.pem, alg);
          } catch {
            continue;
          }
          return new TokenVerifier(key, [alg], `${alg} public key (AUTH_JWT_PUBLIC_KEY)`, options, clock);
        }
        throw new Error('the public key fits none of RS256, ES256, EdDSA');
      }
      case 'jwks': {
        const jwks = createRemoteJWKSet(new URL(source.url), {
          cooldownDuration: options.jwksCooldownMs ?? 30_000,
          cacheMaxAge: options.jwksCacheMaxAgeMs ?? 600_000,
          timeoutDuration: options.jwksTimeoutMs ?? 5000,
        });
        return new TokenVerifier(jwks, JWKS_ALGORITHMS, `JWKS ${source.url} (AUTH_JWKS_URL)`, options, clock);
      }
    }
  }

  /** Verifies `token`; never throws. */
  async verify(token: string): Promise<VerifyResult> {
    const now = this.clock.now();
    let payload: JWTPayload;
    const options = {
      algorithms: [...this.algorithms],
      issuer: this.options.issuer,
      audience: this.options.audience,
      clockTolerance: this.clockToleranceSeconds,
      currentDate: new Date(now),
      requiredClaims: ['sub', 'exp'],
    };
    const key = this.key;
    try {
      ({ payload } =
        typeof key === 'function'
          ? await jwtVerify(token, key, options)
          : await jwtVerify(token, key, options));
    } catch (err) {
      return refusal(err, typeof key === 'function');
    }
    // jose checks `iat` only against a maximum age; a token issued in the future is as wrong as `nbf`.
    if (typeof payload.iat === 'number' && payload.iat > Math.floor(now / 1000) + this.clockToleranceSeconds)
      return { ok: false, reason: 'not_yet_valid', message: 'token is issued in the future (iat)' };
    return readClaims(payload);
  }
}

/** The claims Switchboard reads, checked; jose has already checked `exp` is a number. */
function readClaims(payload: JWTPayload): VerifyResult {
  const { sub, exp, name } = payload;
  const invalid = (message: string): VerifyResult => ({ ok: false, reason: 'invalid', message });
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_LENGTH)
    return invalid(`token sub must be a string of 1-${MAX_SUB_LENGTH} characters`);
  if (name !== undefined && typeof name !== 'string') return invalid('token name must be a string');
  const rooms = grantOf(payload.room, payload.rooms);
  if (rooms === undefined) return invalid('token room must be a string and rooms an array of strings');
  const displayName = name === undefined ? '' : [...name.trim()].slice(0, MAX_NAME_LENGTH).join('');
  return {
    ok: true,
    user: {
      sub,
      exp: exp as number,
      rooms,
      ...(displayName.length > 0 ? { name: displayName } : {}),
      ...(payload.admin === true ? { admin: true as const } : {}),
    },
  };
}

/** `room` and `rooms` together; `'*'` when either grants every room; undefined when malformed. */
function grantOf(room: unknown, rooms: unknown): '*' | string[] | undefined {
  const granted: string[] = [];
  if (room !== undefined) {
    if (typeof room !== 'string') return undefined;
    granted.push(room);
  }
  if (rooms !== undefined) {
    if (!Array.isArray(rooms) || !rooms.every((r): r is string => typeof r === 'string')) return undefined;
    granted.push(...rooms);
  }
  return granted.includes('*') ? '*' : granted;
}

/** Whether `user`'s token lets it join `roomId`. */
export function grantsRoom(user: AuthenticatedUser, roomId: string): boolean {
  return user.rooms === '*' || user.rooms.includes(roomId);
}

/** A jose error as a reason and a message that says what was wrong without echoing the token. */
function refusal(err: unknown, remoteKeys: boolean): VerifyResult {
  const fail = (reason: TokenFailureReason, message: string): VerifyResult => ({
    ok: false,
    reason,
    message,
  });
  if (err instanceof errors.JWTExpired) return fail('expired', 'token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return fail('not_yet_valid', 'token is not valid yet (nbf)');
    if (err.reason === 'missing') return fail('invalid', `token has no ${err.claim} claim`);
    return fail('invalid', `token ${err.claim} claim is not accepted`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return fail('invalid', 'token algorithm is not accepted');
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return fail('invalid', 'token signature does not verify');
  if (err instanceof errors.JWKSNoMatchingKey)
    return fail('invalid', 'token key (kid) is not in the key set');
  if (err instanceof errors.JWKSMultipleMatchingKeys)
    return fail('invalid', 'token names no kid and the key set has several keys');
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid)
    return fail('key_unavailable', 'the signing keys could not be fetched; retry later');
  // A JWKS fetch that failed below jose (connection refused, DNS) is not the client's fault.
  if (remoteKeys && !(err instanceof errors.JOSEError))
    return fail('key_unavailable', 'the signing keys could not be fetched; retry later');
  return fail('invalid', 'token is malformed');
}

/** Injection token of the app's {@link TokenVerifier}; its value is null when authentication is off. */
export const TOKEN_VERIFIER = Symbol('TOKEN_VERIFIER');
