import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  base64url,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

/** The HS256 secret test servers are configured with (AUTH_JWT_SECRET): 40 bytes. */
export const SECRET = 'test-secret-0123456789-0123456789-abcdef';

/** Claims of a test token; `exp` and `nbf` default from `lifetime`. */
export interface TestClaims {
  sub?: string;
  name?: string;
  room?: unknown;
  rooms?: unknown;
  iss?: string;
  aud?: string | string[];
  /** Unix seconds. Default now + `lifetime`. */
  exp?: number;
  nbf?: number;
  iat?: number;
  [claim: string]: unknown;
}

export interface SignOptions {
  /** Seconds from `now` to `exp` when `exp` is not given. Default 3600. */
  lifetime?: number;
  /** Epoch ms the token's times are relative to (a fake clock's time). Default Date.now(). */
  now?: number;
  /** Header `kid`. */
  kid?: string;
}

const nowSeconds = (now = Date.now()) => Math.floor(now / 1000);

function payloadOf(claims: TestClaims, options: SignOptions): JWTPayload {
  const payload: JWTPayload = { ...claims };
  if (!('exp' in claims)) payload.exp = nowSeconds(options.now) + (options.lifetime ?? 3600);
  if (payload.exp === undefined) delete payload.exp;
  return payload;
}

/** An HS256 token signed with `secret` (default {@link SECRET}). */
export function signHs256(claims: TestClaims, options: SignOptions = {}, secret = SECRET): Promise<string> {
  return new SignJWT(payloadOf(claims, options))
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...(options.kid ? { kid: options.kid } : {}) })
    .sign(new TextEncoder().encode(secret));
}

/** A key pair for an asymmetric algorithm, with its public key as PEM (AUTH_JWT_PUBLIC_KEY) and JWK. */
export interface TestKeyPair {
  alg: 'RS256' | 'ES256' | 'EdDSA' | 'PS256';
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  pem: string;
  jwk: JWK;
}

let kids = 0;

/** Generates a key pair in the test (RSA 2048, P-256 or Ed25519). */
export async function keyPair(alg: TestKeyPair['alg'], kid = `k${++kids}`): Promise<TestKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, pem: await exportSPKI(publicKey), jwk };
}

/** A token signed with `key` (its algorithm and kid unless `alg`/`kid` are given). */
export function signWith(
  key: TestKeyPair,
  claims: TestClaims,
  options: SignOptions & { alg?: string } = {},
): Promise<string> {
  return new SignJWT(payloadOf(claims, options))
    .setProtectedHeader({ alg: options.alg ?? key.alg, typ: 'JWT', kid: options.kid ?? key.kid })
    .sign(key.privateKey);
}

/** An unsecured token (`alg: none`, empty signature), made by hand: jose refuses to produce one for verification. */
export function unsignedToken(claims: TestClaims, options: SignOptions = {}): string {
  const part = (o: object) => base64url.encode(JSON.stringify(o));
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payloadOf(claims, options))}.`;
}

/**
 * The HS/RS confusion attack: an HS256 token whose HMAC key is the server's public key text, which a
 * verifier that takes the algorithm from the token would accept.
 */
export function signHs256WithKeyText(
  pem: string,
  claims: TestClaims,
  options: SignOptions = {},
): Promise<string> {
  return signHs256(claims, options, pem);
}

/** A JSON Web Key Set served over HTTP on 127.0.0.1, port 0; `setKeys` changes what it serves. */
export interface JwksServer {
  url: string;
  /** GET requests served so far. */
  readonly fetches: number;
  setKeys(keys: JWK[]): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  let current = keys;
  let fetches = 0;
  const server: Server = createServer((_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: current }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches() {
      return fetches;
    },
    setKeys(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
