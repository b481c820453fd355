import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  candidate,
  closeAll,
  connect,
  join,
  record,
  request,
  sleep,
  startServer,
  type TestServer,
} from '../support/harness';

describe('candidates', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('the same candidate for the same pair and ICE generation is forwarded once', async () => {
    const [a, b, c] = await Promise.all([connect(server.url), connect(server.url), connect(server.url)]);
    try {
      for (const s of [a, b, c]) await join(s, 'cand-1');
      const atB = record(b, 'iceCandidate');
      const atC = record(c, 'iceCandidate');
      const cand = candidate(6000, 'gen1');
      // Different messageIds: only the candidate itself makes them the same.
      assert.deepEqual(
        await request(a, 'iceCandidate', {
          roomId: 'cand-1',
          to: b.peerId,
          candidate: cand,
          messageId: 'x1',
        }),
        { ok: true },
      );
      assert.deepEqual(
        await request(a, 'iceCandidate', {
          roomId: 'cand-1',
          to: b.peerId,
          candidate: cand,
          messageId: 'x2',
        }),
        {
          ok: true,
          duplicate: true,
        },
      );
      // A new ICE generation (after a restart) may legitimately reuse the candidate line.
      const restarted = { ...cand, usernameFragment: 'gen2' };
      assert.deepEqual(
        await request(a, 'iceCandidate', { roomId: 'cand-1', to: b.peerId, candidate: restarted }),
        { ok: true },
      );
      // Another pair is independent.
      assert.deepEqual(
        await request(a, 'iceCandidate', { roomId: 'cand-1', to: c.peerId, candidate: cand }),
        { ok: true },
      );
      await sleep(50);
      assert.deepEqual(
        atB.map((m) => m.candidate?.usernameFragment),
        ['gen1', 'gen2'],
      );
      assert.equal(atC.length, 1);
    } finally {
      closeAll(a, b, c);
    }
  });
});
