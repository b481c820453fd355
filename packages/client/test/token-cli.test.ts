// scripts/token.mjs (`npm run token`): the developer CLI that mints HS256 access tokens.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { jwtVerify } from 'jose';
import { REPO_ROOT } from './support/paths.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'token.mjs');
const SECRET = 'cli-test-secret-cli-test-secret-0123456789';

/** Runs the CLI in `cwd` (a fresh empty directory unless given) with only PATH and `env` set. */
function run(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const dir = cwd ?? mkdtempSync(join(tmpdir(), 'sb-token-'));
  try {
    const result = spawnSync(process.execPath, [SCRIPT, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    if (!cwd) rmSync(dir, { recursive: true, force: true });
  }
}

async function verified(
  stdout: string,
  secret = SECRET,
  options: { issuer?: string; audience?: string } = {},
) {
  const token = stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `not one JWT on stdout: ${JSON.stringify(stdout)}`);
  const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(secret), {
    algorithms: ['HS256'],
    ...options,
  });
  assert.equal(protectedHeader.alg, 'HS256');
  return payload;
}

test('token.mjs --sub alice --room standup prints an HS256 token for that user and room, valid for an hour', async () => {
  const before = Math.floor(Date.now() / 1000);
  const result = run(['--sub', 'alice', '--room', 'standup', '--name', 'Alice A.'], {
    AUTH_JWT_SECRET: SECRET,
  });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, '');
  const payload = await verified(result.stdout);
  assert.equal(payload.sub, 'alice');
  assert.equal(payload.room, 'standup');
  assert.equal(payload.rooms, undefined);
  assert.equal(payload.name, 'Alice A.');
  assert.ok(payload.iat! >= before && payload.iat! <= before + 5);
  assert.equal(payload.exp! - payload.iat!, 3600);
  assert.equal(payload.iss, undefined);
  assert.equal(payload.aud, undefined);
});

test('token.mjs with repeated --room and --rooms a,b grants every room named once; --room * grants all', async () => {
  const many = run(['--sub', 'bob', '--room', 'x', '--rooms', 'a,b', '--room', 'a'], {
    AUTH_JWT_SECRET: SECRET,
  });
  assert.equal(many.status, 0, many.stderr);
  const payload = await verified(many.stdout);
  assert.deepEqual(payload.rooms, ['x', 'a', 'b']);
  assert.equal(payload.room, undefined);

  const all = run(['--sub', 'bob', '--room', '*'], { AUTH_JWT_SECRET: SECRET });
  assert.equal(all.status, 0, all.stderr);
  assert.equal((await verified(all.stdout)).room, '*');
});

test('token.mjs --ttl, --issuer and --audience set exp, iss and aud; AUTH_JWT_ISSUER/AUDIENCE are the defaults', async () => {
  const explicit = run(['--sub', 'c', '--room', 'r', '--ttl', '5', '--issuer', 'me', '--audience', 'sb'], {
    AUTH_JWT_SECRET: SECRET,
    AUTH_JWT_ISSUER: 'ignored',
  });
  assert.equal(explicit.status, 0, explicit.stderr);
  const payload = await verified(explicit.stdout, SECRET, { issuer: 'me', audience: 'sb' });
  assert.equal(payload.exp! - payload.iat!, 5);

  const fromEnv = run(['--sub', 'c', '--room', 'r'], {
    AUTH_JWT_SECRET: SECRET,
    AUTH_JWT_ISSUER: 'https://issuer.example',
    AUTH_JWT_AUDIENCE: 'switchboard',
  });
  assert.equal(fromEnv.status, 0, fromEnv.stderr);
  await verified(fromEnv.stdout, SECRET, { issuer: 'https://issuer.example', audience: 'switchboard' });
});

test('token.mjs reads AUTH_JWT_SECRET from .env in the working directory; the environment wins over it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-token-env-'));
  try {
    writeFileSync(
      join(dir, '.env'),
      `# a comment\nPORT=3000\nAUTH_JWT_SECRET="${SECRET}"\nAUTH_JWT_AUDIENCE=from-dotenv\n`,
    );
    const fromFile = run(['--sub', 'dee', '--room', 'r'], {}, dir);
    assert.equal(fromFile.status, 0, fromFile.stderr);
    await verified(fromFile.stdout, SECRET, { audience: 'from-dotenv' });

    const other = 'another-secret-another-secret-another-secret';
    const fromEnv = run(['--sub', 'dee', '--room', 'r'], { AUTH_JWT_SECRET: other }, dir);
    assert.equal(fromEnv.status, 0, fromEnv.stderr);
    await verified(fromEnv.stdout, other);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('token.mjs without AUTH_JWT_SECRET, with a short one, or without --sub fails with a clear message and prints no token', () => {
  const noSecret = run(['--sub', 'alice', '--room', 'r']);
  assert.notEqual(noSecret.status, 0);
  assert.equal(noSecret.stdout, '');
  assert.match(noSecret.stderr, /AUTH_JWT_SECRET is not set/);

  const short = run(['--sub', 'alice'], { AUTH_JWT_SECRET: 'too-short' });
  assert.notEqual(short.status, 0);
  assert.match(short.stderr, /at least 32/);

  const noSub = run(['--room', 'r'], { AUTH_JWT_SECRET: SECRET });
  assert.notEqual(noSub.status, 0);
  assert.equal(noSub.stdout, '');
  assert.match(noSub.stderr, /--sub is required/);

  const unknown = run(['--sub', 'a', '--colour', 'red'], { AUTH_JWT_SECRET: SECRET });
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /--colour/);

  const badTtl = run(['--sub', 'a', '--ttl', '1h'], { AUTH_JWT_SECRET: SECRET });
  assert.notEqual(badTtl.status, 0);
  assert.match(badTtl.stderr, /--ttl/);
});

test('token.mjs --help prints the usage and exits 0, without needing a secret', () => {
  const result = run(['--help']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^Usage: npm run -s token -- --sub USER/);
  for (const option of ['--sub', '--room', '--rooms', '--name', '--ttl', '--issuer', '--audience']) {
    assert.ok(result.stdout.includes(option), option);
  }
});
