import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { exportPKCS8, importPKCS8 } from 'jose';
import { createTokenVerifier } from '../../src/auth/token-verifier.factory';
import {
  grantsRoom,
  TokenVerifier,
  type TokenVerifierOptions,
  type VerifyResult,
} from '../../src/auth/token-verifier';
import { FakeClock } from '../../src/common/fake-clock';
import { ConfigError, loadConfig } from '../../src/config/config';
import {
  keyPair,
  SECRET,
  signHs256,
  signHs256WithKeyText,
  signWith,
  startJwksServer,
  unsignedToken,
  type JwksServer,
  type TestKeyPair,
} from '../support/tokens';

const NOW = 1_700_000_000_000;
const NOW_S = NOW / 1000;

function hs256(
  options: Partial<TokenVerifierOptions> = {},
  clock = new FakeClock(NOW),
): Promise<TokenVerifier> {
  return TokenVerifier.create({ keys: { kind: 'secret', secret: SECRET }, ...options }, clock);
}

function assertRefused(result: VerifyResult, reason: string, message?: RegExp): void {
  assert.equal(result.ok, false, 'expected a refusal');
  if (result.ok) return;
  assert.equal(result.reason, reason, result.message);
  if (message) assert.match(result.message, message);
}

describe('TokenVerifier', () => {
  describe('HS256 (AUTH_JWT_SECRET)', () => {
    test('verify() of a valid token returns its sub, exp, name and room grant', async () => {
      const v = await hs256();
      const token = await signHs256(
        { sub: 'ada', name: 'Ada L.', rooms: ['a', 'b'] },
        { now: NOW, lifetime: 600 },
      );
      assert.deepEqual(await v.verify(token), {
        ok: true,
        user: { sub: 'ada', exp: NOW_S + 600, name: 'Ada L.', rooms: ['a', 'b'] },
      });
      assert.deepEqual(v.algorithms, ['HS256']);
    });

    test('verify() of an expired token fails expired; within the 5 s clock tolerance it passes', async () => {
      const v = await hs256();
      assert.equal(v.clockToleranceSeconds, 5);
      assertRefused(await v.verify(await signHs256({ sub: 'a', exp: NOW_S - 6 })), 'expired', /expired/);
      assert.equal((await v.verify(await signHs256({ sub: 'a', exp: NOW_S - 4 }))).ok, true);
    });

    test('verify() follows the injected clock: a valid token fails expired once the clock passes exp + tolerance', async () => {
      const clock = new FakeClock(NOW);
      const v = await hs256({}, clock);
      const token = await signHs256({ sub: 'a' }, { now: NOW, lifetime: 60 });
      assert.equal((await v.verify(token)).ok, true);
      await clock.advance(65_000);
      assertRefused(await v.verify(token), 'expired');
    });

    test('verify() of a token whose nbf or iat is in the future (beyond 5 s) fails not_yet_valid', async () => {
      const v = await hs256();
      assertRefused(
        await v.verify(await signHs256({ sub: 'a', nbf: NOW_S + 30 }, { now: NOW })),
        'not_yet_valid',
        /nbf/,
      );
      assertRefused(
        await v.verify(await signHs256({ sub: 'a', iat: NOW_S + 30 }, { now: NOW })),
        'not_yet_valid',
        /iat/,
      );
      assert.equal(
        (await v.verify(await signHs256({ sub: 'a', nbf: NOW_S + 4, iat: NOW_S + 4 }, { now: NOW }))).ok,
        true,
      );
    });

    test('verify() of a token signed with another secret fails invalid', async () => {
      const v = await hs256();
      const token = await signHs256({ sub: 'a' }, { now: NOW }, 'another-secret-0123456789-0123456789-xyz');
      assertRefused(await v.verify(token), 'invalid', /signature/);
    });

    test('verify() of an unsecured token (alg none, made by hand) fails invalid', async () => {
      const v = await hs256();
      assertRefused(await v.verify(unsignedToken({ sub: 'a' }, { now: NOW })), 'invalid');
    });

    test('verify() of garbage fails invalid without throwing', async () => {
      const v = await hs256();
      for (const token of ['', 'x', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9..', '....'])
        assertRefused(await v.verify(token), 'invalid');
    });

    test('verify() without sub or exp, or with a sub that is not a 1-128 character string, fails invalid', async () => {
      const v = await hs256();
      const cases = [
        { exp: NOW_S + 60 },
        { sub: 'a', exp: undefined },
        { sub: '' },
        { sub: 'x'.repeat(129) },
        { sub: 42 },
      ];
      for (const claims of cases)
        assertRefused(await v.verify(await signHs256(claims as never, { now: NOW })), 'invalid', undefined);
      assert.equal((await v.verify(await signHs256({ sub: 'x'.repeat(128) }, { now: NOW }))).ok, true);
    });

    test('verify() checks iss and aud when configured', async () => {
      const v = await hs256({ issuer: 'https://app.example', audience: 'switchboard' });
      const ok = await signHs256(
        { sub: 'a', iss: 'https://app.example', aud: ['other', 'switchboard'] },
        { now: NOW },
      );
      assert.equal((await v.verify(ok)).ok, true);
      const wrongIss = await signHs256(
        { sub: 'a', iss: 'https://evil.example', aud: 'switchboard' },
        { now: NOW },
      );
      assertRefused(await v.verify(wrongIss), 'invalid', /iss/);
      const wrongAud = await signHs256({ sub: 'a', iss: 'https://app.example', aud: 'other' }, { now: NOW });
      assertRefused(await v.verify(wrongAud), 'invalid', /aud/);
      assertRefused(await v.verify(await signHs256({ sub: 'a' }, { now: NOW })), 'invalid', /iss/);
    });
  });

  describe('claims', () => {
    const verifyClaims = async (claims: Record<string, unknown>) =>
      (await hs256()).verify(await signHs256({ sub: 'a', ...claims }, { now: NOW }));

    test('verify() reads room, rooms and both together; no grant is an empty list', async () => {
      const rooms = async (claims: Record<string, unknown>) => {
        const r = await verifyClaims(claims);
        assert.ok(r.ok);
        return r.user.rooms;
      };
      assert.deepEqual(await rooms({ room: 'x' }), ['x']);
      assert.deepEqual(await rooms({ rooms: ['x', 'y'] }), ['x', 'y']);
      assert.deepEqual(await rooms({ room: 'x', rooms: ['y'] }), ['x', 'y']);
      assert.deepEqual(await rooms({}), []);
    });

    test('verify() with * in room or rooms grants every room', async () => {
      for (const claims of [{ room: '*' }, { rooms: ['a', '*'] }]) {
        const r = await verifyClaims(claims);
        assert.ok(r.ok);
        assert.equal(r.user.rooms, '*');
        assert.equal(grantsRoom(r.user, 'anything'), true);
      }
    });

    test('verify() with a room that is not a string or rooms that is not an array of strings fails invalid', async () => {
      for (const claims of [{ room: 5 }, { rooms: 'a' }, { rooms: ['a', 3] }, { room: ['a'] }])
        assertRefused(await verifyClaims(claims), 'invalid', /room/);
    });

    test('verify() trims name and cuts it to 64 characters; a blank name is dropped; a non-string fails', async () => {
      const r = await verifyClaims({ name: `  ${'n'.repeat(70)}  ` });
      assert.ok(r.ok);
      assert.equal(r.user.name, 'n'.repeat(64));
      const blank = await verifyClaims({ name: '   ' });
      assert.ok(blank.ok);
      assert.equal('name' in blank.user, false);
      assertRefused(await verifyClaims({ name: 7 }), 'invalid', /name/);
    });

    test('grantsRoom() is true only for granted rooms', async () => {
      const r = await verifyClaims({ rooms: ['a'] });
      assert.ok(r.ok);
      assert.equal(grantsRoom(r.user, 'a'), true);
      assert.equal(grantsRoom(r.user, 'b'), false);
      assert.equal(grantsRoom(r.user, 'A'), false);
    });
  });

  describe('public keys (AUTH_JWT_PUBLIC_KEY)', () => {
    const keys = new Map<string, TestKeyPair>();
    before(async () => {
      for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) keys.set(alg, await keyPair(alg));
    });

    for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
      test(`TokenVerifier.create() with a ${alg} key pins ${alg}, and verify() accepts a token signed with its private key`, async () => {
        const key = keys.get(alg)!;
        const v = await TokenVerifier.create(
          { keys: { kind: 'publicKey', pem: key.pem } },
          new FakeClock(NOW),
        );
        assert.deepEqual(v.algorithms, [alg]);
        const r = await v.verify(await signWith(key, { sub: 'u1', room: 'r' }, { now: NOW }));
        assert.deepEqual(r, { ok: true, user: { sub: 'u1', exp: NOW_S + 3600, rooms: ['r'] } });
        const other = await keyPair(alg);
        assertRefused(
          await v.verify(await signWith(other, { sub: 'u1' }, { now: NOW })),
          'invalid',
          /signature/,
        );
        assertRefused(await v.verify(unsignedToken({ sub: 'u1' }, { now: NOW })), 'invalid');
      });
    }

    test('verify() against a public key refuses an HS256 token signed with that public key text (HS/RS confusion)', async () => {
      for (const key of keys.values()) {
        const v = await TokenVerifier.create(
          { keys: { kind: 'publicKey', pem: key.pem } },
          new FakeClock(NOW),
        );
        const forged = await signHs256WithKeyText(key.pem, { sub: 'admin', room: '*' }, { now: NOW });
        assertRefused(await v.verify(forged), 'invalid', /algorithm/);
      }
    });

    test('verify() against an RS256 key refuses a PS256 token from the same key pair (algorithm pinned to the key)', async () => {
      const rsa = keys.get('RS256')!;
      const v = await TokenVerifier.create({ keys: { kind: 'publicKey', pem: rsa.pem } }, new FakeClock(NOW));
      // WebCrypto binds a key to one algorithm: the same private key, imported again for PS256.
      const psKey = await importPKCS8(await exportPKCS8(rsa.privateKey), 'PS256');
      const ps = await signWith({ ...rsa, alg: 'PS256', privateKey: psKey }, { sub: 'a' }, { now: NOW });
      assertRefused(await v.verify(ps), 'invalid', /algorithm/);
    });

    test('createTokenVerifier() with a key jose cannot use rejects with a ConfigError naming AUTH_JWT_PUBLIC_KEY', async () => {
      const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({
        type: 'spki',
        format: 'pem',
      });
      // loadConfig refuses it first; the factory is the second line of defence.
      assert.throws(
        () => loadConfig({ AUTH_JWT_PUBLIC_KEY: String(p384) }),
        /AUTH_JWT_PUBLIC_KEY: EC keys must be on P-256/,
      );
      const config = { ...loadConfig({}), AUTH_JWT_PUBLIC_KEY: String(p384) };
      await assert.rejects(createTokenVerifier(config, new FakeClock(NOW)), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^\s+AUTH_JWT_PUBLIC_KEY: /m);
        return true;
      });
    });

    test('createTokenVerifier() with no AUTH_* key returns undefined (authentication off)', async () => {
      assert.equal(await createTokenVerifier(loadConfig({}), new FakeClock(NOW)), undefined);
    });
  });

  describe('JWKS (AUTH_JWKS_URL)', () => {
    let rsa: TestKeyPair;
    let ec: TestKeyPair;
    let jwks: JwksServer;
    before(async () => {
      rsa = await keyPair('RS256');
      ec = await keyPair('ES256');
      jwks = await startJwksServer([rsa.jwk]);
    });
    after(() => jwks.close());

    const jwksVerifier = (options: Partial<TokenVerifierOptions> = {}) =>
      TokenVerifier.create({ keys: { kind: 'jwks', url: jwks.url }, ...options }, new FakeClock(NOW));

    test('verify() picks the key by kid from the served set, fetched on first use', async () => {
      jwks.setKeys([rsa.jwk, ec.jwk]);
      const before = jwks.fetches;
      const v = await jwksVerifier();
      assert.equal(jwks.fetches, before, 'fetched before any token arrived');
      assert.equal((await v.verify(await signWith(rsa, { sub: 'r' }, { now: NOW }))).ok, true);
      assert.equal((await v.verify(await signWith(ec, { sub: 'e' }, { now: NOW }))).ok, true);
      assert.equal(jwks.fetches, before + 1);
    });

    test('verify() after the JWKS server rotates its keys accepts a token with the new kid and refuses the removed one', async () => {
      jwks.setKeys([rsa.jwk]);
      const v = await jwksVerifier({ jwksCooldownMs: 0 });
      assert.equal((await v.verify(await signWith(rsa, { sub: 'r' }, { now: NOW }))).ok, true);
      const next = await keyPair('ES256');
      jwks.setKeys([next.jwk]);
      const fetched = jwks.fetches;
      // An unknown kid makes the verifier fetch the set again (at most once per cooldown).
      assert.equal((await v.verify(await signWith(next, { sub: 'n' }, { now: NOW }))).ok, true);
      assert.equal(jwks.fetches, fetched + 1);
      assertRefused(await v.verify(await signWith(rsa, { sub: 'r' }, { now: NOW })), 'invalid', /kid/);
    });

    test('verify() of an unknown kid within the 30 s cooldown does not fetch again', async () => {
      jwks.setKeys([rsa.jwk]);
      const v = await jwksVerifier();
      assert.equal((await v.verify(await signWith(rsa, { sub: 'r' }, { now: NOW }))).ok, true);
      const fetched = jwks.fetches;
      const stranger = await keyPair('RS256');
      for (let i = 0; i < 5; i++)
        assertRefused(await v.verify(await signWith(stranger, { sub: 'x' }, { now: NOW })), 'invalid', /kid/);
      assert.equal(jwks.fetches, fetched);
    });

    test('verify() against a JWKS refuses HS256 tokens and alg none', async () => {
      jwks.setKeys([rsa.jwk]);
      const v = await jwksVerifier();
      assertRefused(
        await v.verify(await signHs256({ sub: 'a' }, { now: NOW, kid: rsa.kid })),
        'invalid',
        /algorithm/,
      );
      assertRefused(await v.verify(unsignedToken({ sub: 'a' }, { now: NOW })), 'invalid');
    });

    test('verify() when the JWKS cannot be fetched fails key_unavailable', async () => {
      const gone = await startJwksServer([]);
      await gone.close();
      const v = await TokenVerifier.create({ keys: { kind: 'jwks', url: gone.url } }, new FakeClock(NOW));
      assertRefused(await v.verify(await signWith(rsa, { sub: 'r' }, { now: NOW })), 'key_unavailable');
    });
  });
});
