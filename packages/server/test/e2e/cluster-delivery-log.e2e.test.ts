import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, type SdpSignalMessage } from '@switchboard/protocol';
import {
  closeAll,
  connect,
  cutTransport,
  join,
  record,
  request,
  SDP,
  sleep,
  startCluster,
  until,
  untilDropped,
  type ConnectedClient,
  type TestCluster,
} from '../support/harness';

// With shared state every signal sent to a peer carries `seq`, its number in that peer's own
// sequence, and stays in the peer's delivery log in Redis for a while: a peer that comes back on
// any instance with `auth: { resumeToken, lastSeq }` is sent exactly what followed `lastSeq`.
describe('delivery log across two instances', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster(2, { RESUME_WINDOW_MS: '5000', DELIVERY_LOG_LENGTH: '16' });
  });
  after(() => cluster.close());

  /** Sends offers numbered `from`..`to` (as `sequence`) from `s` to `r`; returns their acks. */
  async function offers(s: ConnectedClient, r: string, roomId: string, from: number, to: number) {
    const acks = [];
    for (let n = from; n <= to; n++)
      acks.push(await request(s, 'offer', { roomId, to: r, sdp: SDP, sequence: n, messageId: `m${n}` }));
    return acks;
  }

  /** Resumes a peer on `url` presenting `lastSeq`; records the offers it is sent from the start. */
  async function resumeWith(url: string, resumeToken: string, lastSeq: number) {
    const replayed: SdpSignalMessage[] = [];
    const back = await connect(url, {
      auth: { resumeToken, lastSeq },
      setup: (c) => c.on('offer', (m) => replayed.push(m)),
    });
    return { back, replayed };
  }

  it('a peer resuming on another instance with lastSeq is sent what followed it, in order, each once', async () => {
    const [A, B] = cluster.nodes;
    const s = await connect(A!.url);
    const r = await connect(B!.url);
    let back: ConnectedClient | undefined;
    try {
      await join(s, 'log-1');
      const { resumeToken } = await join(r, 'log-1');
      const live = record(r, 'offer');
      await offers(s, r.peerId, 'log-1', 1, 3);
      await until(() => live.length === 3);
      assert.deepEqual(
        live.map((m) => m.seq),
        [1, 2, 3],
      );
      cutTransport(r);
      await untilDropped(B!, r.peerId);
      // Sent while r is away: held in its log (queued), and published to nobody.
      const acks = await offers(s, r.peerId, 'log-1', 4, 9);
      assert.ok(acks.every((a) => a.ok && 'queued' in a && a.queued));
      // The client says it has everything up to 2 (say 3 was in flight when it lost its socket).
      const resumed = await resumeWith(A!.url, resumeToken, 2);
      back = resumed.back;
      const replayed = resumed.replayed;
      assert.equal((await back.resumeOutcome).resumed?.peerId, r.peerId);
      await until(() => replayed.length >= 7);
      await sleep(100);
      assert.deepEqual(
        replayed.map((m) => [m.seq, m.sequence]),
        [3, 4, 5, 6, 7, 8, 9].map((n) => [n, n]),
      );
      // Live again, numbered on.
      const next = record(back, 'offer');
      await offers(s, r.peerId, 'log-1', 10, 10);
      await until(() => next.length === 1);
      assert.equal(next[0]!.seq, 10);
    } finally {
      closeAll(s, r, back);
    }
  });

  it('a peer away for more signals than DELIVERY_LOG_LENGTH: the ones past it are refused BUFFER_FULL, none lost', async () => {
    const [A, B] = cluster.nodes;
    const s = await connect(A!.url);
    const r = await connect(B!.url);
    let back: ConnectedClient | undefined;
    try {
      await join(s, 'log-2');
      const { resumeToken } = await join(r, 'log-2');
      cutTransport(r);
      await untilDropped(B!, r.peerId);
      const acks = await offers(s, r.peerId, 'log-2', 1, 18);
      assert.equal(acks.filter((a) => a.ok).length, 16);
      assert.deepEqual(
        acks.slice(16).map((a) => !a.ok && a.error.code),
        [ErrorCode.BUFFER_FULL, ErrorCode.BUFFER_FULL],
      );
      const resumed = await resumeWith(A!.url, resumeToken, 0);
      back = resumed.back;
      const replayed = resumed.replayed;
      assert.equal((await back.resumeOutcome).resumed?.peerId, r.peerId);
      await until(() => replayed.length >= 16);
      assert.deepEqual(
        replayed.map((m) => m.sequence),
        Array.from({ length: 16 }, (_, i) => i + 1),
      );
    } finally {
      closeAll(s, r, back);
    }
  });

  it('a lastSeq the log no longer reaches back to is refused RESUME_INCOMPLETE; the old peer leaves and the client is a new peer', async () => {
    const [A, B] = cluster.nodes;
    const s = await connect(A!.url);
    const r = await connect(B!.url);
    let back: ConnectedClient | undefined;
    try {
      await join(s, 'log-3');
      const { resumeToken } = await join(r, 'log-3');
      // r is connected (so nothing is refused) while 40 signals go by; the log keeps the last 16.
      await offers(s, r.peerId, 'log-3', 1, 40);
      const left = record(s, 'peerLeft');
      cutTransport(r);
      await untilDropped(B!, r.peerId);
      back = await connect(A!.url, { auth: { resumeToken, lastSeq: 3 } });
      const { failed } = await back.resumeOutcome;
      assert.equal(failed?.error.code, ErrorCode.RESUME_INCOMPLETE);
      assert.notEqual(back.peerId, r.peerId);
      await until(() => left.length === 1);
      assert.deepEqual(left, [{ roomId: 'log-3', peerId: r.peerId, reason: 'disconnected' }]);
      // Nothing of the old peer is left to send to.
      const refused = await request(s, 'offer', { roomId: 'log-3', to: r.peerId, sdp: SDP });
      assert.equal(!refused.ok && refused.error.code, ErrorCode.PEER_NOT_FOUND);
    } finally {
      closeAll(s, r, back);
    }
  });
});
