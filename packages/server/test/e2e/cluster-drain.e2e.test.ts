import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  closeAll,
  connect,
  join,
  once,
  record,
  request,
  SDP,
  sleep,
  startCluster,
  type ConnectedClient,
  type TestCluster,
} from '../support/harness';

// A rolling deploy: one instance drains while the other keeps serving, on one Redis.
describe('draining one of two instances', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster(2, { RECONNECTION_DELAY: '123' });
  });
  after(() => cluster.close());

  it("shutdown() of A tells only A's clients serverShutdown; B's stay connected and hear nothing", async () => {
    const A = await cluster.add();
    const B = cluster.nodes[1]!;
    const onA = await connect(A.url);
    const onB = await connect(B.url);
    try {
      await join(onA, 'drain-1');
      await join(onB, 'drain-1');
      const heardOnB = record(onB, 'serverShutdown');
      const notice = once(onA, 'serverShutdown');
      await A.close();
      assert.deepEqual(await notice, { reconnectAfterMs: 123 });
      await sleep(100);
      assert.deepEqual(heardOnB, []);
      assert.equal(onB.connected, true);
    } finally {
      closeAll(onA, onB);
    }
  });

  it('a peer of a drained instance resumes on the other with its resume token; signals sent meanwhile are held for it', async () => {
    const A = await cluster.add();
    const B = cluster.nodes[1]!;
    const drained = await connect(A.url);
    const stays = await connect(B.url);
    let back: ConnectedClient | undefined;
    try {
      const { resumeToken } = await join(drained, 'drain-2');
      await join(stays, 'drain-2');
      const left = record(stays, 'peerLeft');
      await A.close();
      // A marked the peer dropped in Redis before it closed its connections to it.
      assert.deepEqual(
        await request(stays, 'offer', { roomId: 'drain-2', to: drained.peerId, sdp: SDP, messageId: 'h1' }),
        {
          ok: true,
          queued: true,
        },
      );
      const events: string[] = [];
      back = await connect(B.url, {
        auth: { resumeToken },
        setup: (socket) =>
          socket.onAny((event: string, payload: { messageId?: string }) => {
            if (event !== 'session')
              events.push(payload?.messageId ? `${event}:${payload.messageId}` : event);
          }),
      });
      assert.equal(back.peerId, drained.peerId);
      await sleep(200);
      assert.deepEqual(events, ['resumed', 'offer:h1']);
      assert.deepEqual(left, []);
    } finally {
      closeAll(drained, stays, back);
    }
  });
});
