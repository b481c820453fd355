// Mints an access token (HS256 JWT) for a Switchboard server with authentication on, signed with
// the server's AUTH_JWT_SECRET. For development and tests; production tokens come from your own
// backend, which holds the same secret.
//
//   npm run -s token -- --sub alice --room standup
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';

const USAGE = `Usage: npm run -s token -- --sub USER [options]
       node scripts/token.mjs --sub USER [options]

Prints an HS256 access token for a Switchboard server with authentication on, signed with
AUTH_JWT_SECRET (from the environment, else from ./.env; at least 32 bytes). Servers that
verify with AUTH_JWT_PUBLIC_KEY or AUTH_JWKS_URL need tokens from your own issuer instead.

Options:
  --sub USER        user id (the "sub" claim; other peers see it as userId). Required.
  --room ROOM       a room the token may join; repeat for several; '*' for every room.
  --rooms A,B       rooms the token may join, comma-separated (with --room, both count).
  --name NAME       default display name (the "name" claim).
  --ttl SECONDS     lifetime. Default 3600.
  --issuer ISS      "iss" claim. Default: AUTH_JWT_ISSUER, else none.
  --audience AUD    "aud" claim. Default: AUTH_JWT_AUDIENCE, else none.
  -h, --help        this text.

With one room the token carries "room": "ROOM"; with several, "rooms": [...]; without any,
neither, and the server grants no room.

Example (a demo page with auth on):
  open "http://localhost:3000/?room=standup&token=$(npm run -s token -- --sub alice --room standup)"`;

const MIN_SECRET_BYTES = 32;

function fail(message) {
  process.stderr.write(`token: ${message}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      sub: { type: 'string' },
      room: { type: 'string', multiple: true },
      rooms: { type: 'string', multiple: true },
      name: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  fail(`${error.message}\n\n${USAGE}`);
}

if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

// Same rule as the server: variables already in the environment win over .env.
if (existsSync('.env')) {
  try {
    process.loadEnvFile('.env');
  } catch (error) {
    fail(`cannot read .env: ${error.message}`);
  }
}

const secret = process.env.AUTH_JWT_SECRET ?? '';
if (!secret) {
  fail(
    'AUTH_JWT_SECRET is not set. Set it in the environment or in .env in the current directory ' +
      `(the same value as the server's, at least ${MIN_SECRET_BYTES} bytes).`,
  );
}
if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
  fail(
    `AUTH_JWT_SECRET is ${Buffer.byteLength(secret, 'utf8')} bytes long; the server requires at least ${MIN_SECRET_BYTES}.`,
  );
}

const sub = values.sub?.trim();
if (!sub) fail(`--sub is required.\n\n${USAGE}`);

const rooms = [...(values.room ?? []), ...(values.rooms ?? []).flatMap((list) => list.split(','))].map(
  (room) => room.trim(),
);
if (rooms.some((room) => room.length === 0)) fail('empty room name in --room/--rooms.');
const uniqueRooms = [...new Set(rooms)];

if (!/^\d+$/.test(values.ttl) || Number(values.ttl) < 1) fail(`--ttl must be a positive number of seconds.`);
const ttl = Number(values.ttl);

const claims = {};
if (values.name !== undefined) claims.name = values.name;
if (uniqueRooms.length === 1) claims.room = uniqueRooms[0];
else if (uniqueRooms.length > 1) claims.rooms = uniqueRooms;

const issuer = values.issuer ?? process.env.AUTH_JWT_ISSUER;
const audience = values.audience ?? process.env.AUTH_JWT_AUDIENCE;

const now = Math.floor(Date.now() / 1000);
let jwt = new SignJWT(claims)
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setSubject(sub)
  .setIssuedAt(now)
  .setExpirationTime(now + ttl);
if (issuer) jwt = jwt.setIssuer(issuer);
if (audience) jwt = jwt.setAudience(audience);

process.stdout.write(`${await jwt.sign(Buffer.from(secret, 'utf8'))}\n`);
