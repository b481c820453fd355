/**
 * Measures the two maintained Socket.IO Redis adapters against issue 11's requirement — an
 * instance's work grows with its own peers' traffic, not with the cluster's — and for cross-instance
 * relay speed; the figures and the choice are in docs/operations.md ("Scaling").
 *
 *   npx tsc -b packages/protocol packages/server && node packages/server/bench/cluster-adapters.mjs [modes]
 *
 * modes: any of `sharded`, `streams`, `switchboard` (default all three). For each, three instances
 * (A, B, C: `cluster-node.mjs`, one process each) share the Redis at REDIS_URL (default
 * redis://127.0.0.1:6379) under a fresh prefix, deleted at the end. Load comes from this process
 * (socket.io-client, WebSocket), so one-way latency is read on one clock. Scenarios:
 *
 * 1. locality: 20 idle pairs on B and 20 on C; 20 pairs on A send 10,000 signals at 5,000/s between
 *    themselves. Reported per instance: adapter messages published, received from others, received
 *    back from itself, and CPU time, over the scenario.
 * 2. A↔B: 20 pairs with one peer on A and one on B, 5,000 signals at 5,000/s: what C gets.
 * 3. latency: 20 pairs, open loop at 1,000, 2,500 and 5,000 signals/s (RATES) for 4 s after 1 s of
 *    warm-up each, sender on A and receiver on B (cross), then both on A (local): p50, p99, max.
 * 4. throughput: 20 cross-instance pairs, 16 signals in flight each (a new one on each delivery), 5 s.
 *
 * Signals are candidate-sized (~150 B). It is a benchmark: nothing asserts, nothing runs it in CI.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { io } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const modes =
  process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['sharded', 'streams', 'switchboard'];
const PAIRS = 20;
/** Open-loop rates of the latency scenario, signals/s (RATES=1000,5000 to change). */
const RATES = (process.env.RATES ?? '1000,2500,5000').split(',').map(Number);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Numbers every signal of the run: Switchboard drops a repeated candidate line as a duplicate. */
let seq = 0;

function startNode(mode, prefix) {
  const child = fork(join(here, 'cluster-node.mjs'), [], {
    env: { ...process.env, MODE: mode, REDIS_URL, PREFIX: prefix },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, url: m.url }));
    child.once('exit', (code) => reject(new Error(`${mode} instance exited with ${code}`)));
  });
}

function stats(node) {
  return new Promise((resolve) => {
    node.child.once('message', (m) => resolve(m.stats));
    node.child.send({ cmd: 'stats' });
  });
}

/** A connected peer; `send(to, n)` sends signal n stamped with the time, `onSignal(t)` hears one. */
async function peer(mode, url, roomId) {
  const id = randomBytes(8).toString('hex');
  const socket = io(`${url}/webrtc`, { transports: ['websocket'], forceNew: true, auth: { id } });
  const p = { socket, id, onSignal: () => undefined };
  if (mode === 'switchboard') {
    const session = new Promise((r) => socket.once('session', (e) => r(e.peerId)));
    await new Promise((r) => socket.once('connect', r));
    p.id = await session;
    const ack = await socket.emitWithAck('joinRoom', { roomId });
    if (!ack.ok) throw new Error(`join: ${JSON.stringify(ack)}`);
    socket.on('iceCandidate', (m) => p.onSignal(Number(m.messageId.split(':')[1])));
    p.send = (to, n) =>
      socket.emit(
        'iceCandidate',
        {
          roomId,
          to: to.id,
          candidate: {
            candidate: `candidate:${n} 1 udp 2122260223 192.0.2.1 ${1024 + (n % 60000)} typ host generation 0`,
            sdpMid: '0',
            sdpMLineIndex: 0,
            usernameFragment: 'abcd',
          },
          messageId: `${n}:${performance.now()}`,
        },
        () => undefined,
      );
  } else {
    await new Promise((r) => socket.once('connect', r));
    socket.on('sig', (m) => p.onSignal(m.t));
    p.send = (to, n) =>
      socket.emit(
        'sig',
        {
          to: to.id,
          n,
          t: performance.now(),
          candidate: `candidate:${n} 1 udp 2122260223 192.0.2.1 ${1024 + (n % 60000)} typ host generation 0`,
        },
        () => undefined,
      );
  }
  return p;
}

async function pairs(mode, urlA, urlB, count, label) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const room = `${label}-${i}`;
    out.push([await peer(mode, urlA, room), await peer(mode, urlB, room)]);
  }
  return out;
}

/** Sends `total` signals at `rate`/s round-robin over the pairs (a → b); resolves with delivery and latency. */
async function openLoop(list, rate, total, record = true) {
  const latencies = [];
  let received = 0;
  for (const [, b] of list)
    b.onSignal = (t) => {
      received++;
      if (record) latencies.push(performance.now() - t);
    };
  let sent = 0;
  const start = performance.now();
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
      while (sent < due) {
        const [a, b] = list[sent++ % list.length];
        a.send(b, seq++);
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  for (let waited = 0; received < total && waited < 5000; waited += 20) await sleep(20);
  latencies.sort((x, y) => x - y);
  const q = (f) => latencies[Math.min(latencies.length - 1, Math.floor(f * latencies.length))] ?? NaN;
  return { sent, received, p50: q(0.5), p99: q(0.99), max: latencies[latencies.length - 1] ?? NaN };
}

/** Each pair keeps `window` signals in flight (a new one per delivery) for `ms`; delivered per second. */
async function closedLoop(list, window, ms) {
  let delivered = 0;
  let running = true;
  for (const [a, b] of list) {
    b.onSignal = () => {
      delivered++;
      if (running) a.send(b, seq++);
    };
  }
  for (const [a, b] of list) for (let i = 0; i < window; i++) a.send(b, seq++);
  await sleep(1000);
  const from = delivered;
  const t0 = performance.now();
  await sleep(ms);
  const rate = ((delivered - from) * 1000) / (performance.now() - t0);
  running = false;
  await sleep(500);
  return Math.round(rate);
}

async function redisCpuMs(redis) {
  const info = await redis.info('cpu');
  const v = (k) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)[1]);
  return (v('used_cpu_user') + v('used_cpu_sys')) * 1000;
}

async function snapshot(nodes, redis) {
  return { nodes: await Promise.all(nodes.map(stats)), redisCpuMs: await redisCpuMs(redis) };
}

function delta(before, after) {
  const names = ['A', 'B', 'C'];
  const out = {};
  after.nodes.forEach((s, i) => {
    const b = before.nodes[i];
    out[names[i]] = {
      published: s.published - b.published,
      receivedOther: s.other - b.other,
      receivedSelf: s.self - b.self,
      cpuMs: Math.round(s.cpuMs - b.cpuMs),
    };
  });
  out.redisCpuMs = Math.round(after.redisCpuMs - before.redisCpuMs);
  return out;
}

async function deleteKeys(redis, prefix) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

const redis = new Redis(REDIS_URL);
const results = {};
for (const mode of modes) {
  const prefix = `sbbench:${randomBytes(4).toString('hex')}:`;
  const nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await startNode(mode, prefix));
  const [A, B, C] = nodes;
  const sockets = [];
  const keep = (list) => {
    for (const [a, b] of list) sockets.push(a.socket, b.socket);
    return list;
  };
  try {
    keep(await pairs(mode, B.url, B.url, PAIRS, 'idle-b'));
    keep(await pairs(mode, C.url, C.url, PAIRS, 'idle-c'));
    const onA = keep(await pairs(mode, A.url, A.url, PAIRS, 'a'));
    const aToB = keep(await pairs(mode, A.url, B.url, PAIRS, 'ab'));
    await sleep(500);

    let before = await snapshot(nodes, redis);
    const local = await openLoop(onA, 5000, 10_000, false);
    await sleep(300);
    const locality = { delivered: local.received, ...delta(before, await snapshot(nodes, redis)) };

    before = await snapshot(nodes, redis);
    const cross = await openLoop(aToB, 5000, 5000, false);
    await sleep(300);
    const abOnly = { delivered: cross.received, ...delta(before, await snapshot(nodes, redis)) };

    const latency = {};
    for (const rate of RATES) {
      for (const [name, list] of [
        ['cross', aToB],
        ['local', onA],
      ]) {
        await openLoop(list, rate, rate, false); // 1 s of warm-up
        latency[`${name}@${rate}`] = await openLoop(list, rate, rate * 4);
      }
    }
    const crossThroughput = await closedLoop(aToB, 16, 5000);
    results[mode] = { locality, abOnly, latency, crossThroughput };
    console.log(`${mode}: ${JSON.stringify(results[mode], round)}`);
  } finally {
    for (const s of sockets) s.disconnect();
    for (const node of nodes) node.child.send({ cmd: 'exit' });
    await sleep(500);
    for (const node of nodes) node.child.kill('SIGKILL');
    await deleteKeys(redis, prefix);
  }
}
redis.disconnect();
console.log(JSON.stringify(results, round, 2));

function round(_key, v) {
  return typeof v === 'number' ? Math.round(v * 100) / 100 : v;
}
