import { createPublicKey } from 'node:crypto';
import { z } from 'zod';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no']))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const urlList = (scheme: RegExp) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u.length > 0),
    )
    .pipe(z.array(z.string().regex(scheme, `each entry must match ${scheme}`)));

/**
 * Every environment variable the server reads, with its default. `.env.example` and the README's
 * table list the same set; `config.test.ts` checks they agree.
 */
export const envSchema = z
  .object({
    /** TCP port of HTTP and Socket.IO. 0 picks a free port. Default 3000. */
    PORT: int(0, 65535).default(3000),
    /** Interface to listen on. Default 0.0.0.0. */
    HOST: z.string().trim().min(1).default('0.0.0.0'),
    /** pino level: fatal, error, warn, info, debug, trace or silent. Default info. */
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Serve the demo call page at `/`. Default true. */
    DEMO_ENABLED: bool.default(true),
    /** Expose Prometheus metrics at GET /metrics. Default true. */
    METRICS_ENABLED: bool.default(true),
    /** Allowed CORS origins for HTTP and Socket.IO, comma-separated, or `*`. Default `*`. */
    CORS_ORIGIN: z.string().trim().default('*'),
    /** STUN URLs, comma-separated; empty for none. Default Google's public STUN. */
    STUN_URLS: urlList(/^stuns?:/).default(['stun:stun.l.google.com:19302']),
    /** TURN URLs, comma-separated. Default none. */
    TURN_URL: urlList(/^turns?:/).default([]),
    /** Static TURN username (with TURN_PASSWORD), when TURN_SECRET is not set. */
    TURN_USERNAME: z.string().optional(),
    /** Static TURN password. */
    TURN_PASSWORD: z.string().optional(),
    /** Shared secret for TURN REST API credentials (coturn `static-auth-secret`). */
    TURN_SECRET: z.string().min(1).optional(),
    /** Lifetime of minted TURN credentials, seconds. Default 3600. */
    TURN_TTL: int(60, 7 * 24 * 3600).default(3600),
    /** Maximum peers in one room. Default 16. */
    MAX_PEERS_PER_ROOM: int(2, 1000).default(16),
    /** Largest SDP accepted, bytes. Default 65536. */
    MAX_SDP_BYTES: int(256, 1024 * 1024).default(64 * 1024),
    /** How long a dropped peer keeps its id and rooms, ms. Default 30000. */
    RESUME_WINDOW_MS: int(1000, 10 * 60_000).default(30_000),
    /** Window in which a repeated messageId is answered as a duplicate, and idle expiry of a pair's context, ms. Default 30000. */
    SIGNAL_DEDUP_WINDOW_MS: int(1000, 10 * 60_000).default(30_000),
    /** Signals held per sender→receiver pair while the receiver reconnects. Default 256. */
    MAX_BUFFERED_SIGNALS_PER_PAIR: int(1, 100_000).default(256),
    /** Socket.IO connection state recovery (replays what a dropped socket missed); resume tokens work either way. Default true. */
    CONNECTION_STATE_RECOVERY: bool.default(true),
    /** When the server is busy, serve call setup first and other relay traffic in turns (docs/performance.md). Default true. */
    CALL_SETUP_FIRST: bool.default(true),
    /** Recent signals kept per peer so connection state recovery can replay what a dropped socket missed. Default 32. */
    RECOVERY_MAX_PACKETS_PER_PEER: int(1, 10_000).default(32),
    /** Memory for those signals over all peers, MiB, allocated outside the JS heap on first use; the oldest are overwritten first. Default 32. */
    RECOVERY_BUFFER_MB: int(1, 4096).default(32),
    /** ICE restarts the server requests per pair before declaring the link failed. Default 2. */
    ICE_RESTART_MAX_ATTEMPTS: int(0, 10).default(2),
    /** Minimum time between two ICE restart requests for a pair, ms. Default 5000. */
    ICE_RESTART_MIN_INTERVAL_MS: int(0, 600_000).default(5000),
    /** Time a restarted link has to report `connected` before the next attempt, ms. Default 15000. */
    ICE_RESTART_TIMEOUT_MS: int(100, 600_000).default(15_000),
    /** A link reported `disconnected` for this long is treated as failed, ms. Default 5000. */
    DISCONNECTED_TIMEOUT_MS: int(100, 600_000).default(5000),
    /** Socket.IO pingInterval, ms. Default 25000. */
    PING_INTERVAL: int(100, 600_000).default(25_000),
    /** Socket.IO pingTimeout, ms. Default 20000. */
    PING_TIMEOUT: int(100, 600_000).default(20_000),
    /** Largest Socket.IO message, bytes; a bigger one closes the connection. Default 262144, or 2 × MAX_SDP_BYTES + 4096 when that is larger. */
    MAX_HTTP_BUFFER_SIZE: int(1024, 100_000_000).default(256 * 1024),
    /** Client reconnection delay published at GET /webrtc/config, ms. Default 1000. */
    RECONNECTION_DELAY: int(0, 600_000).default(1000),
    /** Client maximum reconnection delay published at GET /webrtc/config, ms. Default 5000. */
    RECONNECTION_DELAY_MAX: int(0, 600_000).default(5000),
    /** Longest graceful shutdown before the process exits anyway, ms. Default 10000. */
    SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),

    // ---- limits: what one client may cost the server (docs/operations.md, "Security") ----
    /** Most bytes the server queues for one connection (Engine.IO buffer + WebSocket); past it the connection is closed. Default 1048576 (1 MiB). */
    MAX_OUTBOUND_BUFFER_BYTES: int(16 * 1024, 1024 * 1024 * 1024).default(1024 * 1024),
    /** A connection with bytes waiting that the client has not read for this long is closed, ms; pongs do not count as reading. Default 20000. */
    OUTBOUND_STALL_TIMEOUT_MS: int(1000, 600_000).default(20_000),
    /** Signals (offer, answer, iceCandidate) one connection may send per second, sustained; 0 = no limit. Default 200. */
    SIGNAL_RATE_PER_SEC: int(0, 1_000_000).default(200),
    /** Signals one connection may send in a burst above the sustained rate. Default 600. */
    SIGNAL_BURST: int(1, 1_000_000).default(600),
    /** Joins, leaves and refreshTokens one connection may send per second, sustained; 0 = no limit. Default 2. */
    JOIN_RATE_PER_SEC: int(0, 100_000).default(2),
    /** Joins, leaves and refreshTokens one connection may send in a burst. Default 10. */
    JOIN_BURST: int(1, 100_000).default(10),
    /** Connection-state reports one connection may send per second, sustained; 0 = no limit. Default 10. */
    STATE_REPORT_RATE_PER_SEC: int(0, 100_000).default(10),
    /** Connection-state reports one connection may send in a burst. Default 60. */
    STATE_REPORT_BURST: int(1, 100_000).default(60),
    /** Rate-limited requests a connection may make in 10 s before it is disconnected (`disconnectReason` RATE_LIMITED). Default 50. */
    RATE_LIMIT_DISCONNECT_AFTER: int(1, 1_000_000).default(50),
    /** After 3 rate-limit disconnects within a minute, a client IP's new connections are refused for this long, s; 0 = never. Default 60. */
    RATE_LIMIT_IP_BLOCK_SECONDS: int(0, 86_400).default(60),
    /** Rooms one peer may be in at once; a further join gets TOO_MANY_ROOMS. Default 8. */
    MAX_ROOMS_PER_PEER: int(1, 10_000).default(8),
    /** Concurrent Socket.IO connections from one client IP; 0 = no limit. Default 200. */
    MAX_CONNECTIONS_PER_IP: int(0, 1_000_000).default(200),
    /** New Socket.IO connections one client IP may open per minute; 0 = no limit. Default 300. */
    CONNECTION_RATE_PER_IP: int(0, 1_000_000).default(300),
    /** Concurrent Socket.IO connections in all; 0 = derived from the open-file limit (soft limit minus an eighth, at least 128, kept for HTTP). Default 0. */
    MAX_CONNECTIONS: int(0, 10_000_000).default(0),
    /** Take the client IP from X-Forwarded-For: `false`, `true` (one proxy) or the number of proxies in front. Default false. */
    TRUST_PROXY: z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^(true|false|\d{1,2})$/, 'must be true, false or a number of proxies')
      .transform((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v)))
      .default(0),
    /** GET /webrtc/ice-servers requests one client IP may make per minute; 0 = no limit. Default 60. */
    ICE_SERVERS_RATE_PER_IP: int(0, 1_000_000).default(60),
    /**
     * Static bearer token of the admin API (`/admin`), at least 32 characters; a JWT with
     * `admin: true` verified with the AUTH_* keys also works. With neither, the admin API answers 404.
     * Default none.
     */
    ADMIN_API_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
    /** Webhook receivers (http:// or https:// URLs), comma-separated; each gets every event. Default none. */
    WEBHOOK_URLS: urlList(/^https?:\/\/[^\s]+$/).default([]),
    /**
     * Standard Webhooks signing secret, `whsec_` and base64 of at least 24 bytes; required with
     * WEBHOOK_URLS. Default none.
     */
    WEBHOOK_SECRET: z
      .string()
      .refine(
        (s) => /^whsec_[A-Za-z0-9+/]+={0,2}$/.test(s) && Buffer.from(s.slice(6), 'base64').length >= 24,
        'must be whsec_ followed by base64 of at least 24 bytes',
      )
      .optional(),
    /** Events waiting per webhook receiver; beyond it the oldest is dropped (counted). Default 1000. */
    WEBHOOK_QUEUE_SIZE: int(1, 1_000_000).default(1000),
    /** Delivery attempts of one event (exponential backoff from 500 ms to 30 s) before it is given up. Default 10. */
    WEBHOOK_MAX_ATTEMPTS: int(1, 100).default(10),
    /** A webhook delivery not answered within this long fails and is retried, ms. Default 5000. */
    WEBHOOK_TIMEOUT_MS: int(100, 60_000).default(5000),
    /** Bearer token required by GET /metrics. Default none (open, or see METRICS_PORT). */
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Serve /metrics on this port (on METRICS_HOST) instead of the public one. Default none. */
    METRICS_PORT: int(0, 65535).optional(),
    /** Interface of METRICS_PORT. Default 127.0.0.1. */
    METRICS_HOST: z.string().trim().min(1).default('127.0.0.1'),

    // ---- authentication (docs/operations.md, "Authentication"); at most one key source, none = open ----
    /** HS256 shared secret tokens are signed with, at least 32 bytes. Default none. */
    AUTH_JWT_SECRET: z
      .string()
      .refine(
        (s) => Buffer.byteLength(s, 'utf8') >= 32,
        'must be at least 32 bytes (HS256 keys shorter than the hash are guessable)',
      )
      .optional(),
    /** PEM public key (SPKI) tokens are verified with: RSA ≥ 2048 bits (RS256), EC P-256 (ES256) or Ed25519 (EdDSA); `\n` escapes are read as line breaks. Default none. */
    AUTH_JWT_PUBLIC_KEY: z
      .string()
      .transform((s) => s.replace(/\\n/g, '\n').trim())
      .check((ctx) => {
        const problem = publicKeyProblem(ctx.value);
        if (problem) ctx.issues.push({ code: 'custom', input: ctx.value, message: problem });
      })
      .optional(),
    /** URL of a JSON Web Key Set (RS256, ES256 or EdDSA keys, picked by `kid`), fetched on first use and refreshed. Default none. */
    AUTH_JWKS_URL: z
      .string()
      .trim()
      .refine((s) => /^https?:\/\//i.test(s) && URL.canParse(s), 'must be an http(s) URL')
      .optional(),
    /** Required `iss` claim. Default none (not checked). */
    AUTH_JWT_ISSUER: z.string().trim().min(1).optional(),
    /** Required `aud` claim (the token's `aud` must be or contain it). Default none (not checked). */
    AUTH_JWT_AUDIENCE: z.string().trim().min(1).optional(),
    /** Failed authentications one client IP may make per minute; the next ones are refused for AUTH_BLOCK_SECONDS; 0 = no limit. Default 20. */
    AUTH_FAILURES_PER_IP: int(0, 1_000_000).default(20),
    /** How long a client IP that reached AUTH_FAILURES_PER_IP stays refused, s. Default 300. */
    AUTH_BLOCK_SECONDS: int(1, 86_400).default(300),

    // ---- scale-out (docs/operations.md, "Scaling"); none = one instance, state in memory ----
    /**
     * Redis shared by every instance (`redis://[user:password@]host:port[/db]`, or `rediss://` for TLS):
     * rooms, sessions, resume tokens and signaling state live there, and Socket.IO's Redis sharded
     * adapter carries emits between instances. Needs Redis 7.0 or later. Default none (one instance,
     * in-memory state).
     */
    REDIS_URL: z
      .string()
      .trim()
      .refine((s) => /^rediss?:\/\/[^/?#]/i.test(s) && URL.canParse(s), 'must be a redis:// or rediss:// URL')
      .optional(),
    /** Prepended to every Redis key and pub/sub channel, so deployments can share one Redis. Default `switchboard:`. */
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[\x21-\x7e]{1,64}$/, 'must be 1-64 printable ASCII characters without spaces')
      .default('switchboard:'),
    /**
     * With REDIS_URL: signals kept per peer in its delivery log, so a peer resumes on any instance
     * with what it missed (also while it is away: above this many since its drop, `BUFFER_FULL`).
     * Default 256.
     */
    DELIVERY_LOG_LENGTH: int(16, 100_000).default(256),
  })
  .superRefine((env, ctx) => {
    if (env.WEBHOOK_URLS.length > 0 && env.WEBHOOK_SECRET === undefined)
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRET'], message: 'is required with WEBHOOK_URLS' });
    if ((env.TURN_USERNAME === undefined) !== (env.TURN_PASSWORD === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.TURN_USERNAME === undefined ? 'TURN_USERNAME' : 'TURN_PASSWORD'],
        message: 'TURN_USERNAME and TURN_PASSWORD must be set together',
      });
    }
    if (env.TURN_URL.length > 0 && !env.TURN_SECRET && env.TURN_USERNAME === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['TURN_URL'],
        message: 'TURN_URL needs either TURN_SECRET or TURN_USERNAME/TURN_PASSWORD',
      });
    }
    if ((env.TURN_SECRET || env.TURN_USERNAME !== undefined) && env.TURN_URL.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['TURN_URL'],
        message: 'TURN credentials are set but TURN_URL is empty',
      });
    }
    const keySources = AUTH_KEY_SOURCES.filter((k) => env[k] !== undefined);
    for (const extra of keySources.slice(1)) {
      ctx.addIssue({
        code: 'custom',
        path: [extra],
        message: `set only one of ${AUTH_KEY_SOURCES.join(', ')} (${keySources[0]} is set too)`,
      });
    }
    for (const claim of ['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'] as const) {
      if (env[claim] !== undefined && keySources.length === 0)
        ctx.addIssue({
          code: 'custom',
          path: [claim],
          message:
            'has no effect while authentication is off (set AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY or AUTH_JWKS_URL)',
        });
    }
    if (env.RECONNECTION_DELAY_MAX < env.RECONNECTION_DELAY) {
      ctx.addIssue({
        code: 'custom',
        path: ['RECONNECTION_DELAY_MAX'],
        message: 'must be >= RECONNECTION_DELAY',
      });
    }
  });

/** The variables that turn authentication on; at most one may be set. */
export const AUTH_KEY_SOURCES = ['AUTH_JWT_SECRET', 'AUTH_JWT_PUBLIC_KEY', 'AUTH_JWKS_URL'] as const;

/**
 * Why a PEM text cannot verify tokens here, or undefined when it can: it must be an SPKI public key
 * (`-----BEGIN PUBLIC KEY-----`) of a type with one JWS algorithm: RSA of at least 2048 bits (RS256),
 * EC on P-256 (ES256) or Ed25519 (EdDSA). A private key is refused rather than used for its public
 * half: it does not belong in the signaling server's environment.
 */
export function publicKeyProblem(pem: string): string | undefined {
  if (!/^-----BEGIN PUBLIC KEY-----/.test(pem))
    return 'must be a PEM public key (-----BEGIN PUBLIC KEY-----, SPKI)';
  let key;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    return 'is not a readable PEM public key';
  }
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return (details?.modulusLength ?? 0) >= 2048 ? undefined : 'RSA keys must have at least 2048 bits';
    case 'ec':
      return details?.namedCurve === 'prime256v1' ? undefined : 'EC keys must be on P-256 (ES256)';
    case 'ed25519':
      return undefined;
    default:
      return `key type ${key.asymmetricKeyType} is not supported (RSA, EC P-256 or Ed25519)`;
  }
}

export type AppConfig = z.output<typeof envSchema>;
export type EnvInput = Record<string, string | undefined>;

export const APP_CONFIG = Symbol('APP_CONFIG');

/** Raised when the environment is invalid; its message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses configuration from an environment. Unknown variables are ignored; an empty string for
 * a variable with a default means "use the default", except STUN_URLS where empty means none.
 */
export function loadConfig(env: EnvInput): AppConfig {
  const known = Object.keys(envSchema.shape);
  const input: Record<string, string> = {};
  for (const key of known) {
    const v = env[key];
    if (v === undefined) continue;
    if (v.trim() === '' && key !== 'STUN_URLS' && key !== 'TURN_URL') continue;
    input[key] = v;
  }
  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  // The largest valid frame is an offer at MAX_SDP_BYTES, whose CR LFs JSON escapes to twice the length.
  const largestFrame = 2 * config.MAX_SDP_BYTES + 4096;
  if (input.MAX_HTTP_BUFFER_SIZE === undefined)
    config.MAX_HTTP_BUFFER_SIZE = Math.max(config.MAX_HTTP_BUFFER_SIZE, largestFrame);
  else if (config.MAX_HTTP_BUFFER_SIZE < largestFrame)
    throw new ConfigError(
      `Invalid configuration:\n  MAX_HTTP_BUFFER_SIZE: must be >= 2 × MAX_SDP_BYTES + 4096 (${largestFrame}) so a valid offer fits`,
    );
  // One message larger than the outbound cap would close every connection it is sent to.
  if (config.MAX_OUTBOUND_BUFFER_BYTES < 2 * largestFrame)
    throw new ConfigError(
      `Invalid configuration:\n  MAX_OUTBOUND_BUFFER_BYTES: must be >= 2 × (2 × MAX_SDP_BYTES + 4096) (${2 * largestFrame}) so the largest offer fits twice`,
    );
  return config;
}
