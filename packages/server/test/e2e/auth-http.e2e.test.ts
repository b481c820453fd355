import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { ClientConfigResponse, IceServersResponse } from '@switchboard/protocol';
import { metric, refusal, startServer, type TestServer } from '../support/harness';
import { SECRET, signHs256 } from '../support/tokens';

const TURN_SECRET = 'turn-shared-secret';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** GET with an optional bearer token, from an optional local address (another client IP). */
function get(
  url: string,
  opts: { token?: string; authorization?: string; localAddress?: string } = {},
): Promise<Answer> {
  const authorization = opts.authorization ?? (opts.token === undefined ? undefined : `Bearer ${opts.token}`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        headers: authorization ? { authorization } : {},
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function assert401(answer: Answer, message: RegExp, challenge = 'Bearer error="invalid_token"'): void {
  assert.equal(answer.status, 401);
  assert.equal(answer.headers['www-authenticate'], challenge);
  const body = answer.body as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'UNAUTHORIZED');
  assert.match(body.error.message, message);
}

describe('GET /webrtc/ice-servers with authentication on', () => {
  let server: TestServer;
  let url: string;
  before(async () => {
    server = await startServer({
      AUTH_JWT_SECRET: SECRET,
      AUTH_FAILURES_PER_IP: '0',
      TURN_URL: 'turn:127.0.0.1:3478',
      TURN_SECRET,
    });
    url = `${server.url}/webrtc/ice-servers`;
  });
  after(() => server.close());

  it('GET /webrtc/ice-servers without a bearer token answers 401 UNAUTHORIZED with WWW-Authenticate: Bearer', async () => {
    assert401(await get(url), /token is required/, 'Bearer');
    assert401(
      await get(url, { authorization: `Basic ${await signHs256({ sub: 'a' })}` }),
      /token is required/,
      'Bearer',
    );
  });

  it('GET /webrtc/ice-servers with an invalid or expired bearer token answers 401 with error="invalid_token"', async () => {
    assert401(await get(url, { token: 'junk' }), /malformed/);
    assert401(
      await get(url, { token: await signHs256({ sub: 'a', exp: Math.floor(Date.now() / 1000) - 60 }) }),
      /expired/,
    );
    assert401(
      await get(url, {
        token: await signHs256({ sub: 'a' }, {}, 'not-the-secret-0123456789-0123456789-xyz'),
      }),
      /signature/,
    );
  });

  it('GET /webrtc/ice-servers with a valid bearer token answers 200 and the TURN username is <expiry>:<sub>', async () => {
    const answer = await get(url, { token: await signHs256({ sub: 'ada' }) });
    assert.equal(answer.status, 200);
    const body = answer.body as IceServersResponse;
    const turn = body.iceServers.find((s) => String(s.urls).startsWith('turn:'));
    assert.ok(turn?.username);
    const [expiry, user] = turn.username.split(':');
    assert.equal(user, 'ada');
    assert.equal(Number(expiry), Math.floor(body.expiresAt / 1000));
    assert.equal(turn.credential, createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64'));
  });

  it('GET /webrtc/config answers authRequired: true without a token; /health needs none either', async () => {
    const config = await get(`${server.url}/webrtc/config`);
    assert.equal(config.status, 200);
    assert.equal((config.body as ClientConfigResponse).authRequired, true);
    assert.equal((await get(`${server.url}/health`)).status, 200);
  });

  it('refused requests are counted in switchboard_auth_failures_total', async () => {
    const before = (await metric(server, 'switchboard_auth_failures_total{reason="missing"}')) || 0;
    await get(url);
    assert.equal(await metric(server, 'switchboard_auth_failures_total{reason="missing"}'), before + 1);
  });
});

describe('GET /webrtc/ice-servers with authentication off', () => {
  it('GET /webrtc/ice-servers needs no token, GET /webrtc/config answers authRequired: false, and TURN usernames name no user', async () => {
    const server = await startServer({ TURN_URL: 'turn:127.0.0.1:3478', TURN_SECRET });
    try {
      const answer = await get(`${server.url}/webrtc/ice-servers`);
      assert.equal(answer.status, 200);
      const turn = (answer.body as IceServersResponse).iceServers.find((s) =>
        String(s.urls).startsWith('turn:'),
      );
      assert.match(turn?.username ?? '', /^\d+:[A-Za-z0-9_-]{12}$/);
      assert.equal(
        ((await get(`${server.url}/webrtc/config`)).body as ClientConfigResponse).authRequired,
        false,
      );
    } finally {
      await server.close();
    }
  });
});

describe('GET /webrtc/ice-servers and the per-IP limits', () => {
  it('after AUTH_FAILURES_PER_IP failed requests the IP gets 401 with Retry-After even with a valid token, on HTTP and WebSocket alike; another IP does not', async () => {
    const server = await startServer({
      AUTH_JWT_SECRET: SECRET,
      AUTH_FAILURES_PER_IP: '2',
      AUTH_BLOCK_SECONDS: '30',
    });
    const url = `${server.url}/webrtc/ice-servers`;
    try {
      assert401(await get(url, { token: 'junk-1' }), /malformed/);
      assert401(await get(url), /token is required/, 'Bearer');
      const valid = await signHs256({ sub: 'ada' });
      const blocked = await get(url, { token: valid });
      assert401(blocked, /too many failed authentications from this address; retry in 30 s/);
      assert.equal(blocked.headers['retry-after'], '30');
      const ws = await refusal(server.url, { auth: { token: valid } });
      assert.match(ws.data?.message ?? '', /too many failed authentications/);
      assert.equal((await get(url, { token: valid, localAddress: '127.0.0.2' })).status, 200);
    } finally {
      await server.close();
    }
  });

  it('past ICE_SERVERS_RATE_PER_IP the answer is 429 before any token is looked at', async () => {
    const server = await startServer({ AUTH_JWT_SECRET: SECRET, ICE_SERVERS_RATE_PER_IP: '1' });
    const url = `${server.url}/webrtc/ice-servers`;
    try {
      const token = await signHs256({ sub: 'ada' });
      assert.equal((await get(url, { token })).status, 200);
      assert.equal((await get(url, { token })).status, 429);
      assert.equal((await get(url, { token: 'junk' })).status, 429);
      assert.equal((await metric(server, 'switchboard_auth_failures_total{reason="invalid"}')) || 0, 0);
    } finally {
      await server.close();
    }
  });
});
