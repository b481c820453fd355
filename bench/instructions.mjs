#!/usr/bin/env node
/**
 * Instructions per relayed signal, counted by valgrind's callgrind: ours against the bare relay,
 * one signal per read (each sender waits for its ack before the next), as in the sparse regime.
 *
 *   npm run build && node bench/instructions.mjs                    # both servers, candidates and offers
 *   node bench/instructions.mjs --targets=ours --kinds=offer --top=30   # and the 30 costliest functions
 *
 * Kinds: `iceCandidate` and `offer` (one signal at a time per pair, each acked before the next), and
 * `call`: whole call setups as the bench's callrate scenario runs them (bench/lib/call-flood.mjs: an
 * offer, an answer and 10 candidates plus the end of candidates each way, ours in two
 * `iceCandidates` batches a side, the bare relay one message per candidate), `--call-pairs`
 * callers back to back for `--call-secs`; reported per completed call.
 *
 * Targets: `ours` and `baseline` (the bare relay), one process each, and `cluster`: two instances of
 * ours on Redis (`--redis=URL`, else BENCH_REDIS_URL, REDIS_URL, redis://127.0.0.1:6379; a fresh key
 * prefix) with every pair split, `a` on A and `b` on B, so each signal is decided and published by A
 * and delivered by B. Both instances are counted, reported apart and summed; Redis's own CPU per
 * signal (from /proc, not counted) is shown beside. The cluster's idle work (presence beats every
 * second) is counted for `--idle-secs` (default 10) with no signal and taken out pro rata.
 *
 * Options: --targets=ours,baseline,cluster  --kinds=iceCandidate,offer,call  --signals=N (measured)
 *          --warmup=N (sent before counting; default as many as measured)  --pairs=N (default 20)
 *          --call-pairs=N (default 4)  --call-secs=N (default 20)  --top=N (print the N functions
 *          with the most instructions of their own, JavaScript named through V8's perf map)
 *          --ours-main=PATH (another build of ours)  --keep (keep the dumps and perf maps)
 *
 * Why: this VM's speed drifts by 2-3× within minutes, so CPU time per signal cannot tell a 10 %
 * change from noise without many runs (docs/performance.md). Callgrind counts the instructions the
 * server executes, whatever else the machine does: the main thread's count per signal repeated to
 * within 0.3 % between runs. The server runs 50-100× slower under it, so this is for comparing
 * builds and finding where instructions go, not for latency. Only the main thread is reported as
 * the cost: the other threads are V8's concurrent compilers and GC helpers, which are still
 * optimising code this early and vary by tens of percent from run to run (shown, not compared).
 * System calls are not counted (the kernel's side of `writev` is the same for both servers).
 * Ours runs with CALL_SETUP_FIRST=false: under valgrind every event loop turn is long, so its
 * scheduler would think the server overloaded and take the deferring path; not overloaded it runs
 * every event at once, which is the path measured here.
 *
 * Needs valgrind (Debian's `valgrind`, with `callgrind_control`); never run by `npm test`.
 */
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { protocolOf } from './lib/protocol-adapter.mjs';
import { SDP, makeCandidate } from './lib/payloads.mjs';
import { createCallFlood } from './lib/call-flood.mjs';
import {
  ROOT,
  OURS_MAIN,
  BASELINE_MAIN,
  SERVER_ENV,
  LIMITS_UNREACHED,
  cpuMicros,
} from './lib/server-proc.mjs';
import { freshPrefix, openRedis, deletePrefix } from './lib/redis-stats.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
};
const TARGETS = opt('targets', 'ours,baseline').split(',');
const REDIS_URL = opt(
  'redis',
  process.env.BENCH_REDIS_URL || process.env.REDIS_URL || 'redis://127.0.0.1:6379',
);
const KINDS = opt('kinds', 'iceCandidate,offer,call').split(',');
const CALL_PAIRS = Number(opt('call-pairs', 4));
const CALL_SECS = Number(opt('call-secs', 20));
const N = Number(opt('signals', 2000));
const PAIRS = Number(opt('pairs', 20));
const TOP = Number(opt('top', 0));
const WARMUP = Number(opt('warmup', 0)); // signals sent before counting; default as many as counted
// Default 10 s for the cluster (its presence beats run every second), none for one instance.
const idleSecs = (target) => Number(opt('idle-secs', target === 'cluster' ? 10 : 0));
const OURS = path.resolve(opt('ours-main', OURS_MAIN));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-callgrind-'));

// The same environment for the server and for callgrind_control: valgrind names its control pipe
// after HOST and USER, so both sides must see the same values.
const ENV = {
  ...process.env,
  ...SERVER_ENV,
  ...LIMITS_UNREACHED,
  CALL_SETUP_FIRST: 'false',
};

const NO_VALGRIND = argv.includes('--no-valgrind');
// Keep the callgrind dumps and the perf maps (for callgrind_annotate or a look at inclusive costs).
const KEEP = argv.includes('--keep');

function control(pid, ...args) {
  if (NO_VALGRIND) return;
  execFileSync('callgrind_control', [...args, String(pid)], { env: ENV, stdio: 'ignore' });
}

async function startUnderCallgrind(target, out, env = ENV) {
  const main = target === 'baseline' ? BASELINE_MAIN : OURS;
  const args = [
    '--tool=callgrind',
    '--instr-atstart=no',
    // V8 writes the code it runs: without this valgrind could run stale translations of it.
    '--smc-check=all-non-file',
    '--separate-threads=yes',
    `--callgrind-out-file=${out}`,
    'node',
    // Names for the JIT's code (/tmp/perf-<pid>.map), to attribute instructions to JavaScript.
    ...(TOP > 0 ? ['--perf-basic-prof'] : []),
    main,
  ];
  // --no-valgrind: the same run without callgrind (to check the load itself quickly).
  const child = NO_VALGRIND
    ? spawn('node', args.slice(args.indexOf('node') + 1), {
        env,
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn('valgrind', args, { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      text += d;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(text);
      if (m) resolve(m[1]);
    });
    child.stderr.on('data', (d) => (text += d));
    child.on('exit', (code) => reject(new Error(`${target} exited (${code}) before listening:\n${text}`)));
  });
  return { child, url };
}

/** Joins `count` pairs, `a` through `url` and `b` through `urlB`; returns their sockets and peer ids. */
async function joinPairs(target, url, count, urlB = url) {
  const P = protocolOf(target);
  const pairs = [];
  for (let i = 0; i < count; i++) {
    const connect = (at = url) =>
      new Promise((resolve, reject) => {
        const s = io(`${at}/webrtc`, { transports: ['websocket'], reconnection: false });
        s.once('connect', () => resolve(s));
        s.once('connect_error', reject);
      });
    const a = await connect();
    const b = await connect(urlB);
    const roomId = `room-${i}`;
    const ja = await P.join(a, roomId, 'a');
    const jb = await P.join(b, roomId, 'b');
    if (!ja?.ok || !jb?.ok) throw new Error(`join failed: ${JSON.stringify(ja)} ${JSON.stringify(jb)}`);
    pairs.push({ a, b, roomId, from: ja.peerId, to: jb.peerId, seq: 0, received: 0 });
  }
  return pairs;
}

let counter = 0;
/** Every pair sends `n / PAIRS` signals a→b, one at a time; resolves when all are acked and received. */
async function sendAll(target, pairs, kind, n) {
  const P = protocolOf(target);
  for (const p of pairs) {
    if (!p.listening) P.listen(p.b, () => p.received++);
    p.listening = true;
  }
  const per = Math.ceil(n / pairs.length);
  const expected = pairs.map((p) => p.received + per);
  await Promise.all(
    pairs.map(
      (p) =>
        new Promise((resolve, reject) => {
          let k = 0;
          const next = () => {
            if (k++ === per) return resolve();
            const id = `m${++counter}`;
            const payload =
              kind === 'offer'
                ? { roomId: p.roomId, to: p.to, sdp: SDP, sequence: ++p.seq, messageId: id }
                : { roomId: p.roomId, to: p.to, candidate: makeCandidate(counter), messageId: id };
            P.send(p.a, kind, payload, (res) => (res?.ok ? next() : reject(new Error(JSON.stringify(res)))));
          };
          next();
        }),
    ),
  );
  while (pairs.some((p, i) => p.received < expected[i])) await new Promise((r) => setTimeout(r, 20));
  return per * pairs.length;
}

/**
 * Runs the bench's call flood over `pairs` for `secs`; returns the calls completed (those still in
 * progress at the end finish before it returns, so their instructions are counted too: the figure
 * per call errs high by at most `pairs` calls' worth).
 */
async function callFlood(target, pairs, secs) {
  // Made once per server: a second flood must go on numbering calls (the call number is in every
  // message id, and the server answers a repeated id as a duplicate without delivering it).
  if (!pairs.flood) {
    const P = protocolOf(target);
    const shaped = pairs.map((p) => {
      const pair = { roomId: p.roomId, cfNo: 0, cf: null };
      pair.a = { sock: p.a, peerId: p.from, pair };
      pair.b = { sock: p.b, peerId: p.to, pair };
      const dir = (tag, from, to) => ({ tag, n: 0, seq: 0, from, to });
      pair.dirs = [dir('ab', pair.a, pair.b), dir('ba', pair.b, pair.a)];
      return pair;
    });
    pairs.flood = createCallFlood({
      pairs: () => shaped,
      send: (d, kind, payload, onAcked) => P.send(d.from.sock, kind, payload, onAcked),
      batching: () => target === 'ours',
      nextCandidate: () => ++counter,
    });
    for (const pair of shaped) {
      P.listen(pair.a.sock, (kind, msg) => pairs.flood.receive(pair.a, kind, msg));
      P.listen(pair.b.sock, (kind, msg) => pairs.flood.receive(pair.b, kind, msg));
    }
  }
  const flood = pairs.flood;
  const r = await flood.flood({ durationMs: secs * 1000, candidates: 10, batches: 2, timeoutMs: 60000 });
  if (r.failures > 0) throw new Error(`${r.failures} calls failed`);
  return r.completed;
}

/** Self cost per function in one callgrind output file; names resolved through the perf map. */
function selfCosts(file, perfMap) {
  const ranges = [];
  if (perfMap && fs.existsSync(perfMap)) {
    for (const line of fs.readFileSync(perfMap, 'utf8').split('\n')) {
      const [a, s, ...rest] = line.split(' ');
      if (rest.length) ranges.push([parseInt(a, 16), parseInt(a, 16) + parseInt(s, 16), rest.join(' ')]);
    }
    ranges.sort((x, y) => x[0] - y[0]);
  }
  const resolve = (name) => {
    const m = /^0x([0-9a-f]+)/.exec(name);
    if (!m || ranges.length === 0) return name;
    const addr = parseInt(m[1], 16);
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ranges[mid][0] <= addr) lo = mid;
      else hi = mid - 1;
    }
    const r = ranges[lo];
    return r[0] <= addr && addr < r[1] ? r[2] : name;
  };
  const names = new Map();
  const cost = new Map();
  let total = 0;
  let fn;
  let skipNext = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const def = /^(c?fn)=\((\d+)\)(?: (.*))?$/.exec(line);
    if (def) {
      if (def[3] !== undefined) names.set(def[2], def[3]);
      if (def[1] === 'fn') fn = names.get(def[2]);
      continue;
    }
    if (line.startsWith('calls=')) {
      skipNext = true; // the next cost line is the call's inclusive cost, not this function's own
      continue;
    }
    if (/^[0-9+*-]/.test(line)) {
      if (skipNext) {
        skipNext = false;
        continue;
      }
      const c = Number(line.split(' ')[1]);
      if (fn !== undefined && Number.isFinite(c)) {
        const name = resolve(fn).replace(/^JS:[*^~+-]?/, 'JS:');
        cost.set(name, (cost.get(name) ?? 0) + c);
        total += c;
      }
      continue;
    }
    skipNext = false;
  }
  return { total, cost };
}

/** The instructions of the `part`-th `--dump` of one server: main thread, other threads, the main thread's top functions. */
function readDump(out, perfMap, part = 1) {
  // Dumps are named <out>.<n>-<thread>; the n-th --dump makes part n.
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(`${path.basename(out)}.${part}-`));
  const thread = (f) => Number(f.slice(f.lastIndexOf('-') + 1));
  let main = 0;
  let others = 0;
  let top = [];
  for (const f of files) {
    const { total, cost } = selfCosts(path.join(dir, f), thread(f) === 1 ? perfMap : undefined);
    if (thread(f) === 1) {
      main = total;
      top = [...cost.entries()].sort((x, y) => y[1] - x[1]).slice(0, TOP);
    } else others += total;
  }
  return { main, others, top };
}

/** The idle servers' share of a count whose net (idle removed) is `dumps`' main thread. */
function share(idle, dumps, secs) {
  const idleSum = idle.reduce((a, b) => a + b, 0) * secs;
  return Number((idleSum / (idleSum + dumps.reduce((n, d) => n + d.main, 0))).toFixed(3));
}

/**
 * `cluster`: two instances of ours on Redis (a fresh key prefix), every pair split — `a` on A, `b`
 * on B — so each signal is decided and published by A and delivered by B; both are counted, and
 * reported apart and summed. Redis's own CPU (from /proc, not counted by callgrind) is shown beside.
 */
async function measure(target, kind) {
  const cluster = target === 'cluster';
  const protocol = cluster ? 'ours' : target;
  const prefix = cluster ? freshPrefix() : undefined;
  const redis = cluster ? await openRedis(REDIS_URL) : undefined;
  const names = cluster ? ['A', 'B'] : [''];
  const servers = [];
  try {
    for (const name of names) {
      const out = path.join(dir, `${target}${name}-${kind}.out`);
      const env = cluster ? { ...ENV, REDIS_URL, REDIS_KEY_PREFIX: prefix } : ENV;
      servers.push({ name, out, ...(await startUnderCallgrind(target, out, env)) });
    }
    const [first, second = first] = servers;
    const pairs = await joinPairs(protocol, first.url, kind === 'call' ? CALL_PAIRS : PAIRS, second.url);
    const all = (...args) => servers.forEach((x) => control(x.child.pid, ...args));
    const redisCpu = () => (redis?.local ? cpuMicros(redis.pid) : NaN);
    const IDLE_SECS = idleSecs(target);
    // A warm-up first (the JIT optimises the hot path), not counted.
    if (kind === 'call') await callFlood(protocol, pairs, CALL_SECS / 2);
    else await sendAll(protocol, pairs, kind, WARMUP || N);
    // What the servers do with no signal at all (timers: presence beats, pings, sweeps) for
    // IDLE_SECS, subtracted pro rata from the count: under valgrind a signal takes milliseconds, so
    // the timers of an idle second would otherwise be charged to a few dozen signals.
    let idle = null;
    if (IDLE_SECS > 0) {
      all('--instr=on');
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, IDLE_SECS * 1000));
      all('--dump');
      const secs = (performance.now() - t0) / 1000;
      idle = servers.map((x) => readDump(x.out, undefined, 1).main / secs);
    } else all('--instr=on');
    const redis0 = redisCpu();
    const t1 = performance.now();
    const sent =
      kind === 'call' ? await callFlood(protocol, pairs, CALL_SECS) : await sendAll(protocol, pairs, kind, N);
    const elapsed = (performance.now() - t1) / 1000;
    const redisUs = redisCpu() - redis0;
    all('--dump');
    all('--instr=off');
    for (const p of pairs) {
      p.a.close();
      p.b.close();
    }
    const part = IDLE_SECS > 0 ? 2 : 1;
    const dumps = servers.map((x, i) => {
      const perfMap = TOP > 0 ? `/tmp/perf-${x.child.pid}.map` : undefined;
      const d = readDump(x.out, perfMap, part);
      if (perfMap && KEEP) fs.copyFileSync(perfMap, `${x.out}.perf.map`);
      if (perfMap) fs.rmSync(perfMap, { force: true });
      return idle ? { ...d, main: d.main - idle[i] * elapsed } : d;
    });
    const per = (n) => Math.round(n / sent);
    return {
      target,
      kind,
      signals: sent,
      mainPerSignal: per(dumps.reduce((n, d) => n + d.main, 0)),
      otherThreadsPerSignal: per(dumps.reduce((n, d) => n + d.others, 0)),
      ...(cluster
        ? {
            instances: dumps.map((d, i) => ({ name: names[i], mainPerSignal: per(d.main) })),
            redisCpuUsPerSignal: Number((redisUs / sent).toFixed(1)),
          }
        : {}),
      // Instructions per second of each server with no signal, and the share of the raw count they made.
      ...(idle ? { idlePerSecond: idle.map(Math.round), idleShare: share(idle, dumps, elapsed) } : {}),
      top: dumps.flatMap((d, i) =>
        d.top.map(([name, c]) => ({ instance: names[i], name, perSignal: per(c) })),
      ),
    };
  } finally {
    for (const x of servers) x.child.kill('SIGKILL');
    if (redis) {
      await deletePrefix(redis.redis, prefix).catch(() => undefined);
      redis.redis.disconnect();
    }
  }
}

const unit = (kind) => (kind === 'call' ? 'call' : 'signal');
const results = [];
for (const kind of KINDS) {
  for (const target of TARGETS) {
    const t0 = Date.now();
    const r = await measure(target, kind);
    results.push(r);
    console.log(
      `${target} ${kind}: ${r.mainPerSignal.toLocaleString('en-US')} instructions per ${unit(kind)} on the main thread ` +
        (r.instances
          ? `(${r.instances.map((x) => `${x.name} ${x.mainPerSignal.toLocaleString('en-US')}`).join(', ')}; Redis ${r.redisCpuUsPerSignal} µs CPU) `
          : '') +
        (r.idleShare === undefined ? '' : `(idle timers' ${(r.idleShare * 100).toFixed(1)} % taken out) `) +
        `(other threads ${r.otherThreadsPerSignal.toLocaleString('en-US')}), ${r.signals} ${unit(kind)}s, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    for (const t of r.top)
      console.log(
        `  ${t.instance ? `${t.instance} ` : ''}${String(t.perSignal).padStart(8)}  ${t.name.slice(0, 120)}`,
      );
  }
}
console.log('\ninstructions per signal (per call for `call`), main thread');
console.log('kind                        ours   bare relay   ours/bare');
for (const kind of KINDS) {
  const o = results.find((r) => r.kind === kind && r.target === 'ours');
  const b = results.find((r) => r.kind === kind && r.target === 'baseline');
  const f = (r) => (r ? r.mainPerSignal.toLocaleString('en-US') : '—');
  const ratio = o && b ? `${(o.mainPerSignal / b.mainPerSignal).toFixed(2)}×` : '—';
  console.log(`${kind.padEnd(14)}${f(o).padStart(14)}${f(b).padStart(13)}${ratio.padStart(12)}`);
}
const file = path.join(
  ROOT,
  'bench',
  'results',
  `instructions-${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
);
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, JSON.stringify({ signals: N, pairs: PAIRS, ours: OURS, results }, null, 2));
console.log(`\nResults: ${path.relative(ROOT, file)}`);
if (KEEP) console.log(`Callgrind dumps and perf maps kept in ${dir}`);
else fs.rmSync(dir, { recursive: true, force: true });
process.exit(0);
