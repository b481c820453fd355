import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSchemas, iceRestartSide, isPolite, utf8Length } from '@switchboard/protocol';

const SDP = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  '',
].join('\r\n');

const HOST = 'candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host generation 0 ufrag EsAw';

const schemas = createSchemas();
// Small enough to build SDPs around the limit by hand.
const small = createSchemas({ maxSdpBytes: 256, maxMetadataBytes: 64 });

function offer(overrides: Record<string, unknown> = {}) {
  return { roomId: 'room-1', to: 'peerB_1', sdp: SDP, sequence: 0, messageId: 'm-1', ...overrides };
}

/** An SDP of exactly `bytes` UTF-8 bytes: `v=0\r\ns=<filler>\r\n`. */
function sdpOfBytes(bytes: number, unit = 'x'): string {
  const unitBytes = Buffer.byteLength(unit);
  const fill = bytes - 'v=0\r\ns=\r\n'.length;
  assert.equal(fill % unitBytes, 0, 'filler must divide evenly');
  const sdp = `v=0\r\ns=${unit.repeat(fill / unitBytes)}\r\n`;
  assert.equal(Buffer.byteLength(sdp), bytes);
  return sdp;
}

function candidateMsg(candidate: unknown) {
  return { roomId: 'room-1', to: 'peerB_1', candidate };
}

describe('protocol createSchemas', () => {
  describe('offer / answer', () => {
    test('offer.safeParse() of a valid offer succeeds and returns it unchanged', () => {
      const r = schemas.offer.safeParse(offer());
      assert.equal(r.success, true);
      assert.deepEqual(r.data, offer());
    });

    test('answer.safeParse() of a valid answer without sequence or messageId succeeds', () => {
      assert.equal(schemas.answer.safeParse({ roomId: 'r', to: 'p', sdp: SDP }).success, true);
    });

    test('offer.safeParse() with a 64-character roomId succeeds and a 65-character one fails', () => {
      assert.equal(schemas.offer.safeParse(offer({ roomId: 'r'.repeat(64) })).success, true);
      const r = schemas.offer.safeParse(offer({ roomId: 'r'.repeat(65) }));
      assert.equal(r.success, false);
      assert.deepEqual(r.error?.issues[0].path, ['roomId']);
    });

    test('offer.safeParse() with a roomId of bad characters fails', () => {
      for (const roomId of ['room 1', 'room/1', '-room', '.room', '', 'ルーム', 'room\n1', 'room#1']) {
        assert.equal(schemas.offer.safeParse(offer({ roomId })).success, false, JSON.stringify(roomId));
      }
      for (const roomId of ['Room_1', 'a', 'team:42.sub-room']) {
        assert.equal(schemas.offer.safeParse(offer({ roomId })).success, true, roomId);
      }
    });

    test('offer.safeParse() with a "to" that is not a peer id fails', () => {
      for (const to of ['', 'a b', 'x'.repeat(65), 'a:b']) {
        assert.equal(schemas.offer.safeParse(offer({ to })).success, false, to);
      }
    });

    test('offer.safeParse() with an SDP not starting with v=0 fails', () => {
      for (const sdp of [SDP.replace('v=0\r\n', ''), ` ${SDP}`, SDP.replace('v=0', 'v=1'), 'hello', '']) {
        assert.equal(
          schemas.offer.safeParse(offer({ sdp })).success,
          false,
          JSON.stringify(sdp.slice(0, 12)),
        );
      }
    });

    test('offer.safeParse() with an SDP line that is not <letter>=<value> fails', () => {
      assert.equal(schemas.offer.safeParse(offer({ sdp: `${SDP}not a line\r\n` })).success, false);
      assert.equal(schemas.offer.safeParse(offer({ sdp: SDP.replace(/\r\n/g, '\n') })).success, true);
    });

    test('offer.safeParse() with an SDP over maxSdpBytes fails with a too_big issue; exactly maxSdpBytes passes', () => {
      assert.equal(small.offer.safeParse(offer({ sdp: sdpOfBytes(256) })).success, true);
      const r = small.offer.safeParse(offer({ sdp: sdpOfBytes(257) }));
      assert.equal(r.success, false);
      assert.equal(r.error?.issues.length, 1);
      assert.deepEqual(
        { code: r.error?.issues[0].code, path: r.error?.issues[0].path },
        { code: 'too_big', path: ['sdp'] },
      );
    });

    test('offer.safeParse() counts UTF-8 bytes, not characters, against maxSdpBytes', () => {
      // 3-byte and 4-byte (surrogate pair) characters: fewer characters than bytes.
      assert.equal(small.offer.safeParse(offer({ sdp: sdpOfBytes(255, '€') })).success, true);
      assert.equal(
        small.offer.safeParse(offer({ sdp: sdpOfBytes(258, '€') })).error?.issues[0].code,
        'too_big',
      );
      assert.equal(small.offer.safeParse(offer({ sdp: sdpOfBytes(253, '😀') })).success, true);
      assert.equal(
        small.offer.safeParse(offer({ sdp: sdpOfBytes(257, '😀') })).error?.issues[0].code,
        'too_big',
      );
    });

    test('utf8Length() equals Buffer.byteLength for ASCII, 2-, 3- and 4-byte characters', () => {
      for (const s of ['', 'v=0', 'é', 'ü€', '😀', 'a😀b€c', 'x'.repeat(1000)]) {
        assert.equal(utf8Length(s), Buffer.byteLength(s, 'utf8'), s);
      }
    });

    test('offer.safeParse() with a negative or non-integer sequence fails', () => {
      for (const sequence of [
        -1,
        1.5,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.MAX_SAFE_INTEGER + 2,
        '1',
      ]) {
        assert.equal(schemas.offer.safeParse(offer({ sequence })).success, false, String(sequence));
      }
      for (const sequence of [0, 1, Number.MAX_SAFE_INTEGER]) {
        assert.equal(schemas.offer.safeParse(offer({ sequence })).success, true, String(sequence));
      }
    });

    test('offer.safeParse() with a messageId of spaces, control characters or over 128 characters fails', () => {
      for (const messageId of ['', 'a b', 'a\tb', 'é', 'x'.repeat(129)]) {
        assert.equal(schemas.offer.safeParse(offer({ messageId })).success, false, messageId);
      }
      assert.equal(schemas.offer.safeParse(offer({ messageId: '~'.repeat(128) })).success, true);
    });

    test('offer.safeParse() strips unknown fields', () => {
      const r = schemas.offer.safeParse({ ...offer(), from: 'spoofed', __proto_x: 1, extra: { a: 1 } });
      assert.equal(r.success, true);
      assert.deepEqual(r.data, offer());
    });
  });

  describe('iceCandidate', () => {
    test('iceCandidate.safeParse() accepts a browser candidate, with or without "a=", "" and null', () => {
      const full = { candidate: HOST, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'EsAw' };
      for (const candidate of [
        full,
        { candidate: `a=${HOST}` },
        { candidate: HOST, sdpMid: null, sdpMLineIndex: null, usernameFragment: null },
        { candidate: '' },
        null,
      ]) {
        assert.equal(
          schemas.iceCandidate.safeParse(candidateMsg(candidate)).success,
          true,
          JSON.stringify(candidate),
        );
      }
    });

    test('iceCandidate.safeParse() rejects malformed candidates', () => {
      for (const candidate of [
        { candidate: 'candidate:' },
        { candidate: 'foo' },
        { candidate: `${HOST}\r\na=evil` },
        { candidate: `candidate:${'x'.repeat(1015)}` },
        { candidate: HOST, sdpMLineIndex: -1 },
        { candidate: HOST, sdpMLineIndex: 1.5 },
        { candidate: HOST, sdpMLineIndex: 65_536 },
        { candidate: HOST, sdpMid: 'm'.repeat(65) },
        { sdpMid: '0' },
        HOST,
      ]) {
        assert.equal(
          schemas.iceCandidate.safeParse(candidateMsg(candidate)).success,
          false,
          JSON.stringify(candidate),
        );
      }
    });

    test('iceCandidate.safeParse() with a missing candidate field fails (null must be explicit)', () => {
      assert.equal(schemas.iceCandidate.safeParse({ roomId: 'r', to: 'p' }).success, false);
    });

    test('iceCandidate.safeParse() strips unknown fields, at the top level and inside the candidate', () => {
      const r = schemas.iceCandidate.safeParse({
        ...candidateMsg({ candidate: HOST, sdpMid: '0', foundation: '1' }),
        from: 'spoofed',
      });
      assert.deepEqual(r.data, candidateMsg({ candidate: HOST, sdpMid: '0' }));
    });
  });

  describe('joinRoom / connectionState', () => {
    test('joinRoom.safeParse() trims displayName and rejects an empty one', () => {
      assert.equal(
        schemas.joinRoom.safeParse({ roomId: 'r', displayName: '  Ann  ' }).data?.displayName,
        'Ann',
      );
      assert.equal(schemas.joinRoom.safeParse({ roomId: 'r', displayName: '   ' }).success, false);
    });

    test('joinRoom.safeParse() with metadata over maxMetadataBytes fails', () => {
      assert.equal(small.joinRoom.safeParse({ roomId: 'r', metadata: { k: 'v'.repeat(40) } }).success, true);
      assert.equal(small.joinRoom.safeParse({ roomId: 'r', metadata: { k: 'v'.repeat(60) } }).success, false);
    });

    test('connectionState.safeParse() accepts known states and rejects unknown ones', () => {
      const ok = { roomId: 'r', peerId: 'p', connectionState: 'failed', iceConnectionState: 'completed' };
      assert.equal(schemas.connectionState.safeParse(ok).success, true);
      assert.equal(schemas.connectionState.safeParse({ ...ok, connectionState: 'completed' }).success, false);
      assert.equal(schemas.connectionState.safeParse({ ...ok, iceConnectionState: 'broken' }).success, false);
    });
  });

  describe('roles', () => {
    const ids = ['a', 'b', 'A', 'Z', 'ab', 'abc', '0', '9', '_', '-', 'peer-a', 'peer_a', 'xYz123-_'];
    const pairs = ids.flatMap((a) => ids.filter((b) => b !== a).map((b) => [a, b] as const));

    test('isPolite(a, b) and isPolite(b, a) disagree for every two distinct ids', () => {
      for (const [a, b] of pairs) assert.notEqual(isPolite(a, b), isPolite(b, a), `${a} / ${b}`);
    });

    test('iceRestartSide(a, b) equals iceRestartSide(b, a), is one of them, and is the impolite side', () => {
      for (const [a, b] of pairs) {
        const side = iceRestartSide(a, b);
        assert.equal(side, iceRestartSide(b, a), `${a} / ${b}`);
        assert.ok(side === a || side === b);
        assert.equal(isPolite(side, side === a ? b : a), false, `${a} / ${b}`);
      }
    });

    test('iceRestartSide() picks the lexicographically smaller id', () => {
      assert.equal(iceRestartSide('peer-b', 'peer-a'), 'peer-a');
      assert.equal(iceRestartSide('B', 'a'), 'B');
    });
  });
});
