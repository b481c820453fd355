import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSchemas, MAX_CANDIDATES_PER_BATCH } from '@switchboard/protocol';
import { relayFastPaths } from '../../src/webrtc/dto/relay-fast-path';
import { prng as rng } from '../support/prng';

const LIMITS = { maxSdpBytes: 4096, maxMetadataBytes: 2048 };
const schemas = createSchemas(LIMITS);
const fast = relayFastPaths(LIMITS);
const SDP = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
const LINE = 'candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host generation 0';

/** Values at and around every bound the schemas check, and of every wrong type. */
const ODD: unknown[] = [
  undefined,
  null,
  true,
  0,
  -0,
  -1,
  1.5,
  65535,
  65536,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  '',
  'a',
  'room-1',
  '-room',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(129),
  'x'.repeat(257),
  'has space',
  'é',
  'v=0',
  SDP,
  SDP + 'bad line\r\n',
  'v=0\r\n' + 'a=x\r\n'.repeat(1000),
  LINE,
  'a=' + LINE,
  'candidate:' + 'x'.repeat(1020),
  'candidate:1\r\nx',
  'candidate:' + 'é'.repeat(1000),
  [],
  [null],
  {},
  { candidate: '' },
  { candidate: LINE, extra: 1 },
];

/** Whether `p` survives JSON unchanged (no undefined values, NaN or Infinity): what a client can send. */
function sentAsJson(p: unknown): boolean {
  try {
    assert.deepStrictEqual(JSON.parse(JSON.stringify(p) ?? 'null'), p);
    return true;
  } catch {
    return false;
  }
}

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)] as T;
}

function candidateObject(r: () => number): unknown {
  const c: Record<string, unknown> = { candidate: r() < 0.7 ? LINE : pick(r, ODD) };
  if (r() < 0.7) c.sdpMid = r() < 0.7 ? '0' : pick(r, ODD);
  if (r() < 0.7) c.sdpMLineIndex = r() < 0.7 ? 0 : pick(r, ODD);
  if (r() < 0.5) c.usernameFragment = r() < 0.7 ? 'abcd' : pick(r, ODD);
  if (r() < 0.1) c.foo = 'bar';
  return r() < 0.05 ? pick(r, ODD) : c;
}

function payload(r: () => number, kind: 'sdp' | 'iceCandidate' | 'iceCandidates'): unknown {
  const p: Record<string, unknown> = {
    roomId: r() < 0.8 ? 'room-1' : pick(r, ODD),
    to: r() < 0.8 ? 'peer_A-1' : pick(r, ODD),
  };
  if (r() < 0.5) p.sequence = r() < 0.7 ? Math.floor(r() * 100) : pick(r, ODD);
  if (r() < 0.6) p.messageId = r() < 0.7 ? `m${Math.floor(r() * 1e6)}` : pick(r, ODD);
  if (kind === 'sdp') p.sdp = r() < 0.7 ? SDP : pick(r, ODD);
  if (kind === 'iceCandidate') p.candidate = r() < 0.2 ? null : candidateObject(r);
  if (kind === 'iceCandidates') {
    const n =
      r() < 0.9
        ? 1 + Math.floor(r() * 8)
        : pick(r, [0, MAX_CANDIDATES_PER_BATCH, MAX_CANDIDATES_PER_BATCH + 1]);
    p.candidates =
      r() < 0.05 ? pick(r, ODD) : Array.from({ length: n }, () => (r() < 0.15 ? null : candidateObject(r)));
  }
  if (r() < 0.1) p.extra = { nested: true };
  return r() < 0.03 ? pick(r, ODD) : p;
}

describe('relay fast paths', () => {
  const cases = [
    ['offer', 'sdp', schemas.offer],
    ['iceCandidate', 'iceCandidate', schemas.iceCandidate],
    ['iceCandidates', 'iceCandidates', schemas.iceCandidates],
  ] as const;
  for (const [event, kind, schema] of cases) {
    test(`the ${event} fast path accepts only what its zod schema accepts, with an equal result (20,000 generated payloads)`, () => {
      const r = rng(event.length * 7919);
      let accepted = 0;
      let valid = 0;
      for (let i = 0; i < 20_000; i++) {
        const p = payload(r, kind);
        const z = schema.safeParse(p);
        const f = fast[kind](p);
        // The point is speed: the fast path must take the valid payloads a client can send (JSON), not
        // send them back to zod. (It leaves to zod keys present with the value undefined.)
        if (z.success && sentAsJson(p)) {
          valid++;
          assert.notEqual(
            f,
            undefined,
            `a valid payload left to zod (case ${i}): ${JSON.stringify(p)?.slice(0, 300)}`,
          );
        }
        if (f === undefined) continue;
        accepted++;
        assert.ok(
          z.success,
          `fast path accepted what zod refuses (case ${i}): ${JSON.stringify(p)?.slice(0, 300)}`,
        );
        assert.deepStrictEqual(f, z.data, `case ${i}`);
      }
      assert.ok(valid > 1_000 && accepted >= valid, `${accepted} accepted, ${valid} valid JSON payloads`);
    });
  }

  test('what the SDK sends is accepted by the fast path, unknown keys stripped as zod strips them', () => {
    const out = fast.iceCandidates({
      roomId: 'r',
      to: 'p',
      candidates: [{ candidate: LINE, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'u', x: 1 }, null],
      sequence: 3,
      messageId: 'id-1',
      junk: 'dropped',
    });
    assert.deepStrictEqual(out, {
      roomId: 'r',
      to: 'p',
      candidates: [{ candidate: LINE, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'u' }, null],
      sequence: 3,
      messageId: 'id-1',
    });
    assert.equal(
      fast.sdp({ roomId: 'r', to: 'p', sdp: 'v=0\r\n' + 'a=x\r\n'.repeat(1000) }),
      undefined,
      'over maxSdpBytes',
    );
  });
});
