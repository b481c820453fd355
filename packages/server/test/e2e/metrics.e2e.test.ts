import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeAll, connect, join, request, SDP, startServer } from '../support/harness';

function value(text: string, metric: string): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(metric + ' ') || (l.startsWith(metric + '{') && l.includes('} ')));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

describe('metrics', () => {
  it('GET /metrics counts relayed signals, duplicates and refusals, and reports connected sockets', async () => {
    const server = await startServer();
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await join(a, 'm');
      await join(b, 'm');
      const offer = { roomId: 'm', to: b.peerId, sdp: SDP, messageId: 'm1' };
      await request(a, 'offer', offer);
      await request(a, 'offer', offer);
      await request(a, 'offer', { roomId: 'elsewhere', to: b.peerId, sdp: SDP });
      const res = await fetch(`${server.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const text = await res.text();
      assert.equal(value(text, 'switchboard_client_events_total{event="offer",outcome="ok"}'), 1);
      assert.equal(value(text, 'switchboard_client_events_total{event="offer",outcome="duplicate"}'), 1);
      assert.equal(value(text, 'switchboard_client_events_total{event="offer",outcome="NOT_IN_ROOM"}'), 1);
      assert.equal(value(text, 'switchboard_server_events_total{event="offer"}'), 1);
      assert.equal(value(text, 'switchboard_connected_sockets'), 2);
      assert.ok(value(text, 'switchboard_state_keys') > 0);
      assert.match(text, /switchboard_process_resident_memory_bytes/);
      // Counts are handed to prom-client at each scrape: a second scrape keeps the totals and adds to them.
      await request(a, 'offer', { ...offer, messageId: 'm2' });
      const again = await (await fetch(`${server.url}/metrics`)).text();
      assert.equal(value(again, 'switchboard_client_events_total{event="offer",outcome="ok"}'), 2);
      assert.equal(value(again, 'switchboard_client_events_total{event="offer",outcome="duplicate"}'), 1);
      assert.equal(value(again, 'switchboard_server_events_total{event="offer"}'), 2);
    } finally {
      closeAll(a, b);
      await server.close();
    }
  });

  it('METRICS_ENABLED=false answers 404', async () => {
    const server = await startServer({ METRICS_ENABLED: 'false' });
    try {
      assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
    } finally {
      await server.close();
    }
  });
});
