import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../support/harness';

interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
}
interface RouterLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

/** Every route the Express app serves, as "METHOD /path/{param}" (OpenAPI's form). */
function servedRoutes(server: TestServer): string[] {
  const express = server.sb.app.getHttpAdapter().getInstance() as { router: { stack: RouterLayer[] } };
  const routes: string[] = [];
  for (const layer of express.router.stack) {
    // Nest's catch-all (the 404 for unknown paths) is not an endpoint.
    if (!layer.route || layer.route.path.includes('*')) continue;
    const path = layer.route.path.replace(/:(\w+)/g, '{$1}');
    for (const [method, on] of Object.entries(layer.route.methods))
      if (on && method !== '_all') routes.push(`${method.toUpperCase()} ${path}`);
  }
  return routes.sort();
}

// The OpenAPI description is generated from the controllers; this holds it to the routes the
// server really serves, so an endpoint cannot be added (or removed) without the description following.
describe('OpenAPI description', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ ADMIN_API_TOKEN: 'admin-token-0123456789-0123456789-abcdef' });
  });
  after(() => server.close());

  it('GET /openapi.json describes exactly the HTTP endpoints the server serves, public and admin, each with its answers', async () => {
    const res = await fetch(`${server.url}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as OpenApi;
    assert.match(doc.openapi, /^3\./);
    const described = Object.entries(doc.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = servedRoutes(server).filter((r) => r !== 'GET /openapi.json');
    assert.deepEqual(described, served);
    for (const route of [
      'GET /webrtc/ice-servers',
      'GET /webrtc/config',
      'GET /health',
      'GET /ready',
      'GET /metrics',
      'GET /admin/rooms',
      'GET /admin/rooms/{roomId}',
      'DELETE /admin/rooms/{roomId}',
      'DELETE /admin/rooms/{roomId}/peers/{peerId}',
      'POST /admin/rooms/{roomId}/messages',
    ])
      assert.ok(described.includes(route), route);
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods))
        assert.ok(Object.keys(op.responses).length > 0, `${method} ${path} documents its answers`);
  });
});
