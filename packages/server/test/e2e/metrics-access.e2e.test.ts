import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startServer } from '../support/harness';

const TOKEN = 'scrape-token-0123456789';

describe('/metrics access', () => {
  it('METRICS_TOKEN: GET /metrics without a token or with a wrong one answers 401 JSON; with Bearer <token> 200', async () => {
    const server = await startServer({ METRICS_TOKEN: TOKEN });
    const url = `${server.url}/metrics`;
    try {
      for (const authorization of [
        undefined,
        'Bearer wrong-token-0123456789',
        `Basic ${TOKEN}`,
        'Bearer ',
        TOKEN,
      ]) {
        const res = await fetch(url, authorization === undefined ? {} : { headers: { authorization } });
        assert.equal(res.status, 401, String(authorization));
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'UNAUTHORIZED');
        assert.equal(typeof body.error.message, 'string');
      }
      const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /switchboard_connected_sockets/);
      // Only /metrics is protected.
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    } finally {
      await server.close();
    }
  });

  it('METRICS_PORT serves GET /metrics on its own listener, the public GET /metrics answers 404, and shutdown closes it', async () => {
    const server = await startServer({ METRICS_PORT: '0' });
    const metricsUrl = server.sb.metricsUrl();
    try {
      assert.ok(metricsUrl);
      assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(new URL(metricsUrl).port, new URL(server.url).port);
      const res = await fetch(`${metricsUrl}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      assert.match(await res.text(), /switchboard_connected_sockets/);
      assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
      assert.equal((await fetch(`${metricsUrl}/health`)).status, 404);
      assert.equal((await fetch(`${metricsUrl}/metrics`, { method: 'POST' })).status, 404);
    } finally {
      await server.close();
    }
    assert.equal(server.sb.metricsUrl(), undefined);
    await assert.rejects(fetch(`${metricsUrl!}/metrics`), /fetch failed/);
  });

  it('METRICS_PORT with METRICS_TOKEN requires the token on the separate port too', async () => {
    const server = await startServer({ METRICS_PORT: '0', METRICS_TOKEN: TOKEN });
    try {
      const url = `${server.sb.metricsUrl()!}/metrics`;
      const denied = await fetch(url, { headers: { authorization: 'Bearer nope-nope-nope-nope' } });
      assert.equal(denied.status, 401);
      assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
      assert.equal((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
      assert.equal(
        (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
        404,
      );
    } finally {
      await server.close();
    }
  });

  it('METRICS_ENABLED=false with METRICS_PORT starts no metrics listener', async () => {
    const server = await startServer({ METRICS_ENABLED: 'false', METRICS_PORT: '0' });
    try {
      assert.equal(server.sb.metricsUrl(), undefined);
      assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
    } finally {
      await server.close();
    }
  });
});
