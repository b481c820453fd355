/**
 * Load worker: a child process forked by bench/run.mjs that holds many Socket.IO client
 * connections (WebSocket transport only, 127.0.0.1) and drives them on command over IPC.
 *
 * Every pair of peers (caller `a`, callee `b`) lives in one worker, so that sender and receiver
 * share a clock: one-way latency is `performance.now()` at the receiver minus the send time that
 * travels inside the `messageId` (our server strips unknown fields; the baseline relays it as is).
 *
 * Commands (request `{id, cmd, args}`, answer `{id, ok, result | error}`):
 *   setup {url, urlB, target, pairs, concurrency, prefix}  connect and join `pairs` 2-peer rooms (with
 *                                                    `urlB`, each pair's `b` connects there: pairs split
 *                                                    across two instances)
 *   relay {size, window, pairs}                      closed loop: `window` signals in flight per direction
 *                                                    (over the first `pairs` pairs; default all)
 *   rate {rate, size}                                open loop at `rate` signals/s over this worker's pairs
 *   record {on}                                      start/stop keeping latency samples
 *   snapshot                                         counters so far (monotonic)
 *   stop {drainMs}                                   stop sending, wait for in-flight acks
 *   samples                                          latency samples (ms) kept while recording, then clear
 *   callSetup {reps, timeoutMs, candidates, maxMs}   sequential offer/answer/candidates exchanges (until
 *                                                    `reps` are done or `maxMs` has passed)
 *   callFlood {durationMs, candidates, batches, pairCount}  every pair sets up calls back to back
 *                                                    (call-flood.mjs; call-setup throughput)
 *   status                                           sockets connected, unexpected disconnects
 *   close                                            disconnect every socket
 *   fairSetup, fairMeasure, floodStart, floodSnapshot, floodStop   fairness scenario (fairness-worker.mjs)
 *   meshSetup, meshCalls, meshClose                  rooms of several peers and their call setups
 *                                                    (mesh-worker.mjs; Redis memory per peer)
 */
import { io } from 'socket.io-client';
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import { fairnessHandlers, closeFairness } from './fairness-worker.mjs';
import { meshHandlers, closeMesh } from './mesh-worker.mjs';
import { protocolOf } from './protocol-adapter.mjs';
import { SDP, makeCandidate } from './payloads.mjs';
import { createCallFlood } from './call-flood.mjs';

const WORKER = process.env.BENCH_WORKER_ID || '0';
const ACK_TIMEOUT_MS = Number(process.env.BENCH_ACK_TIMEOUT_MS || 10000);
const MAX_SAMPLES = 600000;

// ---------------------------------------------------------------- payloads (./payloads.mjs)

let seqGlobal = 0;

function nowUs() {
  return Math.round(performance.now() * 1000);
}

// ---------------------------------------------------------------- state

let adapter = null;
let targetName = null;
let url = null;
let urlB = null;
const sockets = [];
/** @type {Array<{idx:number, roomId:string, a:any, b:any, dirs:any[], cs:any}>} */
let pairs = [];
let closing = false;

const counters = {
  sent: 0,
  acked: 0,
  delivered: 0,
  ackErrors: {},
  timeouts: 0,
  lateAcks: 0,
  duplicates: 0,
  queued: 0,
  skipped: 0,
  disconnects: {},
  connectErrors: {},
  joinErrors: {},
};

function inc(obj, key) {
  obj[key] = (obj[key] || 0) + 1;
}

// Outstanding acks: id -> {t, d}; swept for timeouts so that a lost ack frees its window slot.
const pending = new Map();
let ackSeq = 0;
setInterval(() => {
  const limit = performance.now() - ACK_TIMEOUT_MS;
  for (const [id, p] of pending) {
    if (p.t < limit) {
      pending.delete(id);
      counters.timeouts++;
      p.d.inflight--;
      if (p.d.onFree) p.d.onFree(p.d);
    }
  }
}, 500).unref();

// ---------------------------------------------------------------- receive side

// On only while recording (see `record`): a monitor wakes its process every millisecond, and idle
// workers waking 1,000 times a second took the cores' time from the processes being measured.
const loop = monitorEventLoopDelay({ resolution: 1 });
function loopStats() {
  const r = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
  loop.reset();
  return r;
}

let recording = false;
let samples = [];
let mode = 'idle';

function onSignal(peer, kind, msg) {
  counters.delivered++;
  if (mode === 'callSetup') {
    callSetupReceive(peer, kind, msg);
    return;
  }
  if (mode === 'callFlood') {
    callFlood.receive(peer, kind, msg);
    return;
  }
  if (recording && samples.length < MAX_SAMPLES) {
    const id = msg.messageId;
    if (typeof id === 'string') {
      const t = Number(id.slice(id.lastIndexOf('.') + 1));
      samples.push((nowUs() - t) / 1000);
    }
  }
}

// ---------------------------------------------------------------- send side

/**
 * A direction of a pair (a→b or b→a) with its own sequence and window.
 * `kindSdp` is 'offer' for a→b and 'answer' for b→a.
 */
function makeDir(pair, from, to, kindSdp, dirTag) {
  return {
    pair,
    from,
    to,
    kindSdp,
    tag: `${WORKER}.${pair.idx}${dirTag}`,
    seq: 0,
    n: 0,
    inflight: 0,
    onFree: null,
  };
}

function sendOne(d, size) {
  const n = ++seqGlobal;
  const messageId = `${d.tag}.${++d.n}.${nowUs()}`;
  let kind;
  let payload;
  if (size === 'sdp') {
    kind = d.kindSdp;
    payload = { roomId: d.pair.roomId, to: d.to.peerId, sdp: SDP, sequence: ++d.seq, messageId };
  } else {
    kind = 'iceCandidate';
    payload = { roomId: d.pair.roomId, to: d.to.peerId, candidate: makeCandidate(n), messageId };
  }
  sendWithAck(d, kind, payload);
}

function sendWithAck(d, kind, payload, onAcked) {
  const id = ++ackSeq;
  pending.set(id, { t: performance.now(), d });
  d.inflight++;
  counters.sent++;
  adapter.send(d.from.sock, kind, payload, (res) => {
    if (!pending.delete(id)) {
      counters.lateAcks++;
      return;
    }
    d.inflight--;
    if (res && res.ok === true) {
      counters.acked++;
      if (res.duplicate) counters.duplicates++;
      if (res.queued) counters.queued++;
    } else {
      inc(counters.ackErrors, (res && res.error && res.error.code) || 'BAD_ACK');
    }
    if (onAcked) onAcked(res);
    if (d.onFree) d.onFree(d);
  });
}

let running = false;
let rateTimer = null;

function allDirs(count = pairs.length) {
  const dirs = [];
  for (const p of pairs.slice(0, count)) dirs.push(...p.dirs);
  return dirs;
}

function startRelay({ size, window, pairs: count }) {
  stopSending();
  mode = 'relay';
  running = true;
  const dirs = allDirs(count);
  const onFree = (d) => {
    if (running && d.inflight < window) sendOne(d, size);
  };
  for (const d of dirs) d.onFree = onFree;
  for (let w = 0; w < window; w++) for (const d of dirs) sendOne(d, size);
  return { directions: dirs.length, inFlight: dirs.length * window };
}

function startRate({ rate, size, maxInflightPerDir = 256 }) {
  stopSending();
  mode = 'rate';
  running = true;
  const dirs = allDirs();
  for (const d of dirs) d.onFree = null;
  if (dirs.length === 0 || rate <= 0) return { directions: 0 };
  const perMs = rate / 1000;
  let credit = 0;
  let last = performance.now();
  let rr = 0;
  rateTimer = setInterval(() => {
    const now = performance.now();
    credit += (now - last) * perMs;
    last = now;
    let k = Math.floor(credit);
    credit -= k;
    while (k-- > 0) {
      const d = dirs[rr];
      rr = rr + 1 === dirs.length ? 0 : rr + 1;
      if (d.inflight >= maxInflightPerDir) {
        counters.skipped++;
        continue;
      }
      sendOne(d, size);
    }
  }, 1);
  return { directions: dirs.length };
}

function stopSending() {
  running = false;
  if (rateTimer) clearInterval(rateTimer);
  rateTimer = null;
  for (const p of pairs) for (const d of p.dirs) d.onFree = null;
}

async function drain(drainMs) {
  const end = performance.now() + drainMs;
  while (pending.size > 0 && performance.now() < end) await sleep(20);
  return pending.size;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------- call setup

let csCurrent = null;

function callSetupReceive(peer, kind, msg) {
  const cs = csCurrent;
  if (!cs || peer.pair !== cs.pair) return;
  if (peer === cs.pair.b) {
    if (kind === 'offer') {
      // The callee answers and trickles its candidates as soon as the offer arrives.
      const d = cs.pair.dirs[1];
      sendWithAck(d, 'answer', {
        roomId: cs.pair.roomId,
        to: cs.pair.a.peerId,
        sdp: SDP,
        sequence: ++d.seq,
        messageId: `${d.tag}.${++d.n}.${nowUs()}`,
      });
      for (let i = 0; i < cs.candidates; i++) sendCandidate(d);
    }
    cs.needB--;
  } else {
    cs.needA--;
  }
  if (cs.needA <= 0 && cs.needB <= 0) cs.done();
  void msg;
}

function sendCandidate(d) {
  sendWithAck(d, 'iceCandidate', {
    roomId: d.pair.roomId,
    to: d.to.peerId,
    candidate: makeCandidate(++seqGlobal),
    messageId: `${d.tag}.${++d.n}.${nowUs()}`,
  });
}

async function runCallSetups({ reps, timeoutMs = 5000, candidates = 10, pairCount, maxMs = Infinity }) {
  stopSending();
  mode = 'callSetup';
  const use = pairs.slice(0, pairCount || pairs.length);
  const times = [];
  let failures = 0;
  const until = performance.now() + maxMs;
  for (let r = 0; r < reps && performance.now() < until; r++) {
    const pair = use[r % use.length];
    const t0 = performance.now();
    const ok = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      csCurrent = {
        pair,
        candidates,
        needA: 1 + candidates, // answer + callee's candidates
        needB: 1 + candidates, // offer + caller's candidates
        done: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const d = pair.dirs[0];
      sendWithAck(d, 'offer', {
        roomId: pair.roomId,
        to: pair.b.peerId,
        sdp: SDP,
        sequence: ++d.seq,
        messageId: `${d.tag}.${++d.n}.${nowUs()}`,
      });
      for (let i = 0; i < candidates; i++) sendCandidate(d);
    });
    const t1 = performance.now();
    csCurrent = null;
    if (ok) times.push(t1 - t0);
    else failures++;
    // Let the last acks arrive before the next setup starts.
    await drain(Math.min(timeoutMs, 2000));
  }
  mode = 'idle';
  return { times, failures };
}

const callFlood = createCallFlood({
  pairs: () => pairs,
  send: (d, kind, payload, onAcked) => sendWithAck(d, kind, payload, onAcked),
  batching: () => targetName === 'ours',
  nextCandidate: () => ++seqGlobal,
});

async function runCallFlood(args) {
  stopSending();
  mode = 'callFlood';
  try {
    return await callFlood.flood(args);
  } finally {
    mode = 'idle';
  }
}

// ---------------------------------------------------------------- connect and join

function connectSocket(timeoutMs, to = url) {
  return new Promise((resolve) => {
    const sock = io(to + '/webrtc', {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
    });
    const timer = setTimeout(() => {
      inc(counters.connectErrors, 'timeout');
      sock.close();
      resolve(null);
    }, timeoutMs + 1000);
    sock.once('connect', () => {
      clearTimeout(timer);
      sockets.push(sock);
      sock.on('disconnect', (reason) => {
        if (!closing) inc(counters.disconnects, reason);
      });
      resolve(sock);
    });
    sock.once('connect_error', (err) => {
      clearTimeout(timer);
      inc(counters.connectErrors, (err && err.message) || 'connect_error');
      sock.close();
      resolve(null);
    });
  });
}

async function joinPeer(sock, roomId, name) {
  try {
    const res = await adapter.join(sock, roomId, name);
    if (!res || res.ok !== true) {
      inc(counters.joinErrors, (res && res.error && res.error.code) || 'BAD_ACK');
      return null;
    }
    return res.peerId;
  } catch (err) {
    inc(counters.joinErrors, /timed out/.test(String(err && err.message)) ? 'timeout' : 'error');
    return null;
  }
}

async function setupPair(idx, prefix, timeoutMs) {
  const roomId = `${prefix}-w${WORKER}-r${idx}`;
  const [sa, sb] = await Promise.all([connectSocket(timeoutMs), connectSocket(timeoutMs, urlB)]);
  if (!sa || !sb) {
    sa?.close();
    sb?.close();
    return null;
  }
  const pair = { idx, roomId, a: null, b: null, dirs: [] };
  const a = { sock: sa, peerId: null, pair };
  const b = { sock: sb, peerId: null, pair };
  a.peerId = await joinPeer(sa, roomId, `a${idx}`);
  if (!a.peerId) return null;
  b.peerId = await joinPeer(sb, roomId, `b${idx}`);
  if (!b.peerId) return null;
  pair.a = a;
  pair.b = b;
  pair.dirs = [makeDir(pair, a, b, 'offer', 'ab'), makeDir(pair, b, a, 'answer', 'ba')];
  adapter.listen(sa, (kind, msg) => onSignal(a, kind, msg));
  adapter.listen(sb, (kind, msg) => onSignal(b, kind, msg));
  return pair;
}

async function setup({
  url: u,
  urlB: uB,
  target,
  pairs: count,
  concurrency = 50,
  prefix = 'bench',
  timeoutMs = 20000,
}) {
  url = u;
  urlB = uB || u;
  adapter = protocolOf(target);
  targetName = target;
  closing = false;
  const t0 = performance.now();
  let next = 0;
  const made = [];
  const runners = [];
  for (let c = 0; c < Math.min(concurrency, count); c++) {
    runners.push(
      (async () => {
        while (next < count) {
          const idx = next++;
          const p = await setupPair(idx, prefix, timeoutMs);
          if (p) made.push(p);
        }
      })(),
    );
  }
  await Promise.all(runners);
  pairs = made.sort((x, y) => x.idx - y.idx);
  return {
    pairs: pairs.length,
    peers: pairs.length * 2,
    ms: performance.now() - t0,
    connectErrors: { ...counters.connectErrors },
    joinErrors: { ...counters.joinErrors },
  };
}

function snapshot() {
  return {
    t: performance.now(),
    sent: counters.sent,
    acked: counters.acked,
    delivered: counters.delivered,
    timeouts: counters.timeouts,
    lateAcks: counters.lateAcks,
    duplicates: counters.duplicates,
    queued: counters.queued,
    skipped: counters.skipped,
    pending: pending.size,
    ackErrors: { ...counters.ackErrors },
    disconnects: { ...counters.disconnects },
    connectErrors: { ...counters.connectErrors },
    joinErrors: { ...counters.joinErrors },
  };
}

async function closeAll() {
  stopSending();
  await closeFairness();
  await closeMesh();
  closing = true;
  for (const s of sockets) s.close();
  sockets.length = 0;
  pairs = [];
  pending.clear();
  for (const k of Object.keys(counters)) {
    counters[k] = typeof counters[k] === 'number' ? 0 : {};
  }
  await sleep(50);
  return { closed: true };
}

const handlers = {
  setup,
  relay: (a) => startRelay(a),
  rate: (a) => startRate(a),
  record: ({ on }) => {
    recording = !!on;
    const loopDelay = loopStats(); // since the previous record command
    if (recording) loop.enable();
    else loop.disable();
    return { ...snapshot(), loopDelay };
  },
  snapshot: () => snapshot(),
  stop: async ({ drainMs = 3000 } = {}) => {
    stopSending();
    const left = await drain(drainMs);
    mode = 'idle';
    return { ...snapshot(), undrained: left };
  },
  samples: () => {
    const s = samples;
    samples = [];
    return s;
  },
  callSetup: (a) => runCallSetups(a),
  callFlood: (a) => runCallFlood(a),
  status: () => ({
    connected: sockets.filter((s) => s.connected).length,
    sockets: sockets.length,
    pairs: pairs.length,
    disconnects: { ...counters.disconnects },
  }),
  close: () => closeAll(),
  ...fairnessHandlers,
  ...meshHandlers,
  exit: () => {
    setTimeout(() => process.exit(0), 10);
    return {};
  },
};

process.on('message', async (m) => {
  if (!m || typeof m !== 'object' || !m.cmd) return;
  try {
    const h = handlers[m.cmd];
    if (!h) throw new Error(`unknown command ${m.cmd}`);
    const result = await h(m.args || {});
    process.send({ id: m.id, ok: true, result });
  } catch (err) {
    process.send({ id: m.id, ok: false, error: String((err && err.stack) || err) });
  }
});
// The driver is gone: nothing else would end this process.
process.on('disconnect', () => process.exit(0));
