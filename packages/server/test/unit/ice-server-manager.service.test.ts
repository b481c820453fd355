import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { FakeClock } from '../../src/common/fake-clock';
import { loadConfig, type EnvInput } from '../../src/config/config';
import {
  IceServerManagerService,
  type IceServerManagerOptions,
} from '../../src/webrtc/services/ice-server-manager.service';

// Not on a whole second, so an implementation that rounds instead of flooring is caught.
const NOW_MS = 1_700_000_000_750;
const NOW_S = 1_700_000_000;

/** Built from the environment the way WebrtcModule builds it. */
function fromEnv(env: EnvInput, clock = new FakeClock(NOW_MS)): IceServerManagerService {
  const c = loadConfig(env);
  const options: IceServerManagerOptions = {
    stunUrls: c.STUN_URLS,
    turnUrls: c.TURN_URL,
    turnUsername: c.TURN_USERNAME,
    turnPassword: c.TURN_PASSWORD,
    turnSecret: c.TURN_SECRET,
    turnTtlSeconds: c.TURN_TTL,
  };
  return new IceServerManagerService(options, clock);
}

/** Computed here independently of the service: base64(HMAC-SHA1(secret, username)). */
function expectedCredential(secret: string, username: string): string {
  return createHmac('sha1', Buffer.from(secret, 'utf8'))
    .update(Buffer.from(username, 'utf8'))
    .digest('base64');
}

describe('IceServerManagerService', () => {
  describe('without TURN', () => {
    test('getIceServers() with the default config returns only Google’s STUN server, hasTurn false', () => {
      const ice = fromEnv({});
      const res = ice.getIceServers('peer1');
      assert.deepEqual(res.iceServers, [{ urls: ['stun:stun.l.google.com:19302'] }]);
      assert.equal(res.hasTurn, false);
      assert.equal(ice.hasTurn, false);
    });

    test('getIceServers() with empty STUN_URLS and no TURN returns an empty list', () => {
      assert.deepEqual(fromEnv({ STUN_URLS: '' }).getIceServers().iceServers, []);
    });

    test('getIceServers() returns copies: mutating one response does not change the next', () => {
      const ice = fromEnv({});
      const first = ice.getIceServers();
      (first.iceServers[0].urls as string[]).push('stun:evil.example');
      assert.deepEqual(ice.getIceServers().iceServers[0].urls, ['stun:stun.l.google.com:19302']);
    });
  });

  describe('static TURN', () => {
    test('getIceServers() passes TURN_USERNAME/TURN_PASSWORD through for every url of the comma list', () => {
      const ice = fromEnv({
        TURN_URL: 'turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349?transport=tcp',
        TURN_USERNAME: 'alice',
        TURN_PASSWORD: 's3cret',
      });
      const res = ice.getIceServers('peer1');
      assert.deepEqual(res.iceServers, [
        { urls: ['stun:stun.l.google.com:19302'] },
        {
          urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349?transport=tcp'],
          username: 'alice',
          credential: 's3cret',
        },
      ]);
      assert.equal(res.hasTurn, true);
    });

    test('getIceServers() with static TURN returns the same credentials to every caller', () => {
      const ice = fromEnv({ TURN_URL: 'turn:t.example:3478', TURN_USERNAME: 'u', TURN_PASSWORD: 'p' });
      assert.deepEqual(ice.getIceServers('x'), ice.getIceServers('y'));
    });
  });

  describe('TURN REST credentials (TURN_SECRET)', () => {
    const env = { TURN_URL: 'turn:turn.example.com:3478', TURN_SECRET: 'north-wind', TURN_TTL: '3600' };

    test('getIceServers(userId) mints username "<floor(now/1000)+ttl>:<userId>" and credential base64(HMAC-SHA1(secret, username))', () => {
      const res = fromEnv(env).getIceServers('peerA1');
      const turn = res.iceServers.find((s) => s.username !== undefined);
      const username = `${NOW_S + 3600}:peerA1`;
      assert.deepEqual(turn, {
        urls: ['turn:turn.example.com:3478'],
        username,
        credential: expectedCredential('north-wind', username),
      });
      assert.equal(res.hasTurn, true);
    });

    test('getIceServers() without userId mints fresh credentials per caller', () => {
      const ice = fromEnv(env);
      const one = ice.getIceServers().iceServers[1];
      const two = ice.getIceServers().iceServers[1];
      assert.notEqual(one.username, two.username);
      for (const s of [one, two]) {
        // coturn splits at the first ':'; the random id must not add another.
        assert.match(s.username ?? '', new RegExp(`^${NOW_S + 3600}:[A-Za-z0-9_-]+$`));
        assert.equal(s.credential, expectedCredential('north-wind', s.username ?? ''));
      }
    });

    test('getIceServers(userId) replaces characters outside [A-Za-z0-9_-] so the username has one ":"', () => {
      const turn = fromEnv(env).getIceServers('a:b/c d').iceServers[1];
      assert.equal(turn.username, `${NOW_S + 3600}:a_b_c_d`);
      assert.equal(turn.credential, expectedCredential('north-wind', turn.username ?? ''));
    });

    test('getIceServers() prefers TURN_SECRET over a static username/password', () => {
      const ice = fromEnv({ ...env, TURN_USERNAME: 'static', TURN_PASSWORD: 'static-pw' });
      const turn = ice.getIceServers('p').iceServers[1];
      assert.equal(turn.username, `${NOW_S + 3600}:p`);
    });

    test('getIceServers() returns ttl = TURN_TTL and expiresAt = now + ttl·1000, within the username’s expiry second', () => {
      const res = fromEnv({ ...env, TURN_TTL: '600' }).getIceServers('p');
      assert.equal(res.ttl, 600);
      assert.equal(res.expiresAt, NOW_MS + 600_000);
      const expiry = Number(res.iceServers[1].username?.split(':')[0]);
      // coturn accepts a username until the end of its expiry second; clients refresh at expiresAt.
      assert.equal(Math.floor(res.expiresAt / 1000), expiry);
    });

    test('getIceServers() later in time mints a later expiry', async () => {
      const clock = new FakeClock(NOW_MS);
      const ice = fromEnv(env, clock);
      const before = ice.getIceServers('p');
      await clock.advance(10_000);
      const after = ice.getIceServers('p');
      assert.equal(after.iceServers[1].username, `${NOW_S + 10 + 3600}:p`);
      assert.equal(after.expiresAt - before.expiresAt, 10_000);
    });
  });
});
