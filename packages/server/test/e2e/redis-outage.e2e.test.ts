import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ErrorCode } from '@switchboard/protocol';
import {
  closeAll,
  connect,
  join,
  once,
  refusal,
  request,
  SDP,
  sleep,
  startCluster,
  until,
  type TestCluster,
} from '../support/harness';
import { startOwnRedis, type OwnRedis } from '../support/redis-server';

/** GET /ready: its status code and body. */
async function ready(url: string): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const res = await fetch(`${url}/ready`);
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
}

// Redis is the cluster's memory: these tests take it away (a redis-server of their own, killed)
// and bring it back, with its data and without.
describe('Redis outage', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  async function setup(persistent: boolean): Promise<{ redis: OwnRedis; cluster: TestCluster }> {
    const redis = await startOwnRedis(persistent);
    cleanup.push(() => redis.close());
    const cluster = await startCluster(2, { RESUME_WINDOW_MS: '10000' }, redis.url);
    cleanup.push(() => cluster.close());
    return { redis, cluster };
  }

  it('while Redis is down: /ready 503 with the reason, signals and joins answered UNAVAILABLE within 3 s, new connections refused UNAVAILABLE; back with its data: the call goes on', async () => {
    const { redis, cluster } = await setup(true);
    const [A, B] = cluster.nodes;
    const a = await connect(A!.url);
    const b = await connect(B!.url);
    try {
      await join(a, 'outage-1');
      await join(b, 'outage-1');
      await redis.kill();
      await until(async () => (await ready(A!.url)).status === 503, 3000, '/ready 503');
      const { body } = await ready(A!.url);
      assert.equal(body.status, 'unavailable');
      assert.match(body.reason ?? '', /redis/);

      let started = Date.now();
      const signal = await request(a, 'offer', { roomId: 'outage-1', to: b.peerId, sdp: SDP });
      const signalMs = Date.now() - started;
      assert.equal(!signal.ok && signal.error.code, ErrorCode.UNAVAILABLE);
      started = Date.now();
      const joined = await request(b, 'joinRoom', { roomId: 'outage-other' });
      const joinMs = Date.now() - started;
      assert.equal(!joined.ok && joined.error.code, ErrorCode.UNAVAILABLE);
      assert.ok(signalMs < 3000 && joinMs < 3000, `answered after ${signalMs} / ${joinMs} ms`);
      const refused = await refusal(B!.url);
      assert.equal(refused.data?.code, ErrorCode.UNAVAILABLE);
      console.log(`Redis down: signal answered in ${signalMs} ms, join in ${joinMs} ms`);

      await redis.start();
      await until(async () => (await ready(A!.url)).status === 200, 10_000, '/ready 200 on A');
      await until(async () => (await ready(B!.url)).status === 200, 10_000, '/ready 200 on B');
      // Same peers, same room: nothing was lost, so nobody was asked to start over.
      await sleep(1500); // a presence poll or two: long enough for a wrong "state lost" to show
      assert.equal(a.connected && b.connected, true);
      const offer = once(b, 'offer');
      assert.deepEqual(await request(a, 'offer', { roomId: 'outage-1', to: b.peerId, sdp: SDP }), {
        ok: true,
      });
      assert.equal((await offer).from, a.peerId);
      const late = await connect(B!.url);
      await join(late, 'outage-1');
      late.disconnect();
    } finally {
      closeAll(a, b);
    }
  });

  it('Redis restarted empty: every instance makes its clients reconnect, their resume is refused, and they join and call again', async () => {
    const { redis, cluster } = await setup(false);
    const [A, B] = cluster.nodes;
    const a = await connect(A!.url, { reconnection: true });
    const b = await connect(B!.url, { reconnection: true });
    try {
      const { resumeToken } = await join(a, 'outage-2');
      await join(b, 'outage-2');
      const aDropped = new Promise<string>((resolve) => a.once('disconnect', resolve));
      const bDropped = new Promise<string>((resolve) => b.once('disconnect', resolve));
      await redis.kill();
      await redis.start(); // empty: no persistence
      assert.equal(await aDropped, 'transport close');
      assert.equal(await bDropped, 'transport close');
      // The clients come back as new peers (a raw client has no resume token in its auth here;
      // one that presents its old token is refused, as the SDK's would be).
      await until(() => a.connected && b.connected, 10_000, 'both reconnected');
      const withToken = await connect(A!.url, { auth: { resumeToken } });
      assert.equal((await withToken.resumeOutcome).failed?.error.code, ErrorCode.RESUME_REJECTED);
      withToken.disconnect();
      const a2 = await connect(A!.url);
      const b2 = await connect(B!.url);
      try {
        await join(a2, 'outage-2');
        const joined = await join(b2, 'outage-2');
        // The room was rebuilt from nothing: only the peers that joined again are in it.
        assert.deepEqual(
          joined.peers.map((p) => p.peerId),
          [a2.peerId],
        );
        const offer = once(b2, 'offer');
        assert.deepEqual(await request(a2, 'offer', { roomId: 'outage-2', to: b2.peerId, sdp: SDP }), {
          ok: true,
        });
        assert.equal((await offer).from, a2.peerId);
      } finally {
        closeAll(a2, b2);
      }
    } finally {
      closeAll(a, b);
    }
  });
});
