import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, MAX_CANDIDATES_PER_BATCH, type IceCandidatesMessage } from '@switchboard/protocol';
import {
  candidate,
  closeAll,
  connect,
  cutTransport,
  join,
  once,
  record,
  request,
  sleep,
  startServer,
  until,
  untilDropped,
  type ConnectedClient,
  type TestServer,
} from '../support/harness';

// `iceCandidates`: several candidates in one message with one acknowledgement, relayed as one
// message; each candidate de-duplicated on its own; held and replayed like any signal.
describe('candidate batches', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ RESUME_WINDOW_MS: '5000' });
  });
  after(() => server.close());

  async function pair(roomId: string): Promise<[ConnectedClient, ConnectedClient, string]> {
    const a = await connect(server.url);
    const b = await connect(server.url);
    await join(a, roomId);
    const { resumeToken } = await join(b, roomId);
    return [a, b, resumeToken];
  }

  it('a batch of three candidates and end-of-candidates is acknowledged once and arrives as one iceCandidates message, in order', async () => {
    const [a, b] = await pair('cb-1');
    try {
      const batches = record(b, 'iceCandidates');
      const singles = record(b, 'iceCandidate');
      const list = [candidate(7001), candidate(7002), candidate(7003), null];
      assert.deepEqual(
        await request(a, 'iceCandidates', {
          roomId: 'cb-1',
          to: b.peerId,
          candidates: list,
          messageId: 'batch-1',
        }),
        { ok: true },
      );
      await until(() => batches.length === 1);
      await sleep(50);
      assert.deepEqual(batches, [{ roomId: 'cb-1', from: a.peerId, candidates: list, messageId: 'batch-1' }]);
      assert.equal(singles.length, 0);
    } finally {
      closeAll(a, b);
    }
  });

  it('candidates already relayed (singly or in a batch) are left out of the next batch; a batch of repeats is a duplicate', async () => {
    const [a, b] = await pair('cb-2');
    try {
      const batches = record(b, 'iceCandidates');
      await request(a, 'iceCandidate', { roomId: 'cb-2', to: b.peerId, candidate: candidate(7101) });
      assert.deepEqual(
        await request(a, 'iceCandidates', {
          roomId: 'cb-2',
          to: b.peerId,
          candidates: [candidate(7101), candidate(7102)],
        }),
        { ok: true },
      );
      assert.deepEqual(
        await request(a, 'iceCandidates', {
          roomId: 'cb-2',
          to: b.peerId,
          candidates: [candidate(7102), candidate(7101)],
        }),
        { ok: true, duplicate: true },
      );
      await sleep(50);
      assert.deepEqual(
        batches.map((m) => m.candidates.map((c) => c?.candidate)),
        [[candidate(7102).candidate]],
      );
    } finally {
      closeAll(a, b);
    }
  });

  it('a batch to a peer that dropped is held (queued) and delivered after its resume, in order with single signals', async () => {
    const [a, b, resumeToken] = await pair('cb-3');
    let back: ConnectedClient | undefined;
    try {
      cutTransport(b);
      await untilDropped(server, b.peerId);
      assert.deepEqual(
        await request(a, 'iceCandidate', { roomId: 'cb-3', to: b.peerId, candidate: candidate(7201) }),
        { ok: true, queued: true },
      );
      assert.deepEqual(
        await request(a, 'iceCandidates', {
          roomId: 'cb-3',
          to: b.peerId,
          candidates: [candidate(7202), null],
        }),
        { ok: true, queued: true },
      );
      const order: string[] = [];
      back = await connect(server.url, {
        auth: { resumeToken },
        setup: (c) => {
          c.on('iceCandidate', (m) => order.push(`single ${m.candidate?.candidate.split(' ')[5]}`));
          c.on('iceCandidates', (m: IceCandidatesMessage) =>
            order.push(`batch ${m.candidates.map((x) => x?.candidate.split(' ')[5] ?? 'end').join(',')}`),
          );
        },
      });
      assert.equal((await back.resumeOutcome).resumed?.peerId, b.peerId);
      await until(() => order.length === 2);
      assert.deepEqual(order, ['single 7201', 'batch 7202,end']);
    } finally {
      closeAll(a, b, back);
    }
  });

  it(`a batch of more than ${MAX_CANDIDATES_PER_BATCH} candidates, or an empty one, is refused VALIDATION_FAILED and nothing is relayed`, async () => {
    const [a, b] = await pair('cb-4');
    try {
      const batches = record(b, 'iceCandidates');
      const tooMany = Array.from({ length: MAX_CANDIDATES_PER_BATCH + 1 }, (_, i) => candidate(7300 + i));
      for (const candidates of [tooMany, []]) {
        const res = await request(a, 'iceCandidates', { roomId: 'cb-4', to: b.peerId, candidates });
        assert.equal(!res.ok && res.error.code, ErrorCode.VALIDATION_FAILED);
      }
      const ok = once(b, 'iceCandidates');
      const full = tooMany.slice(0, MAX_CANDIDATES_PER_BATCH);
      assert.deepEqual(
        await request(a, 'iceCandidates', { roomId: 'cb-4', to: b.peerId, candidates: full }),
        {
          ok: true,
        },
      );
      assert.equal((await ok).candidates.length, MAX_CANDIDATES_PER_BATCH);
      assert.equal(batches.length, 1);
    } finally {
      closeAll(a, b);
    }
  });
});
