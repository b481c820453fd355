import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeAll, connect, join, once, request, SDP, startServer } from '../support/harness';
import { prng } from '../support/prng';
import { RawClient } from '../support/raw-client';

const EVENTS = ['joinRoom', 'leaveRoom', 'offer', 'answer', 'iceCandidate', 'connectionState'];

// The frames that hurt the server before hardening, as JSON argument lists: metadata nested 100,000
// deep (a stack overflow in validation, and no answer), a 200 KiB metadata frame (fully parsed before
// its size was checked), a deep candidate, a wide object within the size limit.
const DEEP = '['.repeat(100_000) + ']'.repeat(100_000);
const HOSTILE = [
  `["joinRoom",{"roomId":"fz-deep","metadata":{"a":${DEEP}}}]`,
  JSON.stringify(['joinRoom', { roomId: 'fz-big', metadata: { blob: 'x'.repeat(200 * 1024) } }]),
  `["iceCandidate",{"roomId":"r","to":"p","candidate":${'{"c":'.repeat(50)}1${'}'.repeat(50)}}]`,
  JSON.stringify(['offer', Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]))]),
];
const pickHostile = (random: () => number): string => HOSTILE[Math.floor(random() * HOSTILE.length)]!;
const CLIENTS = 20;
const EVENTS_PER_CLIENT = 2600;
const WINDOW = 64;

/**
 * Payload generator: mostly near-valid payloads with one field mutated, plus hostile shapes —
 * wrong types, huge strings, deep nesting (array and object), prototype keys, unicode, non-objects.
 */
function generator(random: () => number, roomId: string, partner: () => string) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const nest = (n: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < n; i++) v = random() < 0.5 ? [v] : { k: v };
    return v;
  };
  const junk = (): unknown =>
    pick([
      null,
      undefined,
      true,
      -1,
      1.5,
      Number.MAX_SAFE_INTEGER + 2,
      '',
      'x'.repeat(Math.floor(random() * 9000)),
      '\u0000\ud800',
      '🙂'.repeat(100),
      [],
      {},
      nest(Math.floor(random() * 40)),
      { __proto__: { polluted: true } },
      JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') as unknown,
    ]);
  const candidate = () => ({
    candidate: `candidate:${Math.floor(random() * 1e9)} 1 udp 2122260223 192.0.2.${Math.floor(random() * 255)} ${Math.floor(random() * 65535)} typ host`,
    sdpMid: '0',
    sdpMLineIndex: 0,
  });
  const valid = (event: string): Record<string, unknown> => {
    switch (event) {
      case 'joinRoom':
        return { roomId, displayName: 'fz', metadata: { n: random() } };
      case 'leaveRoom':
        return { roomId: `${roomId}-other` };
      case 'offer':
      case 'answer':
        return { roomId, to: partner(), sdp: SDP, messageId: `m${random()}` };
      case 'iceCandidate':
        return { roomId, to: partner(), candidate: random() < 0.1 ? null : candidate() };
      default:
        return { roomId, peerId: partner(), connectionState: 'connected', iceConnectionState: 'connected' };
    }
  };
  return (): [string, unknown] => {
    const r = random();
    const event = r < 0.05 ? pick(['noSuch', 'constructor', 'toString', 'x'.repeat(70)]) : pick(EVENTS);
    if (r < 0.1) return [event, junk()];
    const payload = valid(EVENTS.includes(event) ? event : 'offer');
    if (random() < 0.6) {
      const keys = [...Object.keys(payload), 'extra', '__proto__', 'sequence', 'messageId'];
      payload[pick(keys)] = junk();
    }
    return [event, payload];
  };
}

describe('fuzzing', () => {
  it(`${CLIENTS * EVENTS_PER_CLIENT} random and hostile events (2 % of them the frames that crashed or stalled the server before hardening) from ${CLIENTS} clients are all answered, and the server keeps serving`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);
    const random = prng(seed);
    // Rate limits off: every event must reach validation and the core, not be refused early.
    const server = await startServer({
      SIGNAL_RATE_PER_SEC: '0',
      JOIN_RATE_PER_SEC: '0',
      STATE_REPORT_RATE_PER_SEC: '0',
      MAX_CONNECTIONS_PER_IP: '0',
      CONNECTION_RATE_PER_IP: '0',
    });
    const clients: RawClient[] = [];
    try {
      for (let i = 0; i < CLIENTS; i++) clients.push(await RawClient.connect(server.url));
      // Pairs share a room, so valid signals really are relayed.
      for (let i = 0; i < CLIENTS; i++) await clients[i]!.request('joinRoom', { roomId: `fz-${i >> 1}` });
      let answered = 0;
      const codes = new Map<string, number>();
      await Promise.all(
        clients.map(async (c, i) => {
          const partner = clients[i ^ 1]!;
          const next = generator(random, `fz-${i >> 1}`, () => (random() < 0.9 ? partner.peerId : 'nobody'));
          let sent = 0;
          const worker = async () => {
            while (sent < EVENTS_PER_CLIENT) {
              sent++;
              // One event in 50 is one of the hostile frames of the hardening issue, sent as text.
              const hostile = random() < 0.02 ? pickHostile(random) : undefined;
              const [event, payload] = hostile ? ['', undefined] : next();
              const res = (await (hostile
                ? c.requestRaw(hostile, 10_000)
                : c.request(event, payload, 10_000))) as {
                ok: boolean;
                error?: { code: string };
              };
              answered++;
              const code = res.ok ? 'ok' : (res.error?.code ?? '?');
              codes.set(code, (codes.get(code) ?? 0) + 1);
            }
          };
          await Promise.all(Array.from({ length: WINDOW }, worker));
        }),
      );
      assert.equal(answered, CLIENTS * EVENTS_PER_CLIENT, `seed ${seed}`);
      assert.equal(codes.get('INTERNAL') ?? 0, 0, `seed ${seed}: ${JSON.stringify([...codes])}`);
      assert.ok((codes.get('ok') ?? 0) > 1000, `seed ${seed}: ${JSON.stringify([...codes])}`);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      for (const c of clients) assert.ok(c.isOpen, `seed ${seed}: a client was disconnected`);

      // Malformed frames: not answerable, so each closes its own connection, and only that one.
      const malformed = [
        '42/webrtc,1["joinRoom",{"roomId":',
        '42/webrtc,2{"not":"an array"}',
        '42/webrtc,3["connect",{}]',
        `40/webrtc,${JSON.stringify({ token: 'x'.repeat(40_000) })}`,
        '4z',
      ];
      for (const frame of malformed) {
        const c = await RawClient.connect(server.url);
        c.sendRaw(frame);
        const code = await Promise.race([
          c.closed,
          new Promise<string>((r) => setTimeout(() => r('open'), 3000)),
        ]);
        assert.notEqual(code, 'open', `${frame.slice(0, 40)} left the connection open`);
      }
      for (const c of clients) assert.ok(c.isOpen, 'a malformed frame closed another connection');
      assert.equal(
        await (async () => {
          const text = await (await fetch(`${server.url}/metrics`)).text();
          return Number(/switchboard_forced_disconnects_total\{reason="parse_error"\} (\d+)/.exec(text)?.[1]);
        })(),
        malformed.length,
      );

      // A binary attachment (the protocol is JSON only) is an invalid payload like any other.
      const binary = await RawClient.connect(server.url);
      const acked = new Promise<string>((resolve) =>
        binary.ws.on('message', (d) => {
          if (d.toString().startsWith('43/webrtc,4[')) resolve(d.toString());
        }),
      );
      binary.sendRaw('451-/webrtc,4["joinRoom",{"_placeholder":true,"num":0}]');
      binary.ws.send(Buffer.from([1, 2, 3]));
      assert.match(await acked, /VALIDATION_FAILED/);
      binary.terminate();

      // And an ordinary call still works.
      const a = await connect(server.url);
      const b = await connect(server.url);
      try {
        await join(a, 'after-fuzz');
        await join(b, 'after-fuzz');
        const offer = once(b, 'offer');
        assert.deepEqual(await request(a, 'offer', { roomId: 'after-fuzz', to: b.peerId, sdp: SDP }), {
          ok: true,
        });
        await offer;
      } finally {
        closeAll(a, b);
      }
    } finally {
      for (const c of clients) c.terminate();
      await server.close();
    }
  });
});
