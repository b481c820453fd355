import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { honestCall, SDP, sleep, startServer, type TestServer } from '../support/harness';
import { RawClient } from '../support/raw-client';

type Answer = { ok: boolean; error?: { code: string; message: string } };

describe('frames checked before parsing', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('joinRoom with metadata nested 100,000 levels deep is answered VALIDATION_FAILED and the server keeps serving', async () => {
    const c = await RawClient.connect(server.url, { localAddress: '127.0.0.3' });
    try {
      // Sent raw: socket.io-client's encoder would itself overflow its stack walking this.
      const deep = '['.repeat(100_000) + ']'.repeat(100_000);
      const id = 900;
      const answered = new Promise<Answer>((resolve) =>
        c.ws.on('message', (d) => {
          const text = d.toString();
          if (text.startsWith(`43/webrtc,${id}[`))
            resolve((JSON.parse(text.slice(`43/webrtc,${id}`.length)) as Answer[])[0]!);
        }),
      );
      c.sendRaw(`42/webrtc,${id}["joinRoom",{"roomId":"deep","metadata":{"a":${deep}}}]`);
      const res = await answered;
      assert.equal(res.ok, false);
      assert.equal(res.error?.code, 'VALIDATION_FAILED');
      assert.match(res.error?.message ?? '', /nests deeper/);
      assert.equal(((await c.request('joinRoom', { roomId: 'deep' })) as Answer).ok, true);
      await honestCall(server, 'after-deep');
    } finally {
      c.terminate();
    }
  });

  it('an offer with a field nested 20 deep is answered VALIDATION_FAILED', async () => {
    const c = await RawClient.connect(server.url);
    try {
      const res = (await c.request('offer', {
        roomId: 'x',
        to: 'y',
        sdp: SDP,
        extra: JSON.parse('['.repeat(20) + ']'.repeat(20)),
      })) as Answer;
      assert.equal(res.error?.code, 'VALIDATION_FAILED');
    } finally {
      c.terminate();
    }
  });

  it('200 KiB metadata frames, 16 a second for 2 s, are each answered PAYLOAD_TOO_LARGE (or RATE_LIMITED past the join burst) while an honest pair calls', async () => {
    const c = await RawClient.connect(server.url, { localAddress: '127.0.0.3' });
    try {
      const metadata = { blob: 'x'.repeat(200 * 1024) };
      const answers: Promise<unknown>[] = [];
      const calls: Promise<void>[] = [];
      for (let i = 0; i < 32; i++) {
        answers.push(c.request('joinRoom', { roomId: 'big', metadata }));
        if (i % 8 === 0) calls.push(honestCall(server, `honest-big-${i}`));
        await sleep(1000 / 16);
      }
      // Each is answered without being parsed; past the join burst (10) the rate limit answers first.
      const codes = ((await Promise.all(answers)) as Answer[]).map((r) => r.error?.code);
      assert.deepEqual(codes.slice(0, 10), Array(10).fill('PAYLOAD_TOO_LARGE'));
      for (const code of codes) assert.ok(code === 'PAYLOAD_TOO_LARGE' || code === 'RATE_LIMITED', code);
      await Promise.all(calls);
    } finally {
      c.terminate();
    }
  });

  it('an 857 KiB frame, over MAX_HTTP_BUFFER_SIZE, closes that connection (1009) and no other', async () => {
    const c = await RawClient.connect(server.url, { localAddress: '127.0.0.3' });
    try {
      c.emit('joinRoom', { roomId: 'huge', metadata: { blob: 'x'.repeat(857 * 1024) } });
      assert.equal(await c.closed, 1009);
      await honestCall(server, 'after-huge');
    } finally {
      c.terminate();
    }
  });
});
