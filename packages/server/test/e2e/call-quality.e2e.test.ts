import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '@switchboard/protocol';
import {
  closeAll,
  connect,
  join,
  metric,
  rawEmit,
  request,
  sleep,
  startServer,
  type TestServer,
} from '../support/harness';

// callQuality reports (what the SDK sends once a link connects or fails) are validated like every
// other event and aggregated into Prometheus series: setup time, selected pair types, failures.
describe('call-quality telemetry', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('reports of connected links and of failures show in /metrics as setup time, pair types by protocol, rtt and failure reasons', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await join(a, 'cq-1');
      await join(b, 'cq-1');
      const base = { roomId: 'cq-1', peerId: b.peerId };
      assert.deepEqual(
        await request(a, 'callQuality', {
          ...base,
          setupMs: 350,
          localCandidateType: 'host',
          remoteCandidateType: 'host',
          protocol: 'udp',
          rttMs: 2,
        }),
        { ok: true },
      );
      assert.deepEqual(
        await request(a, 'callQuality', {
          ...base,
          setupMs: 2500,
          localCandidateType: 'relay',
          remoteCandidateType: 'srflx',
          protocol: 'tcp',
        }),
        { ok: true },
      );
      assert.deepEqual(await request(a, 'callQuality', { ...base, failure: 'ice-restart-exhausted' }), {
        ok: true,
      });
      assert.equal(await metric(server, 'switchboard_call_setup_seconds_count'), 2);
      assert.equal(await metric(server, 'switchboard_call_setup_seconds_bucket{le="0.5"}'), 1);
      assert.equal(await metric(server, 'switchboard_call_setup_seconds_bucket{le="3"}'), 2);
      assert.equal(
        await metric(server, 'switchboard_call_pairs_total{local="host",remote="host",protocol="udp"}'),
        1,
      );
      assert.equal(
        await metric(server, 'switchboard_call_pairs_total{local="relay",remote="srflx",protocol="tcp"}'),
        1,
      );
      assert.equal(await metric(server, 'switchboard_call_rtt_seconds_count'), 1);
      assert.equal(
        await metric(server, 'switchboard_call_failures_total{reason="ice-restart-exhausted"}'),
        1,
      );
    } finally {
      closeAll(a, b);
    }
  });

  it('a report carrying an address, an unknown type or a peer outside the room is refused and counts nothing', async () => {
    const a = await connect(server.url);
    const b = await connect(server.url);
    try {
      await join(a, 'cq-2');
      await join(b, 'cq-2');
      const before = await metric(server, 'switchboard_call_setup_seconds_count');
      const withAddress = await request(a, 'callQuality', {
        roomId: 'cq-2',
        peerId: b.peerId,
        setupMs: 100,
        address: '192.0.2.7',
      } as never);
      assert.equal(!withAddress.ok && withAddress.error.code, ErrorCode.VALIDATION_FAILED);
      const badType = await request(a, 'callQuality', {
        roomId: 'cq-2',
        peerId: b.peerId,
        localCandidateType: 'mdns' as never,
      });
      assert.equal(!badType.ok && badType.error.code, ErrorCode.VALIDATION_FAILED);
      const stranger = await request(a, 'callQuality', {
        roomId: 'cq-2',
        peerId: 'nobody-here',
        setupMs: 100,
      });
      assert.equal(!stranger.ok && stranger.error.code, ErrorCode.PEER_NOT_FOUND);
      rawEmit(a, 'callQuality', { roomId: 'cq-2', peerId: b.peerId, setupMs: -1 });
      await sleep(50);
      assert.equal(await metric(server, 'switchboard_call_setup_seconds_count'), before);
    } finally {
      closeAll(a, b);
    }
  });
});
