import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  candidate,
  closeAll,
  connect,
  join,
  metric,
  request,
  SDP,
  sleep,
  startCluster,
  until,
  type ConnectedClient,
  type TestCluster,
  type TestInstance,
} from '../support/harness';

/** An instance's adapter counters, from its /metrics. */
async function adapterCounts(
  node: TestInstance,
): Promise<{ published: number; other: number; self: number }> {
  return {
    published: await metric(node, 'switchboard_adapter_messages_published_total'),
    other: await metric(node, 'switchboard_adapter_messages_received_total{origin="other"}'),
    self: await metric(node, 'switchboard_adapter_messages_received_total{origin="self"}'),
  };
}

function minus(
  after: { published: number; other: number; self: number },
  before: { published: number; other: number; self: number },
) {
  return {
    published: after.published - before.published,
    other: after.other - before.other,
    self: after.self - before.self,
  };
}

/**
 * A call's worth of signaling between `x` and `y` in `roomId`: an offer, an answer and 10 candidates
 * each way, every one acknowledged ok. Returns how many signals went each way (x→y, y→x).
 */
async function call(
  x: ConnectedClient,
  y: ConnectedClient,
  roomId: string,
  port: number,
): Promise<[number, number]> {
  const ok = { ok: true };
  assert.deepEqual(await request(x, 'offer', { roomId, to: y.peerId, sdp: SDP, sequence: 1 }), ok);
  assert.deepEqual(await request(y, 'answer', { roomId, to: x.peerId, sdp: SDP, sequence: 1 }), ok);
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(
      await request(x, 'iceCandidate', { roomId, to: y.peerId, candidate: candidate(port + i) }),
      ok,
    );
    assert.deepEqual(
      await request(y, 'iceCandidate', { roomId, to: x.peerId, candidate: candidate(port + 100 + i) }),
      ok,
    );
  }
  return [11, 11];
}

// The issue's requirement: an instance's work grows with its own peers' traffic, not with the
// cluster's. Each instance's adapter counts what Redis delivers to it (/metrics); with the sharded
// adapter's per-room subscriptions, an instance hears only about rooms it has sockets in.
describe('adapter traffic of three instances', () => {
  let cluster: TestCluster;
  const idle: ConnectedClient[] = [];
  before(async () => {
    cluster = await startCluster(3, { JOIN_RATE_PER_SEC: '0' });
    const [, B, C] = cluster.nodes;
    // B and C serve peers of their own (subscribed to their own channels), idle during the tests.
    for (const [node, room] of [
      [B!, 'idle-b'],
      [C!, 'idle-c'],
    ] as const) {
      for (let i = 0; i < 2; i++) {
        const peer = await connect(node.url);
        idle.push(peer);
        await join(peer, room);
      }
    }
  });
  after(async () => {
    closeAll(...idle);
    await cluster.close();
  });

  it('/metrics names each instance: switchboard_instance_info with a distinct instance_id, state_store redis', async () => {
    const ids = new Set<string>();
    for (const node of cluster.nodes) {
      const text = await (await fetch(`${node.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('switchboard_instance_info{'));
      assert.ok(line, 'instance_info exported');
      assert.match(line, /state_store="redis",adapter="redis-sharded"} 1$/);
      ids.add(/instance_id="([^"]+)"/.exec(line)![1]!);
      assert.ok(ids.has(node.sb.instanceId));
    }
    assert.equal(ids.size, 3);
  });

  it('5 calls between peers on A (joins, signals, leaves, disconnects): B and C receive and publish nothing', async () => {
    const [A, B, C] = cluster.nodes;
    const before = await Promise.all(cluster.nodes.map(adapterCounts));
    let signals = 0;
    for (let n = 0; n < 5; n++) {
      const x = await connect(A!.url);
      const y = await connect(A!.url);
      const roomId = `on-a-${n}`;
      await join(x, roomId);
      await join(y, roomId);
      const [xy, yx] = await call(x, y, roomId, 10_000 + n * 1000);
      signals += xy + yx;
      assert.deepEqual(await request(y, 'leaveRoom', { roomId }), { ok: true });
      closeAll(x, y);
    }
    await sleep(200);
    const [a, b, c] = await Promise.all([A!, B!, C!].map(adapterCounts));
    const onA = minus(a, before[0]!);
    // Bound: zero. Every emit of these calls goes to a peer's or a room's channel, which only A reads.
    assert.deepEqual(minus(b, before[1]!), { published: 0, other: 0, self: 0 });
    assert.deepEqual(minus(c, before[2]!), { published: 0, other: 0, self: 0 });
    // A published every relayed signal (and the sessions, joins and leaves) and heard them back.
    assert.ok(onA.published >= signals, `A published ${onA.published} for ${signals} signals`);
    assert.ok(onA.self >= signals, `A heard back ${onA.self}`);
    assert.equal(onA.other, 0);
  });

  it('a call between a peer on A and one on B reaches only A and B: C receives nothing', async () => {
    const [A, B, C] = cluster.nodes;
    const x = await connect(A!.url);
    const y = await connect(B!.url);
    try {
      await join(x, 'a-and-b');
      await join(y, 'a-and-b');
      await sleep(100); // y's peerJoined reaches A
      const before = await Promise.all(cluster.nodes.map(adapterCounts));
      const [xy, yx] = await call(x, y, 'a-and-b', 20_000);
      await until(async () => (await adapterCounts(B!)).other - before[1]!.other >= xy, 2000, 'B received');
      await until(async () => (await adapterCounts(A!)).other - before[0]!.other >= yx, 2000, 'A received');
      await sleep(100);
      const [a, b, c] = await Promise.all([A!, B!, C!].map(adapterCounts));
      assert.deepEqual(minus(c, before[2]!), { published: 0, other: 0, self: 0 });
      // Each side received exactly what the other sent it.
      assert.equal(minus(b, before[1]!).other, xy);
      assert.equal(minus(a, before[0]!).other, yx);
    } finally {
      closeAll(x, y);
    }
  });
});
