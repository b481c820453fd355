import type { Clock } from '../common/clock';
import { ConfigError, type AppConfig } from '../config/config';
import { TokenVerifier, type TokenKeySource } from './token-verifier';

/**
 * The verifier AUTH_* configure, or undefined when none of AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY and
 * AUTH_JWKS_URL is set (authentication off). Rejects with a {@link ConfigError} naming the variable
 * when jose cannot use the public key.
 */
export async function createTokenVerifier(
  config: AppConfig,
  clock: Clock,
): Promise<TokenVerifier | undefined> {
  const keys: TokenKeySource | undefined =
    config.AUTH_JWT_SECRET !== undefined
      ? { kind: 'secret', secret: config.AUTH_JWT_SECRET }
      : config.AUTH_JWT_PUBLIC_KEY !== undefined
        ? { kind: 'publicKey', pem: config.AUTH_JWT_PUBLIC_KEY }
        : config.AUTH_JWKS_URL !== undefined
          ? { kind: 'jwks', url: config.AUTH_JWKS_URL }
          : undefined;
  if (!keys) return undefined;
  try {
    return await TokenVerifier.create(
      { keys, issuer: config.AUTH_JWT_ISSUER, audience: config.AUTH_JWT_AUDIENCE },
      clock,
    );
  } catch (err) {
    const variable =
      keys.kind === 'secret'
        ? 'AUTH_JWT_SECRET'
        : keys.kind === 'publicKey'
          ? 'AUTH_JWT_PUBLIC_KEY'
          : 'AUTH_JWKS_URL';
    throw new ConfigError(
      `Invalid configuration:\n  ${variable}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
