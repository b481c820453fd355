import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  candidate,
  closeAll,
  connect,
  join,
  rawEmit,
  record,
  request,
  SDP,
  sleep,
  startServer,
  type ConnectedClient,
  type TestServer,
} from '../support/harness';

describe('bad input', () => {
  let server: TestServer;
  let a: ConnectedClient;
  let b: ConnectedClient;
  before(async () => {
    server = await startServer({ MAX_SDP_BYTES: '4096' });
    a = await connect(server.url);
    b = await connect(server.url);
    await join(a, 'bad');
    await join(b, 'bad');
  });
  after(async () => {
    closeAll(a, b);
    await server.close();
  });

  const cases: [string, string, unknown, string][] = [
    [
      'joinRoom with a roomId of bad characters',
      'joinRoom',
      { roomId: 'no spaces/allowed' },
      'VALIDATION_FAILED',
    ],
    ['joinRoom with a 65-character roomId', 'joinRoom', { roomId: 'r'.repeat(65) }, 'VALIDATION_FAILED'],
    ['joinRoom with a non-object payload', 'joinRoom', 'lobby', 'VALIDATION_FAILED'],
    [
      'joinRoom with oversized metadata',
      'joinRoom',
      { roomId: 'm', metadata: { x: 'y'.repeat(3000) } },
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'offer with an SDP over MAX_SDP_BYTES',
      'offer',
      { roomId: 'bad', to: 'PEER', sdp: SDP + 'a=x\r\n'.repeat(1000) },
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'offer with an SDP that is not one',
      'offer',
      { roomId: 'bad', to: 'PEER', sdp: 'hello' },
      'VALIDATION_FAILED',
    ],
    ['offer without sdp', 'offer', { roomId: 'bad', to: 'PEER' }, 'VALIDATION_FAILED'],
    [
      'offer with a negative sequence',
      'offer',
      { roomId: 'bad', to: 'PEER', sdp: SDP, sequence: -1 },
      'VALIDATION_FAILED',
    ],
    [
      'offer with a fractional sequence',
      'offer',
      { roomId: 'bad', to: 'PEER', sdp: SDP, sequence: 1.5 },
      'VALIDATION_FAILED',
    ],
    [
      'offer with a string sequence',
      'offer',
      { roomId: 'bad', to: 'PEER', sdp: SDP, sequence: '7' },
      'VALIDATION_FAILED',
    ],
    [
      'offer with an over-long messageId',
      'offer',
      { roomId: 'bad', to: 'PEER', sdp: SDP, messageId: 'm'.repeat(129) },
      'VALIDATION_FAILED',
    ],
    [
      'iceCandidate with a malformed candidate line',
      'iceCandidate',
      { roomId: 'bad', to: 'PEER', candidate: { candidate: 'rm -rf /' } },
      'VALIDATION_FAILED',
    ],
    [
      'iceCandidate with a string candidate',
      'iceCandidate',
      { roomId: 'bad', to: 'PEER', candidate: 'candidate:1 1 udp 1 1.1.1.1 1 typ host' },
      'VALIDATION_FAILED',
    ],
    [
      'iceCandidate with sdpMLineIndex out of range',
      'iceCandidate',
      { roomId: 'bad', to: 'PEER', candidate: { ...candidate(1), sdpMLineIndex: -2 } },
      'VALIDATION_FAILED',
    ],
    [
      'connectionState with an unknown state',
      'connectionState',
      { roomId: 'bad', peerId: 'PEER', connectionState: 'great', iceConnectionState: 'new' },
      'VALIDATION_FAILED',
    ],
  ];

  for (const [name, event, payload, code] of cases) {
    it(`${name} is refused ${code}, forwards nothing and changes no state`, async () => {
      const before = await server.store.size();
      const seen = [...['offer', 'answer', 'iceCandidate', 'peerJoined'].map((e) => record(b, e as 'offer'))];
      const body = JSON.parse(JSON.stringify(payload).replaceAll('PEER', b.peerId)) as unknown;
      const res = await request(a, event as 'offer', body);
      assert.equal(res.ok, false);
      assert.equal(!res.ok && res.error.code, code);
      assert.ok(!res.ok && res.error.message.length > 0);
      await sleep(20);
      assert.deepEqual(seen.flat(), []);
      assert.equal(await server.store.size(), before);
    });
  }

  it('events with no payload, extra arguments or unknown names do not crash the server', async () => {
    rawEmit(a, 'offer');
    rawEmit(a, 'joinRoom', null, null, null);
    rawEmit(a, 'iceCandidate', { roomId: 'bad', to: b.peerId, candidate: candidate(9) }, 'extra', 42);
    rawEmit(a, 'noSuchEvent', { x: 1 });
    rawEmit(a, '__proto__', {});
    const unknown = await request(a, 'noSuchEvent' as 'offer', { x: 1 });
    assert.equal(!unknown.ok && unknown.error.code, 'VALIDATION_FAILED');
    // A prototype-pollution attempt is just an invalid payload.
    const res = await request(a, 'offer', JSON.parse('{"__proto__":{"polluted":true},"roomId":"bad"}'));
    assert.equal(!res.ok && res.error.code, 'VALIDATION_FAILED');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    // Still serving, and a valid message after all that is still delivered.
    const offers = record(b, 'offer');
    assert.deepEqual(await request(a, 'offer', { roomId: 'bad', to: b.peerId, sdp: SDP }), { ok: true });
    await sleep(30);
    assert.equal(offers.length, 1);
  });
});
