import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { metric, startServer } from '../support/harness';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET from a chosen local address (any of 127.0.0.0/8 reaches the server: another client IP). */
function get(url: string, localAddress: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET /webrtc/ice-servers rate limit', () => {
  it('past ICE_SERVERS_RATE_PER_IP answers 429 with Retry-After and a RATE_LIMITED body; another IP, /webrtc/config and /health are unaffected', async () => {
    const server = await startServer({ ICE_SERVERS_RATE_PER_IP: '3' });
    const ice = `${server.url}/webrtc/ice-servers`;
    try {
      for (let i = 0; i < 3; i++) assert.equal((await get(ice, '127.0.0.3')).status, 200);
      const limited = await get(ice, '127.0.0.3');
      assert.equal(limited.status, 429);
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(
        Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
        `Retry-After ${retryAfter}`,
      );
      assert.match(String(limited.headers['content-type']), /application\/json/);
      const body = JSON.parse(limited.body) as {
        error: { code: string; message: string; retryAfterMs: number };
      };
      assert.deepEqual(Object.keys(body), ['error']);
      assert.equal(body.error.code, 'RATE_LIMITED');
      assert.equal(typeof body.error.message, 'string');
      assert.ok(body.error.retryAfterMs > 0 && body.error.retryAfterMs <= 60_000);
      assert.equal(retryAfter, Math.ceil(body.error.retryAfterMs / 1000));
      assert.equal((await get(ice, '127.0.0.3')).status, 429);
      assert.equal(await metric(server, 'switchboard_rate_limited_total{limit="ice_servers"}'), 2);

      assert.equal((await get(ice, '127.0.0.4')).status, 200);
      for (let i = 0; i < 10; i++)
        assert.equal((await get(`${server.url}/webrtc/config`, '127.0.0.3')).status, 200);
      assert.equal((await get(`${server.url}/health`, '127.0.0.3')).status, 200);
    } finally {
      await server.close();
    }
  });

  it('ICE_SERVERS_RATE_PER_IP=0 turns the limit off', async () => {
    const server = await startServer({ ICE_SERVERS_RATE_PER_IP: '0' });
    try {
      for (let i = 0; i < 100; i++)
        assert.equal((await get(`${server.url}/webrtc/ice-servers`, '127.0.0.3')).status, 200);
      assert.equal(await metric(server, 'switchboard_rate_limited_total{limit="ice_servers"}'), 0);
    } finally {
      await server.close();
    }
  });

  it('TRUST_PROXY=1 keys the limit by the X-Forwarded-For address, as the WebSocket caps do', async () => {
    const server = await startServer({ ICE_SERVERS_RATE_PER_IP: '2', TRUST_PROXY: '1' });
    const ice = `${server.url}/webrtc/ice-servers`;
    const from = (xff: string) => get(ice, '127.0.0.1', { 'X-Forwarded-For': xff });
    try {
      assert.deepEqual(
        [
          (await from('198.51.100.1')).status,
          (await from('::ffff:198.51.100.1')).status,
          (await from('198.51.100.1')).status,
          (await from('198.51.100.2')).status,
        ],
        [200, 200, 429, 200],
      );
    } finally {
      await server.close();
    }
  });
});
