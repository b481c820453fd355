import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  closeAll,
  connect,
  deleteRedisKeys,
  join as joinRoom,
  metric,
  once,
  REDIS_TEST_URL,
  request,
  SDP,
  sleep,
  until,
  type ConnectedClient,
} from '../support/harness';
import {
  checkConfig,
  HAPROXY_CONFIG,
  renderConfig,
  startLoadBalancer,
  testEnvironment,
  type LoadBalancer,
} from '../support/load-balancer';
import { spawnServer, type ServerProcess } from '../support/process';

// deploy/haproxy.cfg, the configuration operators put in front of several instances, run by a real
// haproxy in front of real server processes sharing the test Redis; clients are real
// socket.io-clients (WebSocket transport, as the SDK) that only know the load balancer's address.

interface Stack {
  instances: ServerProcess[];
  lb: LoadBalancer;
}

/**
 * `count` server processes on one fresh Redis key prefix, behind haproxy, all in rotation. Every
 * process, haproxy and the prefix's keys are gone after the test, whatever its outcome.
 */
async function startStack(t: TestContext, count: number): Promise<Stack> {
  const prefix = `sbtest:${randomBytes(6).toString('hex')}:`;
  const instances: ServerProcess[] = [];
  const running: { lb?: LoadBalancer } = {};
  t.after(async () => {
    await running.lb?.close();
    for (const instance of instances) instance.child.kill('SIGKILL');
    await Promise.all(instances.map((i) => i.exited));
    await deleteRedisKeys(prefix);
  });
  const started = await Promise.allSettled(
    Array.from({ length: count }, () =>
      spawnServer({
        REDIS_URL: REDIS_TEST_URL,
        REDIS_KEY_PREFIX: prefix,
        // As docs/operations.md asks behind one proxy (deploy/haproxy.cfg adds X-Forwarded-For).
        TRUST_PROXY: '1',
        LOG_LEVEL: 'warn',
        DEMO_ENABLED: 'false',
      }),
    ),
  );
  for (const s of started) if (s.status === 'fulfilled') instances.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  const lb = (running.lb = await startLoadBalancer(instances.map((i) => i.url)));
  for (const instance of instances) await lb.waitUntilUp(instance.url);
  return { instances, lb };
}

/** A client of `url` (see harness `connect`), disconnected after the test. */
async function client(
  t: TestContext,
  url: string,
  opts: Parameters<typeof connect>[1] = {},
): Promise<ConnectedClient> {
  const socket = await connect(url, opts);
  t.after(() => closeAll(socket));
  return socket;
}

/** `switchboard_connected_sockets` of each instance, in order. */
async function socketsPerInstance(instances: ServerProcess[]): Promise<number[]> {
  return Promise.all(instances.map((i) => metric(i, 'switchboard_connected_sockets')));
}

/** Index of the instance a new connection landed on: the one whose socket count went up. */
async function landedOn(instances: ServerProcess[], before: number[]): Promise<number> {
  let now: number[] = before;
  await until(
    async () => {
      now = await socketsPerInstance(instances);
      return now.reduce((a, b) => a + b, 0) > before.reduce((a, b) => a + b, 0);
    },
    3000,
    'the new connection on some instance',
  );
  return now.findIndex((n, i) => n > before[i]!);
}

/** The instance's `instance_id` from `switchboard_instance_info`. */
async function instanceId(instance: ServerProcess): Promise<string> {
  const text = await (await fetch(`${instance.url}/metrics`)).text();
  return /^switchboard_instance_info\{instance_id="([^"]+)"/m.exec(text)?.[1] ?? '?';
}

/** An offer from `a` to `b` and the answer back, each acknowledged and received. */
async function offerAndAnswer(a: ConnectedClient, b: ConnectedClient, roomId: string): Promise<void> {
  const offer = once(b, 'offer');
  assert.deepEqual(await request(a, 'offer', { roomId, to: b.peerId, sdp: SDP }), { ok: true });
  assert.equal((await offer).from, a.peerId);
  const answer = once(a, 'answer');
  assert.deepEqual(await request(b, 'answer', { roomId, to: a.peerId, sdp: SDP }), { ok: true });
  assert.equal((await answer).from, b.peerId);
}

describe('HAProxy with deploy/haproxy.cfg in front of several instances', () => {
  it('haproxy -c accepts deploy/haproxy.cfg as shipped and as the tests render it', () => {
    const shipped = checkConfig(HAPROXY_CONFIG);
    assert.equal(shipped.code, 0, shipped.output);
    const dir = mkdtempSync(join(tmpdir(), 'sb-haproxy-check-'));
    try {
      const file = join(dir, 'haproxy.cfg');
      writeFileSync(file, renderConfig(['http://127.0.0.1:40001', 'http://127.0.0.1:40002']));
      const rendered = checkConfig(file, testEnvironment(40000, join(dir, 'stats.sock')));
      assert.equal(rendered.code, 0, rendered.output);
      assert.match(rendered.output, /Configuration file is valid/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('two clients connecting through the load balancer land on different instances and relay an offer and an answer between them', async (t) => {
    const { instances, lb } = await startStack(t, 2);
    const idle = await socketsPerInstance(instances);
    const a = await client(t, lb.url);
    const aOn = await landedOn(instances, idle);
    const withA = await socketsPerInstance(instances);
    const b = await client(t, lb.url);
    const bOn = await landedOn(instances, withA);
    assert.notEqual(aOn, bOn, 'round robin sends the second connection to the other instance');
    assert.deepEqual(await socketsPerInstance(instances), [1, 1]);
    console.log(
      `a on ${await instanceId(instances[aOn]!)}, b on ${await instanceId(instances[bOn]!)} (through ${lb.url})`,
    );

    await joinRoom(a, 'lb-call');
    const { peers } = await joinRoom(b, 'lb-call');
    assert.deepEqual(
      peers.map((p) => p.peerId),
      [a.peerId],
    );
    await offerAndAnswer(a, b, 'lb-call');
    // Each signal crossed from one instance to the other through Redis.
    for (const instance of instances)
      assert.ok(
        (await metric(instance, 'switchboard_adapter_messages_received_total{origin="other"}')) >= 1,
        `${instance.url} received from the other instance`,
      );
  });

  it('an instance killed with SIGKILL leaves rotation within 2 s; /ready through the load balancer answers 200 throughout; a client reconnecting lands on the survivor and joins again', async (t) => {
    const { instances, lb } = await startStack(t, 2);
    const idle = await socketsPerInstance(instances);
    const stay = await client(t, lb.url);
    const survivorIndex = await landedOn(instances, idle);
    const moved = await client(t, lb.url);
    const victimIndex = 1 - survivorIndex;
    assert.deepEqual(await socketsPerInstance(instances), [1, 1]);
    const victim = instances[victimIndex]!;
    const survivor = instances[survivorIndex]!;
    await joinRoom(stay, 'lb-kill');
    const { resumeToken } = await joinRoom(moved, 'lb-kill');

    // Probe /ready through the load balancer, back to back, for the whole detection window.
    const probes = { sent: 0, failed: [] as string[] };
    let probing = true;
    const prober = (async () => {
      while (probing) {
        probes.sent++;
        try {
          const res = await fetch(`${lb.url}/ready`, { signal: AbortSignal.timeout(2000) });
          await res.text();
          if (res.status !== 200) probes.failed.push(`HTTP ${res.status}`);
        } catch (err) {
          probes.failed.push(String(err));
        }
        await sleep(10);
      }
    })();

    try {
      const dropped = new Promise<string>((r) => moved.once('disconnect', r));
      const killedAt = Date.now();
      const probesBefore = probes.sent;
      victim.child.kill('SIGKILL');
      const outOfRotation = lb.waitUntilDown(victim.url, 5000).then(() => ({
        ms: Date.now() - killedAt,
        probes: probes.sent - probesBefore,
      }));
      outOfRotation.catch(() => undefined); // awaited below
      await victim.exited;
      assert.equal(await dropped, 'transport close');

      // The client reconnects at once (before the health checks have noticed) to the same address
      // with its resume token, as the SDK does, and lands on the only instance left, whatever
      // round robin picked: same peer, same room.
      const reconnectedAt = Date.now();
      const back = await client(t, lb.url, { auth: { resumeToken } });
      const reconnectMs = Date.now() - reconnectedAt;
      const { resumed } = await back.resumeOutcome;
      assert.equal(resumed?.peerId, moved.peerId);
      assert.deepEqual(
        resumed?.rooms.map((r) => [r.roomId, r.peers.map((p) => p.peerId)]),
        [['lb-kill', [stay.peerId]]],
      );
      assert.deepEqual(await socketsPerInstance([survivor]), [2]);
      // Joining there works too (what the SDK does when a resume is refused).
      const { peers } = await joinRoom(back, 'lb-kill');
      assert.deepEqual(
        peers.map((p) => p.peerId),
        [stay.peerId],
      );
      await offerAndAnswer(stay, back, 'lb-kill');

      const detected = await outOfRotation;
      await sleep(300); // a few more probes with the dead instance out of rotation
      probing = false;
      await prober;
      // haproxy's log marks a request it retried on another instance with "+<retries>".
      const redispatched = lb
        .output()
        .split('\n')
        .filter((line) => /\/\+\d+ \d+\/\d+ "GET \/ready /.test(line)).length;
      console.log(
        `killed instance out of rotation after ${detected.ms} ms (${detected.probes} /ready probes in that window); ` +
          `reconnect with resume took ${reconnectMs} ms; /ready through the load balancer: ` +
          `${probes.sent} probes, ${probes.failed.length} failed, ${redispatched} redispatched by haproxy`,
      );
      assert.ok(detected.ms < 2000, `out of rotation after ${detected.ms} ms`);
      assert.deepEqual(probes.failed, [], 'haproxy retries a refused /ready on the survivor');
      assert.deepEqual(
        (await lb.stats()).map((s) => s.status),
        victimIndex === 0 ? ['DOWN', 'UP'] : ['UP', 'DOWN'],
      );
    } finally {
      probing = false;
      await prober;
    }
  });
});
