import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { frameLimits, MAX_PAYLOAD_DEPTH } from '@switchboard/protocol';
import { Encoder as BaseEncoder, PacketType } from 'socket.io-parser';
import { createGuardedParser, nestsDeeperThan, RefusedFrame } from '../../src/common/guarded-parser';

const limits = frameLimits({ maxSdpBytes: 4096, maxMetadataBytes: 2048 });

/** Decodes one frame with the guarded decoder; the packet, or the error the decoder threw. */
function decode(frame: string): { type: number; nsp: string; id?: number; data?: unknown[] } | Error {
  const { Decoder } = createGuardedParser(limits);
  const decoder = new Decoder();
  let packet: { type: number; nsp: string; id?: number; data?: unknown[] } | undefined;
  decoder.on('decoded', (p: typeof packet) => (packet = p));
  try {
    decoder.add(frame);
  } catch (err) {
    return err as Error;
  }
  assert.ok(packet, 'nothing decoded');
  return packet;
}

describe('nestsDeeperThan', () => {
  const nest = (n: number, open = '[', close = ']') => open.repeat(n) + close.repeat(n);

  it('nestsDeeperThan() is false at the limit and true one past it, for arrays and objects', () => {
    assert.equal(nestsDeeperThan(nest(16), 16), false);
    assert.equal(nestsDeeperThan(nest(17), 16), true);
    const objects = '{"a":'.repeat(17) + '1' + '}'.repeat(17);
    assert.equal(nestsDeeperThan(objects, 16), true);
    assert.equal(nestsDeeperThan('{"a":'.repeat(16) + '1' + '}'.repeat(16), 16), false);
  });

  it('nestsDeeperThan() ignores brackets inside strings, escaped quotes included', () => {
    const inString = JSON.stringify(['offer', { sdp: '['.repeat(100) + '"{{{{' + '\\'.repeat(3) }]);
    assert.equal(nestsDeeperThan(inString, 3), false);
    assert.equal(nestsDeeperThan(JSON.stringify(['a"]]]]', [[['x']]]]), 3), true);
    assert.equal(nestsDeeperThan(JSON.stringify(['a"]]]]', [[['x']]]]), 4), false);
  });

  it('nestsDeeperThan() on many siblings at depth 2 is false', () => {
    assert.equal(nestsDeeperThan(JSON.stringify([Array.from({ length: 500 }, () => [1])]), 3), false);
  });
});

describe('guarded Socket.IO decoder', () => {
  it('decoder.add() of a valid event parses it as socket.io-parser does', () => {
    const packet = decode('2/webrtc,7["joinRoom",{"roomId":"r","metadata":{"a":[1,{"b":2}]}}]');
    assert.ok(!(packet instanceof Error));
    assert.equal(packet.nsp, '/webrtc');
    assert.equal(packet.id, 7);
    assert.deepEqual(packet.data, ['joinRoom', { roomId: 'r', metadata: { a: [1, { b: 2 }] } }]);
  });

  it('decoder.add() of an event over its frame limit yields a PAYLOAD_TOO_LARGE RefusedFrame with the same ack id, unparsed', () => {
    const big = JSON.stringify(['joinRoom', { roomId: 'r', metadata: { x: 'y'.repeat(limits.joinRoom!) } }]);
    const packet = decode(`2/webrtc,9${big}`);
    assert.ok(!(packet instanceof Error));
    assert.equal(packet.id, 9);
    assert.equal(packet.data?.[0], 'joinRoom');
    const refused = packet.data?.[1];
    assert.ok(refused instanceof RefusedFrame);
    assert.equal(refused.code, 'PAYLOAD_TOO_LARGE');
  });

  it('decoder.add() of an event nested past MAX_PAYLOAD_DEPTH yields a VALIDATION_FAILED RefusedFrame', () => {
    const deep = `["joinRoom",{"roomId":"r","metadata":{"a":${'['.repeat(MAX_PAYLOAD_DEPTH)}${']'.repeat(MAX_PAYLOAD_DEPTH)}}}]`;
    const packet = decode(`2/webrtc,3${deep}`);
    assert.ok(!(packet instanceof Error));
    const refused = packet.data?.[1];
    assert.ok(refused instanceof RefusedFrame);
    assert.equal(refused.code, 'VALIDATION_FAILED');
    // One level less is parsed.
    const ok = `["joinRoom",{"roomId":"r","metadata":{"a":${'['.repeat(MAX_PAYLOAD_DEPTH - 3)}${']'.repeat(MAX_PAYLOAD_DEPTH - 3)}}}]`;
    const parsed = decode(`2/webrtc,4${ok}`);
    assert.ok(!(parsed instanceof Error) && !(parsed.data?.[1] instanceof RefusedFrame));
  });

  it('decoder.add() of an oversized frame that names no event fails to decode (Socket.IO closes that connection)', () => {
    const auth = `0/webrtc,${JSON.stringify({ token: 'x'.repeat(20_000) })}`;
    assert.ok(decode(auth) instanceof Error);
    assert.ok(decode(`2/webrtc,1[${'['.repeat(5000)}${']'.repeat(5000)}]`) instanceof Error);
  });

  it('decoder.add() of an unknown event uses the small default limit', () => {
    const packet = decode(`2/webrtc,1${JSON.stringify(['whatever', 'x'.repeat(2000)])}`);
    assert.ok(!(packet instanceof Error) && packet.data?.[1] instanceof RefusedFrame);
  });
});

describe('text-only Socket.IO encoder', () => {
  it("encode() makes the frames socket.io-parser's encoder makes, for every kind of packet the server sends", () => {
    const { Encoder } = createGuardedParser(frameLimits({ maxSdpBytes: 4096, maxMetadataBytes: 1024 }));
    const ours = new Encoder();
    const theirs = new BaseEncoder();
    const candidate = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host', sdpMid: '0' };
    const packets = [
      { type: PacketType.CONNECT, nsp: '/webrtc', data: { sid: 'abc', pid: 'def' } },
      { type: PacketType.CONNECT_ERROR, nsp: '/webrtc', data: { message: 'not authorized' } },
      { type: PacketType.DISCONNECT, nsp: '/webrtc' },
      {
        type: PacketType.EVENT,
        nsp: '/webrtc',
        data: ['iceCandidates', { candidates: [candidate, null], from: 'p' }],
      },
      { type: PacketType.EVENT, nsp: '/webrtc', data: ['session', { peerId: 'p' }, 'offset.1'] },
      { type: PacketType.EVENT, nsp: '/', id: 7, data: ['ping', 'é\u2028"\\'] },
      { type: PacketType.ACK, nsp: '/webrtc', id: 12, data: [{ ok: true, duplicate: true }] },
      {
        type: PacketType.ACK,
        nsp: '/webrtc',
        id: 13,
        data: [{ ok: false, error: { code: 'X', message: 'y' } }],
      },
    ];
    for (const p of packets) assert.deepEqual(ours.encode(p), theirs.encode(p), JSON.stringify(p));
  });
});
