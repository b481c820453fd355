/**
 * Fairness scenario, worker side (commands registered by bench/lib/worker.mjs). Two roles, each
 * used in its own worker process so that the flood does not share the honest clients' event loop:
 *
 * Honest clients (one worker, sockets bound to e.g. 127.0.0.2):
 *   fairSetup {url, target, localAddress, pairs}   connect `pairs` pairs; pair 0 joins a room for pings
 *   fairMeasure {durationMs, roundPeriodMs, roundTimeoutMs, pingGapMs, pingTimeoutMs}
 *       for `durationMs`: (1) call-setup rounds on pairs 1..n, each pair every `roundPeriodMs`
 *       (staggered): both join a fresh room, A sends an offer (acked), B answers it (acked) when it
 *       arrives; timed from A's join emit to A receiving the answer; then both leave (not timed);
 *       (2) relay round trips on pair 0: A → B → A candidate ping-pong, one in flight, `pingGapMs`
 *       between. Answers summaries (ms), failures by stage and code, and this process's loop delay.
 *
 * Flooder (another worker, sockets bound to e.g. 127.0.0.3):
 *   floodStart {url, target, localAddress, window, connectRetryMs}
 *       a silent receiver and a flooder join one room; the flooder sends unique iceCandidate
 *       signals to the receiver as fast as it can (acks counted, not waited for; at most `window`
 *       unanswered). A flooder the server disconnects reconnects at once and rejoins, as an attacker
 *       would (refused connections are retried after `connectRetryMs`); so does a dropped receiver.
 *       A room that is full (e.g. of dropped receivers still in their resume window) is swapped for a
 *       fresh one.
 *   floodSnapshot                                   counters so far
 *   floodStop                                       stop, close both sockets, answer the counters
 *
 * Both honest peers of a pair live in this process, so every time is on one clock.
 */
import { io } from 'socket.io-client';
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate } from 'node:timers';
import { deserialize, serialize } from 'node:v8';
import { summarize } from './stats.mjs';
import { protocolOf } from './protocol-adapter.mjs';

const WORKER = process.env.BENCH_WORKER_ID || '0';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const inc = (o, k) => {
  o[k] = (o[k] || 0) + 1;
};
const codeOf = (res) => (res && res.error && res.error.code) || 'BAD_ACK';

/** A unique ~150 B candidate line (same shape as worker.mjs's): foundation and port vary with n. */
function makeCandidate(n) {
  const port = 10000 + (n % 50000);
  return {
    candidate: `candidate:${n} 1 udp 1686052607 203.0.113.${n % 250} ${port} typ srflx raddr 192.168.1.${n % 250} rport ${port} generation 0 ufrag abcd network-id 1 network-cost 10`,
    sdpMid: '0',
    sdpMLineIndex: 0,
    usernameFragment: 'abcd',
  };
}
const SDP =
  'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n' +
  'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijklmn\r\n' +
  'a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n' +
  'a=setup:actpass\r\na=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n';

/** One Socket.IO connection from `localAddress`; answers `{sock}` or `{error}`. */
function connect(url, localAddress, timeoutMs = 10000) {
  return new Promise((resolve) => {
    const sock = io(url + '/webrtc', {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
      localAddress,
    });
    const timer = setTimeout(() => {
      sock.close();
      resolve({ error: 'timeout' });
    }, timeoutMs + 1000);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve({ sock });
    });
    sock.once('connect_error', (err) => {
      clearTimeout(timer);
      sock.close();
      // e.g. 'websocket error: Unexpected server response: 400' for a refused upgrade.
      const detail = err && err.description && err.description.message;
      resolve({
        error: `${(err && err.message) || 'connect_error'}${detail ? `: ${detail}` : ''}`.slice(0, 100),
      });
    });
  });
}

/** `fn()` or `{ok:false, error:{code}}` on an ack timeout/rejection. */
async function ackOf(promise) {
  try {
    return await promise;
  } catch (err) {
    return {
      ok: false,
      error: { code: /timed out/.test(String(err && err.message)) ? 'ACK_TIMEOUT' : 'ERROR' },
    };
  }
}

// ================================================================ honest clients

// On only while fairMeasure runs: an idle worker that woke every millisecond would take the
// cores' time from whatever is being measured at that moment.
const loop = monitorEventLoopDelay({ resolution: 1 });

let H = null;

function honestCounters() {
  return { ackErrors: {}, leaveErrors: {} };
}

async function fairSetup({ url, target, localAddress, pairs: count = 13, prefix = 'fair' }) {
  await honestClose();
  const p = protocolOf(target);
  H = {
    p,
    url,
    target,
    pairs: [],
    sockets: [],
    disconnects: {},
    closing: false,
    roundN: 0,
    pingN: 0,
    out: null,
  };
  const t0 = performance.now();
  const conns = await Promise.all(Array.from({ length: 2 * count }, () => connect(url, localAddress)));
  const bad = conns.filter((c) => c.error);
  for (const c of conns) if (c.sock) H.sockets.push(c.sock);
  if (bad.length) {
    const why = [...new Set(bad.map((c) => c.error))].join(', ');
    await honestClose();
    throw new Error(`${bad.length} of ${2 * count} honest connections failed: ${why}`);
  }
  for (const s of H.sockets) {
    s.on('disconnect', (reason) => {
      if (H && !H.closing) inc(H.disconnects, reason);
    });
  }
  for (let i = 0; i < count; i++) {
    const pr = {
      idx: i,
      a: { sock: conns[2 * i].sock },
      b: { sock: conns[2 * i + 1].sock },
      seqAB: 0,
      seqBA: 0,
      cur: null,
      roomId: null,
    };
    p.listen(pr.a.sock, (kind, m) => onHonest(pr, 'a', kind, m));
    p.listen(pr.b.sock, (kind, m) => onHonest(pr, 'b', kind, m));
    H.pairs.push(pr);
  }
  // Pair 0 stays in one room and carries the relay round trips.
  const ping = H.pairs[0];
  ping.roomId = `${prefix}-w${WORKER}-ping`;
  const ra = await ackOf(p.join(ping.a.sock, ping.roomId, 'ping-a'));
  const rb = await ackOf(p.join(ping.b.sock, ping.roomId, 'ping-b'));
  if (!ra.ok || !rb.ok) {
    await honestClose();
    throw new Error(`honest ping pair could not join: ${codeOf(ra.ok ? rb : ra)}`);
  }
  ping.a.peerId = ra.peerId;
  ping.b.peerId = rb.peerId;
  H.prefix = prefix;
  return { pairs: count, connections: 2 * count, ms: performance.now() - t0 };
}

function onHonest(pr, side, kind, m) {
  if (!H) return;
  if (pr.idx === 0) {
    if (kind !== 'iceCandidate' || typeof m.messageId !== 'string') return;
    if (side === 'b') {
      // B returns the ping to A at once.
      H.p.send(
        pr.b.sock,
        'iceCandidate',
        {
          roomId: pr.roomId,
          to: pr.a.peerId,
          candidate: makeCandidate(++H.pingN),
          messageId: `${m.messageId}.r`,
        },
        (res) => countAck(res),
      );
    } else if (H.pingWait && m.messageId === `${H.pingWait.id}.r`) {
      H.pingWait.done();
    }
    return;
  }
  const cur = pr.cur;
  if (!cur || m.roomId !== cur.roomId) return;
  if (side === 'b' && kind === 'offer' && cur.onOffer) cur.onOffer();
  else if (side === 'a' && kind === 'answer' && cur.onAnswer) cur.onAnswer();
}

function countAck(res) {
  if (res && res.ok === true) return true;
  if (H && H.out) inc(H.out.ackErrors, codeOf(res));
  return false;
}

/** One call setup on pair `pr`: join a fresh room (both), offer, answer. Answers ms or a failure label. */
async function callRound(pr, timeoutMs) {
  const roomId = `${H.prefix}-w${WORKER}-p${pr.idx}-r${++H.roundN}`;
  const p = H.p;
  const t0 = performance.now();
  const outcome = await new Promise((resolve) => {
    let stage = 'join';
    let settled = false;
    const finish = (r) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => finish(`${stage}:timeout`), timeoutMs);
    const cur = { roomId, onOffer: null, onAnswer: null };
    pr.cur = cur;
    Promise.all([
      ackOf(p.join(pr.a.sock, roomId, `a${pr.idx}`)),
      ackOf(p.join(pr.b.sock, roomId, `b${pr.idx}`)),
    ]).then(([ra, rb]) => {
      if (settled) return;
      if (!ra.ok || !rb.ok) return finish(`join:${codeOf(ra.ok ? rb : ra)}`);
      stage = 'offer';
      cur.onOffer = () => {
        cur.onOffer = null;
        stage = 'answer';
        p.send(
          pr.b.sock,
          'answer',
          { roomId, to: ra.peerId, sdp: SDP, sequence: ++pr.seqBA, messageId: `${roomId}.ans` },
          (res) => {
            if (!countAck(res)) finish(`answer:${codeOf(res)}`);
          },
        );
      };
      cur.onAnswer = () => finish(performance.now() - t0);
      p.send(
        pr.a.sock,
        'offer',
        { roomId, to: rb.peerId, sdp: SDP, sequence: ++pr.seqAB, messageId: `${roomId}.off` },
        (res) => {
          if (!countAck(res)) finish(`offer:${codeOf(res)}`);
        },
      );
    });
  });
  pr.cur = null;
  // Leave (not timed), so that the pair stays within its room limit and joins stay well under the
  // join rate (two joins+leaves per connection per round).
  const left = await Promise.all([ackOf(p.leave(pr.a.sock, roomId)), ackOf(p.leave(pr.b.sock, roomId))]);
  for (const r of left) if (!r.ok && H.out) inc(H.out.leaveErrors, codeOf(r));
  return outcome;
}

async function pairLoop(pr, firstAt, periodMs, until, timeoutMs, out) {
  let next = firstAt;
  for (;;) {
    if (next >= until || H.closing) return;
    const now = performance.now();
    if (next > now) await sleep(next - now);
    const r = await callRound(pr, timeoutMs);
    if (typeof r === 'number') out.setupMs.push(r);
    else inc(out.roundFailures, r);
    next = Math.max(next + periodMs, performance.now());
  }
}

async function pingLoop(until, gapMs, timeoutMs, out) {
  const pr = H.pairs[0];
  while (performance.now() < until && !H.closing) {
    const id = `ping${WORKER}.${++H.pingN}`;
    const t0 = performance.now();
    const ok = await new Promise((resolve) => {
      const timer = setTimeout(() => {
        H.pingWait = null;
        resolve(false);
      }, timeoutMs);
      H.pingWait = {
        id,
        done: () => {
          clearTimeout(timer);
          H.pingWait = null;
          resolve(true);
        },
      };
      H.p.send(
        pr.a.sock,
        'iceCandidate',
        { roomId: pr.roomId, to: pr.b.peerId, candidate: makeCandidate(H.pingN), messageId: id },
        (res) => countAck(res),
      );
    });
    if (ok) out.rttMs.push(performance.now() - t0);
    else out.pingTimeouts++;
    if (gapMs > 0 && performance.now() + gapMs < until) await sleep(gapMs);
  }
}

async function fairMeasure({
  durationMs,
  roundPeriodMs = 1500,
  roundTimeoutMs = 5000,
  pingGapMs = 10,
  pingTimeoutMs = 5000,
}) {
  if (!H) throw new Error('fairSetup first');
  const out = { setupMs: [], rttMs: [], roundFailures: {}, pingTimeouts: 0, ...honestCounters() };
  H.out = out;
  const d0 = { ...H.disconnects };
  loop.reset();
  loop.enable();
  const t0 = performance.now();
  const until = t0 + durationMs;
  const callPairs = H.pairs.slice(1);
  const stagger = roundPeriodMs / Math.max(1, callPairs.length);
  await Promise.all([
    pingLoop(until, pingGapMs, pingTimeoutMs, out),
    ...callPairs.map((pr, i) => pairLoop(pr, t0 + i * stagger, roundPeriodMs, until, roundTimeoutMs, out)),
  ]);
  const loopDelay = { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 };
  loop.disable();
  H.out = null;
  const disconnects = {};
  for (const [k, v] of Object.entries(H.disconnects)) if (v - (d0[k] || 0)) disconnects[k] = v - (d0[k] || 0);
  return {
    seconds: (performance.now() - t0) / 1000,
    setupMs: summarize(out.setupMs),
    setupSamples: out.setupMs.map((x) => +x.toFixed(2)),
    rttMs: summarize(out.rttMs),
    roundFailures: out.roundFailures,
    pingTimeouts: out.pingTimeouts,
    ackErrors: out.ackErrors,
    leaveErrors: out.leaveErrors,
    disconnects,
    clientLoopDelayMs: loopDelay,
  };
}

async function honestClose() {
  if (!H) return;
  H.closing = true;
  for (const s of H.sockets) s.close();
  H = null;
}

// ================================================================ flooder

let F = null;

function floodCounters() {
  return {
    sent: 0,
    acked: 0,
    refused: {},
    connects: 0,
    connectErrors: {},
    joinErrors: {},
    disconnects: {},
    disconnectReasons: {},
    receiverConnects: 0,
    receiverDisconnects: {},
    roomsUsed: 1,
  };
}

function floodSnapshot() {
  if (!F) return { t: performance.now(), ...floodCounters(), inflight: 0 };
  return {
    t: performance.now(),
    ...deserialize(serialize(F.c)),
    inflight: F.fl ? F.fl.inflight : 0,
    flooderConnected: !!(F.fl && F.fl.sock.connected),
    receiverConnected: !!(F.recv && F.recv.sock.connected),
  };
}

async function floodStart({
  url,
  target,
  localAddress,
  window = 65536,
  connectRetryMs = 10,
  prefix = 'flood',
}) {
  await floodStop();
  F = {
    p: protocolOf(target),
    url,
    localAddress,
    window,
    connectRetryMs,
    prefix,
    roomN: 0,
    room: `${prefix}-w${WORKER}-0`,
    k: 0,
    running: true,
    scheduled: false,
    fl: null,
    recv: null,
    sockets: new Set(),
    c: floodCounters(),
  };
  const f = F;
  f.loops = [receiverLoop(f), flooderLoop(f)];
  // Answer once the flood is on (or after 10 s, whatever state it is in).
  const end = performance.now() + 10000;
  while (f.c.sent === 0 && performance.now() < end) await sleep(5);
  return floodSnapshot();
}

/** Swap to a fresh room: the receiver reconnects into it, and the flooder follows. */
function rotateRoom(f) {
  f.room = `${f.prefix}-w${WORKER}-${++f.roomN}`;
  f.c.roomsUsed++;
  if (f.recv) f.recv.sock.disconnect();
  if (f.fl) f.fl.sock.disconnect();
}

/** Connects (retrying refusals), joins f.room; answers {sock, peerId, room, closed} or null when stopped. */
async function connectAndJoin(f, role) {
  while (f.running) {
    const c = await connect(f.url, f.localAddress);
    if (!f.running) {
      c.sock?.close();
      return null;
    }
    if (c.error) {
      inc(f.c.connectErrors, `${role}: ${c.error}`);
      await sleep(f.connectRetryMs);
      continue;
    }
    const sock = c.sock;
    f.sockets.add(sock);
    const closed = new Promise((r) =>
      sock.once('disconnect', (reason) => {
        f.sockets.delete(sock);
        r(reason);
      }),
    );
    sock.on('disconnectReason', (e) => inc(f.c.disconnectReasons, (e && e.code) || '?'));
    const room = f.room;
    const res = await ackOf(f.p.join(sock, room, role));
    if (res.ok) return { sock, peerId: res.peerId, room, closed };
    const code = codeOf(res);
    inc(f.c.joinErrors, `${role}: ${code}`);
    sock.close();
    if (code === 'ROOM_FULL' && room === f.room) rotateRoom(f);
    await sleep(code === 'RATE_LIMITED' ? Math.min(1000, res.error.retryAfterMs || 100) : f.connectRetryMs);
  }
  return null;
}

async function receiverLoop(f) {
  while (f.running) {
    const r = await connectAndJoin(f, 'receiver');
    if (!r) return;
    if (r.room !== f.room) {
      r.sock.close();
      continue;
    }
    f.c.receiverConnects++;
    f.recv = r;
    schedule(f);
    const reason = await r.closed;
    f.recv = null;
    // 'io client disconnect' is our own doing (a room swap or the stop).
    if (f.running && reason !== 'io client disconnect') inc(f.c.receiverDisconnects, reason);
  }
}

async function flooderLoop(f) {
  while (f.running) {
    // Join where the receiver is.
    while (f.running && !(f.recv && f.recv.room === f.room)) await sleep(2);
    const r = await connectAndJoin(f, 'flooder');
    if (!r) return;
    f.c.connects++;
    f.fl = { ...r, inflight: 0 };
    schedule(f);
    const reason = await r.closed;
    f.fl = null;
    if (f.running && reason !== 'io client disconnect') inc(f.c.disconnects, reason);
  }
}

function schedule(f) {
  if (f.scheduled || !f.running) return;
  f.scheduled = true;
  setImmediate(() => pump(f));
}

/** Sends until `window` signals are unanswered (or 512 this turn); acks and the next turn resume it. */
function pump(f) {
  f.scheduled = false;
  const fl = f.fl;
  const rv = f.recv;
  if (!f.running || !fl || !rv || !fl.sock.connected || rv.room !== fl.room) return;
  let n = 0;
  while (fl.inflight < f.window && n < 512) {
    const k = ++f.k;
    fl.inflight++;
    f.c.sent++;
    n++;
    f.p.send(
      fl.sock,
      'iceCandidate',
      { roomId: fl.room, to: rv.peerId, candidate: makeCandidate(k), messageId: `f${WORKER}.${k}` },
      (res) => {
        fl.inflight--;
        if (res && res.ok === true) f.c.acked++;
        else inc(f.c.refused, codeOf(res));
        if (f.fl === fl) schedule(f);
      },
    );
  }
  if (fl.inflight < f.window) schedule(f);
}

async function floodStop() {
  if (!F) return floodSnapshot();
  const f = F;
  f.running = false;
  const snap = floodSnapshot();
  for (const s of f.sockets) s.close();
  f.sockets.clear();
  await Promise.race([Promise.all(f.loops), sleep(3000)]);
  F = null;
  return snap;
}

export const fairnessHandlers = {
  fairSetup,
  fairMeasure,
  fairClose: () => honestClose().then(() => ({ closed: true })),
  floodStart,
  floodSnapshot: () => floodSnapshot(),
  floodStop: () => floodStop(),
};

/** Closes everything of this scenario (the worker's `close` command). */
export async function closeFairness() {
  await floodStop();
  await honestClose();
}
