// The SDK's reading of access tokens: JWT payload decoding and the refresh schedule (pure
// functions, the clock passed in).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignJWT } from 'jose';
import { decodeJwtPayload, tokenExpiresAt, tokenRefreshDelayMs } from '../src/auth-token.js';

const SECRET = new TextEncoder().encode('test-secret-test-secret-test-secret!');

test('decodeJwtPayload() of a signed JWT returns its claims, base64url and UTF-8 included', async () => {
  // '?>' and 'ÿ' encode to base64 '+' and '/' (base64url '-' and '_'), which atob refuses unmapped.
  const name = 'Zoë ?>?>ÿÿ 🎥';
  const token = await new SignJWT({ name, rooms: ['a', 'b'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setExpirationTime(2_000_000_000)
    .sign(SECRET);
  assert.match(token.split('.')[1], /[-_]/, 'the payload should exercise the base64url alphabet');
  assert.deepEqual(decodeJwtPayload(token), { name, rooms: ['a', 'b'], sub: 'alice', exp: 2_000_000_000 });
  assert.equal(tokenExpiresAt(token), 2_000_000_000_000);
});

test('decodeJwtPayload() of something that is not a JWT returns null', () => {
  for (const token of [
    '',
    'opaque-session-id',
    'a.b',
    'a.b.c.d',
    'x.!!!.y',
    `x.${Buffer.from('[1,2]').toString('base64url')}.y`,
    `x.${Buffer.from('not json').toString('base64url')}.y`,
    `x.${Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url')}.y`,
  ]) {
    assert.equal(decodeJwtPayload(token), null, token);
  }
});

test('tokenExpiresAt() of a JWT without a numeric exp returns null', () => {
  const unsigned = (payload: object) =>
    `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
  assert.equal(tokenExpiresAt(unsigned({ sub: 'a' })), null);
  assert.equal(tokenExpiresAt(unsigned({ sub: 'a', exp: '1700000000' })), null);
  assert.equal(tokenExpiresAt(unsigned({ exp: 1_700_000_000 })), 1_700_000_000_000);
});

test('tokenRefreshDelayMs() waits until the later of 75 % of the lifetime and one minute before exp', () => {
  const t0 = 1_800_000_000_000;
  const cases: [lifetimeMs: number, expectedDelayMs: number][] = [
    [3_600_000, 3_540_000], // 1 h: exp - 60 s
    [240_000, 180_000], // 4 min: both rules agree
    [120_000, 90_000], // 2 min: 75 %
    [5_000, 3_750], // 5 s: 75 %
  ];
  for (const [lifetime, expected] of cases) {
    assert.equal(tokenRefreshDelayMs(t0 + lifetime, t0, t0), expected, `lifetime ${lifetime} ms`);
  }
  // The clock moves on: the delay shrinks with it, down to 0 once due or expired.
  assert.equal(tokenRefreshDelayMs(t0 + 3_600_000, t0, t0 + 3_000_000), 540_000);
  assert.equal(tokenRefreshDelayMs(t0 + 5_000, t0, t0 + 4_000), 0);
  assert.equal(tokenRefreshDelayMs(t0 + 5_000, t0, t0 + 60_000), 0);
  // A token that had already expired when it arrived.
  assert.equal(tokenRefreshDelayMs(t0 - 1_000, t0, t0), 0);
});
