/**
 * Call-setup throughput (issue 13, item 1c), run inside a load worker over its joined pairs.
 *
 * Every pair is a caller that sets up calls back to back: `a` sends an offer and its candidates;
 * `b`, when the offer arrives, sends an answer and its candidates. A call is complete when each
 * side has received everything the other sent and every one of its own signals has been
 * acknowledged (as our SDK waits for acks); the pair starts its next call at once. `candidates`
 * per side, plus an end-of-candidates (`null`).
 *
 * How the candidates travel is the point of the comparison: ours sends them as our SDK coalesces
 * a gathering phase's candidates (`candidateBatchWindowMs`), in `iceCandidates` batches (`batches` per side: a gathering phase's host candidates, then its
 * server-reflexive ones with the end of candidates), the baseline one message per candidate (it
 * has no batch), as the bare relay's users would. So ours needs 2 + 2 × batches messages a call,
 * the baseline 2 + 2 × (candidates + 1).
 *
 * Signals of a call that timed out are recognised by the call number in their `messageId` and
 * ignored; the pair goes on with a new call.
 */
import { performance } from 'node:perf_hooks';
import { SDP, makeCandidate } from './payloads.mjs';

/**
 * @param {object} io  the worker's pieces: `pairs()`, `send(dir, kind, payload, onAcked)`,
 *                     `batching` (the target takes `iceCandidates`), `nextCandidate()`
 */
export function createCallFlood(io) {
  let run = null;

  /** The messages one side sends after its SDP: arrays of candidates (null = end of candidates). */
  function candidateMessages(candidates, batches) {
    const list = [];
    for (let i = 0; i < candidates; i++) list.push(makeCandidate(io.nextCandidate()));
    list.push(null);
    if (!io.batching()) return list.map((c) => [c]);
    const n = Math.max(1, Math.min(batches, list.length));
    const size = Math.ceil(list.length / n);
    const out = [];
    for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
    return out;
  }

  function sendSide(r, pair, d, sdpKind, callNo, state) {
    const msgs = candidateMessages(r.candidates, r.batches);
    const id = () => `${d.tag}c${callNo}.${++d.n}.${Math.round(performance.now() * 1000)}`;
    const acked = (res) => {
      if (pair.cf !== state) return;
      if (!res || res.ok !== true) state.failed = true;
      state.acksLeft--;
      check(r, pair, state);
    };
    state.acksLeft += 1 + msgs.length;
    r.perSide = 1 + msgs.length;
    io.send(
      d,
      sdpKind,
      { roomId: pair.roomId, to: d.to.peerId, sdp: SDP, sequence: ++d.seq, messageId: id() },
      acked,
    );
    for (const batch of msgs) {
      if (io.batching()) {
        io.send(
          d,
          'iceCandidates',
          { roomId: pair.roomId, to: d.to.peerId, candidates: batch, messageId: id() },
          acked,
        );
      } else {
        io.send(
          d,
          'iceCandidate',
          { roomId: pair.roomId, to: d.to.peerId, candidate: batch[0], messageId: id() },
          acked,
        );
      }
    }
    return 1 + msgs.length;
  }

  function startCall(r, pair) {
    if (!r.running) return;
    const callNo = ++pair.cfNo;
    const state = {
      callNo,
      t0: performance.now(),
      needA: 0,
      needB: 0,
      acksLeft: 0,
      failed: false,
      timer: null,
    };
    pair.cf = state;
    state.timer = setTimeout(() => {
      if (pair.cf !== state) return;
      r.failures++;
      pair.cf = null;
      startCall(r, pair);
    }, r.timeoutMs);
    const sent = sendSide(r, pair, pair.dirs[0], 'offer', callNo, state);
    state.needB = sent;
    // a expects b's answer and candidate messages, as many as a sent (same count on both sides).
    state.needA = sent;
  }

  function check(r, pair, state) {
    if (state.needA > 0 || state.needB > 0 || state.acksLeft > 0) return;
    clearTimeout(state.timer);
    pair.cf = null;
    if (state.failed) r.failures++;
    else {
      r.completed++;
      if (r.times.length < 200000) r.times.push(performance.now() - state.t0);
    }
    startCall(r, pair);
  }

  /** A signal arrived at `peer` (kind as the server or baseline named it). */
  function receive(peer, kind, msg) {
    const r = run;
    const pair = peer.pair;
    const state = pair.cf;
    if (!r || !state) return;
    const id = msg && typeof msg.messageId === 'string' ? msg.messageId : '';
    const m = /c(\d+)\./.exec(id);
    if (!m || Number(m[1]) !== state.callNo) return;
    if (peer === pair.b) {
      state.needB--;
      if (kind === 'offer') sendSide(r, pair, pair.dirs[1], 'answer', state.callNo, state);
    } else {
      state.needA--;
    }
    check(r, pair, state);
  }

  /** Runs calls on `pairCount` pairs for `durationMs`, then waits for the calls in progress. */
  async function flood({ durationMs, candidates = 10, batches = 2, timeoutMs = 10000, pairCount }) {
    const use = io.pairs().slice(0, pairCount || undefined);
    const r = {
      running: true,
      candidates,
      batches,
      timeoutMs,
      completed: 0,
      failures: 0,
      perSide: 0,
      times: [],
    };
    run = r;
    for (const pair of use) pair.cfNo = pair.cfNo || 0;
    const t0 = performance.now();
    for (const pair of use) startCall(r, pair);
    await new Promise((res) => setTimeout(res, durationMs));
    r.running = false;
    const elapsedMs = performance.now() - t0;
    const completedInWindow = r.completed;
    const failuresInWindow = r.failures;
    // Calls still in progress finish (or time out) before the next phase; they are not counted.
    const end = performance.now() + timeoutMs;
    while (use.some((p) => p.cf) && performance.now() < end) await new Promise((res) => setTimeout(res, 20));
    for (const p of use) {
      if (p.cf) clearTimeout(p.cf.timer);
      p.cf = null;
    }
    run = null;
    return {
      pairs: use.length,
      elapsedMs,
      completed: completedInWindow,
      failures: failuresInWindow,
      messagesPerCall: 2 * r.perSide,
      times: r.times,
    };
  }

  return { flood, receive, active: () => run !== null };
}
