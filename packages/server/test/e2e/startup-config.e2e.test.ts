import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { until } from '../support/harness';
import { runToExit, spawnServer } from '../support/process';

describe('start-up', () => {
  it('the server process listens on PORT/HOST, logs its URL and answers /health and /ready', async () => {
    const server = await spawnServer({});
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await fetch(`${server.url}/health`);
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { status: string }).status, 'ok');
      const ready = await fetch(`${server.url}/ready`);
      assert.deepEqual(await ready.json(), { status: 'ready' });
    } finally {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  });

  it('the listening line is printed even when LOG_LEVEL hides info', async () => {
    const server = await spawnServer({ LOG_LEVEL: 'warn' });
    try {
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    } finally {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  });

  const bad: [string, Record<string, string>][] = [
    ['PORT', { PORT: 'eighty' }],
    ['MAX_PEERS_PER_ROOM', { MAX_PEERS_PER_ROOM: '0' }],
    ['MAX_SDP_BYTES', { MAX_SDP_BYTES: '-5' }],
    ['TURN_URL', { TURN_URL: 'http://not-turn:3478', TURN_SECRET: 's' }],
    ['TURN_URL', { TURN_URL: 'turn:127.0.0.1:3478' }],
    ['TURN_PASSWORD', { TURN_URL: 'turn:127.0.0.1:3478', TURN_USERNAME: 'u' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
    ['DEMO_ENABLED', { DEMO_ENABLED: 'maybe' }],
    ['RECONNECTION_DELAY_MAX', { RECONNECTION_DELAY: '5000', RECONNECTION_DELAY_MAX: '100' }],
    ['AUTH_JWT_SECRET', { AUTH_JWT_SECRET: 'shorter-than-32-bytes' }],
    ['AUTH_JWT_PUBLIC_KEY', { AUTH_JWT_PUBLIC_KEY: 'not a key' }],
    ['AUTH_JWKS_URL', { AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWKS_URL: 'https://app.example/jwks.json' }],
  ];
  for (const [variable, env] of bad) {
    it(`a bad ${variable} (${JSON.stringify(env)}) stops the server with a message naming it`, async () => {
      const { code, output } = await runToExit(env);
      assert.equal(code, 1);
      assert.match(output, new RegExp(`Invalid configuration:[\\s\\S]*${variable}`));
      assert.doesNotMatch(output, /listening on/);
    });
  }

  it('without AUTH_* the server starts open and warns that authentication is off; with AUTH_JWT_SECRET it says how tokens are verified', async () => {
    const open = await spawnServer({});
    try {
      // Nest's buffered start-up logs may follow the listening line.
      await until(() => /"level":40[^\n]*authentication is off/.test(open.output()), 3000, 'the warning');
    } finally {
      open.child.kill('SIGKILL');
      await open.exited;
    }
    const closed = await spawnServer({ AUTH_JWT_SECRET: 'x'.repeat(32) });
    try {
      await until(
        () => /authentication on: tokens verified with HS256 shared secret/.test(closed.output()),
        3000,
        'the line',
      );
      assert.doesNotMatch(closed.output(), /x{32}/); // the secret is never logged
    } finally {
      closed.child.kill('SIGKILL');
      await closed.exited;
    }
  });

  it('variables are read from .env in the working directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-env-'));
    writeFileSync(join(dir, '.env'), 'MAX_PEERS_PER_ROOM=1\n');
    const { code, output } = await runToExit({}, dir);
    assert.equal(code, 1);
    assert.match(output, /MAX_PEERS_PER_ROOM/);
  });
});
