import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, type EnvInput } from '../../src/config/config';

/**
 * Asserts loadConfig throws a ConfigError with a line for each variable, e.g. `  PORT: must be an
 * integer` (`TURN_URL.0:` for a list entry): operators must see which variable to fix.
 */
function assertRejects(env: EnvInput, ...variables: string[]): void {
  assert.throws(
    () => loadConfig(env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      assert.equal(err.name, 'ConfigError');
      for (const v of variables) assert.match(err.message, new RegExp(`^\\s+${v}(\\.\\d+)?: `, 'm'));
      return true;
    },
  );
}

describe('loadConfig', () => {
  describe('defaults', () => {
    test('loadConfig({}) returns the documented defaults', () => {
      const c = loadConfig({});
      assert.equal(c.PORT, 3000);
      assert.equal(c.MAX_PEERS_PER_ROOM, 16);
      assert.equal(c.MAX_SDP_BYTES, 65_536);
      assert.equal(c.RESUME_WINDOW_MS, 30_000);
      assert.equal(c.MAX_HTTP_BUFFER_SIZE, 262_144);
      assert.equal(c.SIGNAL_RATE_PER_SEC, 200);
      assert.equal(c.SIGNAL_BURST, 600);
      assert.equal(c.MAX_ROOMS_PER_PEER, 8);
      assert.equal(c.MAX_CONNECTIONS_PER_IP, 200);
      assert.equal(c.TRUST_PROXY, 0);
      assert.equal(c.METRICS_TOKEN, undefined);
      assert.deepEqual(c.STUN_URLS, ['stun:stun.l.google.com:19302']);
      assert.deepEqual(c.TURN_URL, []);
      assert.equal(c.TURN_SECRET, undefined);
      assert.equal(c.SIGNAL_DEDUP_WINDOW_MS, 30_000);
      assert.equal(c.ICE_RESTART_MAX_ATTEMPTS, 2);
      assert.equal(c.ICE_RESTART_MIN_INTERVAL_MS, 5000);
      assert.equal(c.ICE_RESTART_TIMEOUT_MS, 15_000);
      assert.equal(c.DISCONNECTED_TIMEOUT_MS, 5000);
      assert.equal(c.DEMO_ENABLED, true);
      assert.equal(c.LOG_LEVEL, 'info');
      assert.equal(c.AUTH_JWT_SECRET, undefined);
      assert.equal(c.AUTH_JWT_PUBLIC_KEY, undefined);
      assert.equal(c.AUTH_JWKS_URL, undefined);
      assert.equal(c.AUTH_FAILURES_PER_IP, 20);
      assert.equal(c.AUTH_BLOCK_SECONDS, 300);
    });

    test('loadConfig() with an empty or blank value for a variable with a default uses the default', () => {
      const c = loadConfig({ PORT: '', MAX_PEERS_PER_ROOM: '   ' });
      assert.equal(c.PORT, 3000);
      assert.equal(c.MAX_PEERS_PER_ROOM, 16);
    });

    test('loadConfig() with STUN_URLS empty means no STUN', () => {
      assert.deepEqual(loadConfig({ STUN_URLS: '' }).STUN_URLS, []);
      assert.deepEqual(loadConfig({ STUN_URLS: ' , ' }).STUN_URLS, []);
    });

    test('loadConfig() without MAX_HTTP_BUFFER_SIZE raises it to fit an offer at MAX_SDP_BYTES', () => {
      assert.equal(loadConfig({ MAX_SDP_BYTES: '200000' }).MAX_HTTP_BUFFER_SIZE, 404_096);
    });

    test('loadConfig() with MAX_HTTP_BUFFER_SIZE too small for an offer at MAX_SDP_BYTES names the variable', () => {
      assert.throws(
        () => loadConfig({ MAX_SDP_BYTES: '200000', MAX_HTTP_BUFFER_SIZE: '262144' }),
        /MAX_HTTP_BUFFER_SIZE: must be >= 2 × MAX_SDP_BYTES \+ 4096 \(404096\)/,
      );
    });

    test('loadConfig() with MAX_OUTBOUND_BUFFER_BYTES under twice the largest offer names the variable', () => {
      assert.throws(
        () => loadConfig({ MAX_OUTBOUND_BUFFER_BYTES: '200000' }),
        /MAX_OUTBOUND_BUFFER_BYTES: must be >= 2 × \(2 × MAX_SDP_BYTES \+ 4096\) \(270336\)/,
      );
    });

    test('loadConfig() reads TRUST_PROXY as a number of proxies', () => {
      assert.equal(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY, 1);
      assert.equal(loadConfig({ TRUST_PROXY: 'FALSE' }).TRUST_PROXY, 0);
      assert.equal(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY, 2);
      assert.throws(
        () => loadConfig({ TRUST_PROXY: 'yes please' }),
        /TRUST_PROXY: must be true, false or a number/,
      );
    });

    test('loadConfig() refuses a METRICS_TOKEN shorter than 16 characters', () => {
      assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN/);
    });

    test('loadConfig() without REDIS_URL keeps state in memory; REDIS_KEY_PREFIX defaults to switchboard:', () => {
      const c = loadConfig({});
      assert.equal(c.REDIS_URL, undefined);
      assert.equal(c.REDIS_KEY_PREFIX, 'switchboard:');
    });

    test('loadConfig() accepts redis:// and rediss:// URLs with credentials and a database', () => {
      for (const url of [
        'redis://127.0.0.1:6379',
        'rediss://user:secret@redis.example:6380/2',
        'REDIS://host',
      ])
        assert.equal(loadConfig({ REDIS_URL: url }).REDIS_URL, url);
      assert.equal(loadConfig({ REDIS_KEY_PREFIX: 'app1:sb:' }).REDIS_KEY_PREFIX, 'app1:sb:');
    });

    test('loadConfig() ignores variables it does not know', () => {
      assert.equal(loadConfig({ PATH: '/usr/bin', PORTT: 'x' }).PORT, 3000);
    });
  });

  describe('valid values', () => {
    test('loadConfig() parses integers with surrounding spaces', () => {
      assert.equal(loadConfig({ PORT: ' 8080 ' }).PORT, 8080);
      assert.equal(loadConfig({ PORT: '0' }).PORT, 0);
    });

    test('loadConfig() splits comma-separated STUN_URLS and TURN_URL, trimming entries', () => {
      const c = loadConfig({
        STUN_URLS: 'stun:a.example:3478, stuns:b.example:5349',
        TURN_URL: 'turn:t.example:3478 ,turns:t.example:5349,',
        TURN_SECRET: 'x',
      });
      assert.deepEqual(c.STUN_URLS, ['stun:a.example:3478', 'stuns:b.example:5349']);
      assert.deepEqual(c.TURN_URL, ['turn:t.example:3478', 'turns:t.example:5349']);
    });

    test('loadConfig() accepts TURN_URL with TURN_USERNAME and TURN_PASSWORD', () => {
      const c = loadConfig({ TURN_URL: 'turn:t.example:3478', TURN_USERNAME: 'u', TURN_PASSWORD: 'p' });
      assert.equal(c.TURN_USERNAME, 'u');
      assert.equal(c.TURN_PASSWORD, 'p');
    });

    test('loadConfig() reads booleans as true/false, 1/0 or yes/no in any case', () => {
      assert.equal(loadConfig({ DEMO_ENABLED: 'No' }).DEMO_ENABLED, false);
      assert.equal(loadConfig({ DEMO_ENABLED: '1' }).DEMO_ENABLED, true);
      assert.equal(loadConfig({ DEMO_ENABLED: 'FALSE' }).DEMO_ENABLED, false);
    });
  });

  describe('invalid values', () => {
    for (const port of ['abc', '3000.5', '1e3', '0x10', '30 00']) {
      test(`loadConfig() with non-integer PORT "${port}" throws ConfigError naming PORT`, () => {
        assertRejects({ PORT: port }, 'PORT');
      });
    }

    const outOfRange: [string, string][] = [
      ['PORT', '65536'],
      ['PORT', '-1'],
      ['MAX_PEERS_PER_ROOM', '1'],
      ['MAX_SDP_BYTES', '255'],
      ['RESUME_WINDOW_MS', '999'],
      ['MAX_HTTP_BUFFER_SIZE', '1023'],
      ['TURN_TTL', '59'],
    ];
    for (const [name, value] of outOfRange) {
      test(`loadConfig() with out-of-range ${name}=${value} throws ConfigError naming ${name}`, () => {
        assertRejects({ [name]: value }, name);
      });
    }

    test('loadConfig() with a TURN_URL entry not starting with turn:/turns: throws ConfigError naming TURN_URL', () => {
      assertRejects({ TURN_URL: 'turn:ok.example:3478,http://turn.example', TURN_SECRET: 's' }, 'TURN_URL');
    });

    test('loadConfig() with a STUN_URLS entry not starting with stun:/stuns: throws ConfigError naming STUN_URLS', () => {
      assertRejects({ STUN_URLS: 'turn:x.example' }, 'STUN_URLS');
    });

    test('loadConfig() with TURN_URL but no credentials throws ConfigError naming TURN_URL', () => {
      assertRejects({ TURN_URL: 'turn:t.example:3478' }, 'TURN_URL');
    });

    test('loadConfig() with TURN_USERNAME but no TURN_PASSWORD throws ConfigError naming TURN_PASSWORD', () => {
      assertRejects({ TURN_URL: 'turn:t.example:3478', TURN_USERNAME: 'u' }, 'TURN_PASSWORD');
    });

    test('loadConfig() with TURN_PASSWORD but no TURN_USERNAME throws ConfigError naming TURN_USERNAME', () => {
      assertRejects({ TURN_URL: 'turn:t.example:3478', TURN_PASSWORD: 'p' }, 'TURN_USERNAME');
    });

    test('loadConfig() with TURN_SECRET but no TURN_URL throws ConfigError naming TURN_URL', () => {
      assertRejects({ TURN_SECRET: 's' }, 'TURN_URL');
    });

    test('loadConfig() with RECONNECTION_DELAY_MAX below RECONNECTION_DELAY throws naming RECONNECTION_DELAY_MAX', () => {
      assertRejects({ RECONNECTION_DELAY: '2000', RECONNECTION_DELAY_MAX: '1000' }, 'RECONNECTION_DELAY_MAX');
    });

    test('loadConfig() with an unknown LOG_LEVEL or a non-boolean DEMO_ENABLED names each', () => {
      assertRejects({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL');
      assertRejects({ DEMO_ENABLED: 'maybe' }, 'DEMO_ENABLED');
    });

    test('loadConfig() with an AUTH_JWT_SECRET shorter than 32 bytes names it', () => {
      assertRejects({ AUTH_JWT_SECRET: 'x'.repeat(31) }, 'AUTH_JWT_SECRET');
      // Bytes, not characters: 16 two-byte characters are enough.
      assert.equal(loadConfig({ AUTH_JWT_SECRET: 'é'.repeat(16) }).AUTH_JWT_SECRET, 'é'.repeat(16));
    });

    test('loadConfig() with more than one of AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY, AUTH_JWKS_URL names the extra one', () => {
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
        type: 'spki',
        format: 'pem',
      });
      assertRejects(
        { AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWKS_URL: 'https://app.example/jwks.json' },
        'AUTH_JWKS_URL',
      );
      assertRejects(
        { AUTH_JWT_PUBLIC_KEY: String(ec), AUTH_JWKS_URL: 'https://app.example/jwks.json' },
        'AUTH_JWKS_URL',
      );
    });

    test('loadConfig() with an AUTH_JWT_PUBLIC_KEY that is not a usable SPKI public key names it', () => {
      const spki = (key: KeyObject) => String(key.export({ type: 'spki', format: 'pem' }));
      const rsa1024 = spki(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey);
      const p384 = spki(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey);
      const ed448 = spki(generateKeyPairSync('ed448').publicKey);
      const privateKey = String(
        generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
          type: 'pkcs8',
          format: 'pem',
        }),
      );
      for (const value of ['not a key', rsa1024, p384, ed448, privateKey])
        assertRejects({ AUTH_JWT_PUBLIC_KEY: value }, 'AUTH_JWT_PUBLIC_KEY');
    });

    test('loadConfig() reads an AUTH_JWT_PUBLIC_KEY written on one line with \\n escapes', () => {
      const ec = String(
        generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }),
      );
      assert.equal(
        loadConfig({ AUTH_JWT_PUBLIC_KEY: ec.replace(/\n/g, '\\n') }).AUTH_JWT_PUBLIC_KEY,
        ec.trim(),
      );
    });

    test('loadConfig() with an AUTH_JWKS_URL that is not http(s) names it', () => {
      for (const value of ['ftp://app.example/jwks', 'not a url', 'https://'])
        assertRejects({ AUTH_JWKS_URL: value }, 'AUTH_JWKS_URL');
    });

    test('loadConfig() with AUTH_JWT_ISSUER or AUTH_JWT_AUDIENCE but no key names them (they would do nothing)', () => {
      assertRejects(
        { AUTH_JWT_ISSUER: 'https://app.example', AUTH_JWT_AUDIENCE: 'sb' },
        'AUTH_JWT_ISSUER',
        'AUTH_JWT_AUDIENCE',
      );
    });

    test('loadConfig() with AUTH_BLOCK_SECONDS 0 or a negative AUTH_FAILURES_PER_IP names it', () => {
      assertRejects({ AUTH_BLOCK_SECONDS: '0' }, 'AUTH_BLOCK_SECONDS');
      assertRejects({ AUTH_FAILURES_PER_IP: '-1' }, 'AUTH_FAILURES_PER_IP');
    });

    test('loadConfig() with a REDIS_URL that is not redis:// or rediss:// names it', () => {
      for (const url of ['http://127.0.0.1:6379', '127.0.0.1:6379', 'redis://', 'redis:///0', 'redis://[::1'])
        assertRejects({ REDIS_URL: url }, 'REDIS_URL');
    });

    test('loadConfig() with a REDIS_KEY_PREFIX holding spaces or over 64 characters names it', () => {
      assertRejects({ REDIS_KEY_PREFIX: 'my app:' }, 'REDIS_KEY_PREFIX');
      assertRejects({ REDIS_KEY_PREFIX: 'p'.repeat(65) }, 'REDIS_KEY_PREFIX');
    });

    test('loadConfig() with several bad variables names every one of them', () => {
      assertRejects(
        { PORT: 'abc', MAX_PEERS_PER_ROOM: '0', TURN_USERNAME: 'u' },
        'PORT',
        'MAX_PEERS_PER_ROOM',
        'TURN_PASSWORD',
      );
    });
  });
});
