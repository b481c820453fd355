#!/usr/bin/env node
/**
 * Switchboard load benchmark (issue 4). Not a test: never run it from CI.
 *
 *   npm run bench                 full run (~20 min; ~10 without the cluster scenario)
 *   npm run bench -- --quick      quick run (~4 min; also BENCH_QUICK=1)
 *
 * Options: --only=capacity,relay,latency,callsetup,fairness,cluster  --targets=ours,baseline
 *          --profile[=DIR]  run the servers with --cpu-prof during the relay and latency scenarios and summarise the profiles
 *          --heap-snapshot[=DIR]  write heap snapshots in the capacity scenario and print growth per peer
 *          --peers=N --workers=N --window=N --pairs=A,B --sizes=candidate,sdp --rates=R1,R2 (overrides)
 *          --fair-secs=N (each fairness phase)  --flood-window=N (flooder's unanswered signals)
 *          --limits=defaults  run ours with its default rate and per-IP limits in capacity, relay, latency and
 *                             call setup too (by default they are off there: all load comes from one IP)
 *          --ours-main=PATH   run this entry point as ours (e.g. a build of another commit; also BENCH_OURS_MAIN)
 *          --baseline-main=PATH  run this build of ours in the baseline's place, loaded as ours (two commits
 *                             side by side, phase by phase; also BENCH_BASELINE_MAIN)
 *          --pin=false        in the sparse and callrate scenarios, do not pin each server to core 0 and the
 *                             bench and its workers to the other cores (pinned by default, as issue 13's harness)
 *          --sparse-rates=R1,R2 --sparse-saturation=false (the sparse scenario's steps; e.g. to profile one)
 *          --redis=URL        the Redis of the cluster scenario (else BENCH_REDIS_URL, REDIS_URL, redis://127.0.0.1:6379)
 *          --cluster-parts=relay,memory,locality  --cluster-rates=R1,R2 (5000 always)  --cluster-pairs=N (saturation)
 *                             --mesh-peers=N (Redis memory)
 *
 * The server under test runs in its own process; load comes from forked worker processes
 * (bench/lib/worker.mjs) over WebSocket on 127.0.0.1. Ours and the baseline (bench/baseline-server.mjs)
 * run the same scenarios, interleaved, in the same run. Results: one table on stdout and the same
 * figures as JSON in bench/results/<timestamp>.json and bench/results/latest.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import {
  startServer,
  children,
  ROOT,
  OURS_MAIN,
  cpuWindow,
  cpuMicros,
  scrapeMetrics,
  LIMITS_UNREACHED,
} from './lib/server-proc.mjs';
import { WorkerPool } from './lib/pool.mjs';
import { summarize, addCounts, sumCounts } from './lib/stats.mjs';
import { summarizeProfile, formatProfile } from './lib/cpuprofile-summary.mjs';
import { summarizeHeap, diffHeaps } from './lib/heap-summary.mjs';
import {
  freshPrefix,
  openRedis,
  redisMemory,
  prefixMemory,
  deletePrefix,
  redisCpuMicros,
} from './lib/redis-stats.mjs';

// ------------------------------------------------------------------ options

const argv = process.argv.slice(2);
const flag = (name) => argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
const opt = (name, dflt) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
};
if (flag('help')) {
  console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}
const QUICK = flag('quick') || process.env.BENCH_QUICK === '1';
const ALL_SCENARIOS = [
  'capacity',
  'relay',
  'latency',
  'callsetup',
  'sparse',
  'callrate',
  'fairness',
  'cluster',
];
const ONLY = new Set(opt('only', ALL_SCENARIOS.join(',')).split(','));
for (const s of ONLY) {
  if (!ALL_SCENARIOS.includes(s)) {
    console.error(`unknown scenario ${s} in --only (known: ${ALL_SCENARIOS.join(', ')})`);
    process.exit(2);
  }
}
const TARGETS = opt('targets', 'ours,baseline').split(',');
const PROFILE_DIR = flag('profile') ? opt('profile', '') || '/tmp/prof' : null;
const HEAP_DIR = flag('heap-snapshot') ? opt('heap-snapshot', '') || '/tmp/heap' : null;
const OURS_ENTRY = path.resolve(opt('ours-main', process.env.BENCH_OURS_MAIN || OURS_MAIN));
// A build of ours in the baseline's place (its protocol and env): two commits side by side.
const BASELINE_ENTRY = opt('baseline-main', process.env.BENCH_BASELINE_MAIN)
  ? path.resolve(opt('baseline-main', process.env.BENCH_BASELINE_MAIN))
  : undefined;
const REDIS_URL = opt(
  'redis',
  process.env.BENCH_REDIS_URL || process.env.REDIS_URL || 'redis://127.0.0.1:6379',
);
const CLUSTER_PARTS = new Set(opt('cluster-parts', 'relay,memory,locality').split(','));
const LIMITS = opt('limits', 'off');
if (!['off', 'defaults'].includes(LIMITS)) {
  console.error(`--limits must be off or defaults`);
  process.exit(2);
}

const CFG = QUICK
  ? {
      capacityPeers: 2000,
      capacityWorkers: 4,
      capacityHoldMs: 1000,
      relayPairs: [100, 500],
      relaySizes: ['candidate', 'sdp'],
      relayWarmupMs: 500,
      relayMeasureMs: 1500,
      relayReps: 1,
      latencyPairs: 100,
      latencyRates: [5000, 10000, 25000],
      latency5kRuns: 1,
      latencyWarmupMs: 500,
      latencyMeasureMs: 1500,
      callSetupReps: 50,
      fairPhaseMs: 4000,
      fairFloodWarmupMs: 300,
      clusterRuns: 1,
      clusterRelayReps: 1,
      localityMs: 2000,
      quietWaitMs: 0,
      attempts: 1,
      deadlineMs: 150000,
    }
  : {
      capacityPeers: 10000,
      capacityWorkers: 4,
      capacityHoldMs: 30000,
      relayPairs: [100, 1000],
      relaySizes: ['candidate', 'sdp'],
      relayWarmupMs: 1000,
      relayMeasureMs: 5000,
      relayReps: 2,
      latencyPairs: 100,
      latencyRates: [5000, 10000, 15000, 20000, 25000, 30000, 40000, 50000],
      // The 5k/s step is the target's; one 4 s window's p99 moves by 2× between runs on this VM.
      latency5kRuns: 3,
      latencyWarmupMs: 1000,
      latencyMeasureMs: 4000,
      callSetupReps: 200,
      fairPhaseMs: 10000,
      fairFloodWarmupMs: 1000,
      // As the latency scenario's 5k/s step: three runs per configuration, the median p99 reported.
      clusterRuns: 3,
      clusterRelayReps: 2,
      localityMs: 4000,
      quietWaitMs: 5000,
      attempts: 2,
      deadlineMs: 570000,
    };
// One worker per load scenario by default: with the server on one core, one client process on the
// other core saturates it best (more workers only add context switches on 2 cores).
CFG.relayWorkers = Number(opt('workers', process.env.BENCH_WORKERS || 1));
CFG.latencyWorkers = Number(opt('latency-workers', process.env.BENCH_LATENCY_WORKERS || 1));
CFG.relayWindow = Number(opt('window', process.env.BENCH_WINDOW || 16));
// A phase during which other processes used more CPU than this (% of one core) is run again (full
// mode); before each phase the bench waits up to quietWaitMs for such load to pass.
CFG.foreignRetryPct = 15;
if (opt('peers')) CFG.capacityPeers = Number(opt('peers'));
if (opt('pairs')) CFG.relayPairs = opt('pairs').split(',').map(Number);
if (opt('sizes')) CFG.relaySizes = opt('sizes').split(',');
if (opt('rates')) CFG.latencyRates = opt('rates').split(',').map(Number);
if (opt('fair-secs')) CFG.fairPhaseMs = 1000 * Number(opt('fair-secs'));
// Fairness: 12 call-setup pairs + 1 ping pair from HONEST_IP; a call-setup round starts every
// 1500/12 = 125 ms, each pair every 1.5 s (2 joins+leaves per connection per round: 1.3/s, under
// the default JOIN_RATE_PER_SEC of 2); pings at most every 10 ms (≤ 100 signals/s per connection).
CFG.fairCallPairs = 12;
CFG.fairRoundPeriodMs = 1500;
CFG.fairRoundTimeoutMs = 5000;
CFG.fairPingGapMs = 10;
CFG.fairFloodWindow = Number(opt('flood-window', 65536));
CFG.fairHonestIp = '127.0.0.2';
CFG.fairFlooderIp = '127.0.0.3';
CFG.callSetupCandidates = 10;
// The fairness scenario's time (three servers, two phases each) comes on top of the others'.
if (ONLY.has('fairness')) CFG.deadlineMs += 3 * (2 * CFG.fairPhaseMs + CFG.fairFloodWarmupMs + 8000);
// Cluster scenario: pairs per configuration at 5k/s (as the latency scenario), pairs of the
// cross-instance saturation run, peers of the Redis memory measurement (rooms of 4, full mesh).
CFG.clusterPairs = CFG.latencyPairs;
CFG.clusterRelayPairs = Number(opt('cluster-pairs', 20));
// Closed-loop warm-up of every fresh cluster group before it is measured (JIT, connections).
CFG.clusterWarmupMs = QUICK ? 1000 : 1500;
CFG.clusterRate = 5000;
// Lower steps show what the configurations on Redis sustain when 5k/s is too much.
CFG.clusterRates = opt('cluster-rates', QUICK ? '5000' : '1000,2500,5000')
  .split(',')
  .map(Number);
if (!CFG.clusterRates.includes(CFG.clusterRate)) CFG.clusterRates.push(CFG.clusterRate);
CFG.clusterP99TargetMs = 10;
CFG.meshPeers = Number(opt('mesh-peers', 1000));
CFG.meshRoomSize = 4;
CFG.localityPairs = 20;
if (ONLY.has('cluster')) CFG.deadlineMs += QUICK ? 150000 : 600000;
if (ONLY.has('sparse')) CFG.deadlineMs += QUICK ? 90000 : 300000;
if (ONLY.has('callrate')) CFG.deadlineMs += QUICK ? 45000 : 150000;
CFG.callSetupBackgroundRate = 5000;
// Sparse traffic and call-setup throughput (issue 13): 1,000 pairs at a few signals/s each.
CFG.sparsePairs = Number(opt('sparse-pairs', 1000));
CFG.sparseRates = opt('sparse-rates', QUICK ? '5000,25000' : '5000,15000,25000')
  .split(',')
  .map(Number);
CFG.sparseSaturationPairs = 100;
// --sparse-saturation=false leaves the saturation step out (e.g. to profile the open-loop steps alone).
CFG.sparseSaturation = opt('sparse-saturation', 'true') !== 'false';
CFG.sparseMeasureMs = QUICK ? 2000 : 5000;
CFG.callratePairs = Number(opt('callers', 100));
CFG.callrateBatches = Number(opt('batches', 2));
CFG.callrateMeasureMs = QUICK ? 3000 : 8000;
CFG.callrateReps = QUICK ? 1 : 2;
CFG.setupConcurrency = 50; // pairs being connected+joined at once, per worker
CFG.p99LimitMs = 50;

const CORES = os.cpus().length;
const started = performance.now();
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-'));

// ------------------------------------------------------------------ cleanup

function killChildren() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping servers and workers`);
    killChildren();
    // The cluster scenario's keys in Redis go too (they would expire, but only after a day).
    Promise.race([cleanupRedis(), sleep(3000)]).finally(() => process.exit(130));
  });
}

/** Key prefixes the cluster scenario used in Redis and has not deleted yet. */
const redisPrefixes = new Set();
let cleanupConn = null;
async function cleanupRedis() {
  if (!redisPrefixes.size) return;
  try {
    cleanupConn ??= await openRedis(REDIS_URL);
    for (const prefix of [...redisPrefixes]) {
      const n = await deletePrefix(cleanupConn.redis, prefix);
      redisPrefixes.delete(prefix);
      if (n) log(`redis: deleted ${n} keys under ${prefix}`);
    }
  } catch (err) {
    log(`redis: could not delete the keys under ${[...redisPrefixes].join(', ')}: ${err.message}`);
  }
}
const deadline = setTimeout(() => {
  console.error(`\nbench: overall deadline of ${CFG.deadlineMs / 1000}s reached; writing partial results`);
  finish(true).finally(() => process.exit(1));
}, CFG.deadlineMs);
deadline.unref();

// ------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) =>
  console.error(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s]`, ...a);
const diffCounts = (a, b) => {
  const out = {};
  for (const k of new Set([...Object.keys(a || {}), ...Object.keys(b || {})])) {
    const d = (b?.[k] || 0) - (a?.[k] || 0);
    if (d) out[k] = d;
  }
  return out;
};
const sumSnap = (snaps) => {
  const s = {
    sent: 0,
    acked: 0,
    delivered: 0,
    timeouts: 0,
    lateAcks: 0,
    duplicates: 0,
    queued: 0,
    skipped: 0,
    pending: 0,
  };
  const ackErrors = {};
  const disconnects = {};
  for (const x of snaps) {
    for (const k of Object.keys(s)) s[k] += x[k] || 0;
    addCounts(ackErrors, x.ackErrors);
    addCounts(disconnects, x.disconnects);
  }
  return { ...s, ackErrors, disconnects };
};
const snapDelta = (a, b) => {
  const out = {};
  for (const k of ['sent', 'acked', 'delivered', 'timeouts', 'lateAcks', 'duplicates', 'queued', 'skipped'])
    out[k] = b[k] - a[k];
  out.ackErrors = diffCounts(a.ackErrors, b.ackErrors);
  out.disconnects = diffCounts(a.disconnects, b.disconnects);
  return out;
};
/** Length of a measurement window in seconds, by the workers' own clocks (mean over workers). */
const workerSecs = (r0, r1, fallbackMs) => {
  const d = r0.map((x, i) => r1[i].t - x.t).filter((x) => x > 0);
  return (d.length ? d.reduce((a, b) => a + b, 0) / d.length : fallbackMs) / 1000;
};
const errorsOf = (d) => sumCounts(d.ackErrors) + (d.timeouts || 0) + sumCounts(d.disconnects);
const range = (n) => [...Array(n).keys()];
const split = (total, parts) =>
  range(parts).map((i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));

let pool = null;
/** Other processes whose CPU counts as the bench's own (the cluster scenario's Redis, when local). */
const extraPids = new Set();
/** Starts a machine CPU window over the bench's own processes; call the result to read it. */
const machineWindow = () =>
  cpuWindow(() => [
    process.pid,
    ...extraPids,
    ...[...liveServers].map((x) => x.pid),
    ...(pool ? pool.workers.filter((w) => !w.exited).map((w) => w.proc.pid) : []),
  ]);
const machineNote = (m) =>
  `foreign CPU ${m.foreignPct.toFixed(0)}%${m.stealPct >= 5 ? `, steal ${m.stealPct.toFixed(0)}%` : ''}`;
const foreignPhases = [];
/** Of several runs of a phase, the one during which other processes used the least CPU. */
function pickLeastDisturbed(tries) {
  const best = tries.reduce((a, b) => (b.machine.foreignPct < a.machine.foreignPct ? b : a));
  if (tries.length > 1) {
    best.otherAttempts = tries
      .filter((t) => t !== best)
      .map((t) => ({
        attempt: t.attempt,
        foreignPct: t.machine.foreignPct,
        deliveredPerSec: t.deliveredPerSec,
        p99: t.latencyMs?.p99,
      }));
  }
  return best;
}
/**
 * A fixed CPU-bound job (JSON encode/decode, like the relay's own work) timed in the driver while
 * nothing else of the bench runs. Its spread over a run shows how much the machine's speed itself
 * varied (e.g. a shared VM host), which no per-process counter reveals.
 */
const calibration = [];
function calibrate(label) {
  const obj = {
    roomId: 'room-1',
    to: 'peer-abcdef',
    candidate: { candidate: 'candidate:1 1 udp 1 1.2.3.4 5 typ host'.repeat(3) },
  };
  const t0 = performance.now();
  let n = 0;
  for (let i = 0; i < 20000; i++) n += JSON.parse(JSON.stringify(obj)).roomId.length;
  const ms = performance.now() - t0;
  calibration.push({ label, ms: +ms.toFixed(2), n });
}
/** Waits (bounded by CFG.quietWaitMs) until other processes stop using much CPU. */
async function waitQuiet() {
  const end = performance.now() + CFG.quietWaitMs;
  let waited = false;
  while (performance.now() < end) {
    const mw = machineWindow();
    await sleep(400);
    const m = mw();
    if (m.foreignPct <= CFG.foreignRetryPct) break;
    if (!waited)
      log(
        `waiting up to ${CFG.quietWaitMs / 1000}s for other processes' load to pass (${m.foreignPct.toFixed(0)}% CPU)`,
      );
    waited = true;
  }
}
const noteForeign = (what, m) => {
  if (m.foreignPct > 15 || m.stealPct > 15) foreignPhases.push(`${what}: ${machineNote(m)}`);
};
const results = {
  meta: {
    startedAt: new Date().toISOString(),
    quick: QUICK,
    node: process.version,
    cores: CORES,
    cpu: os.cpus()[0]?.model,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    gitCommit: gitCommit(),
    oursMain: path.relative(ROOT, OURS_ENTRY) || OURS_ENTRY,
    oursCommit: OURS_ENTRY === OURS_MAIN ? undefined : gitCommitOf(path.dirname(OURS_ENTRY)),
    baselineMain: BASELINE_ENTRY,
    baselineCommit: BASELINE_ENTRY ? gitCommitOf(path.dirname(BASELINE_ENTRY)) : undefined,
    config: CFG,
    oursLimits: LIMITS, // capacity/relay/latency/callsetup; the fairness scenario sets its own
    note: `client workers and the server share this machine's ${CORES} cores`,
    logDir,
  },
  scenarios: {},
  errors: [],
};

/** Commit of the git work tree `dir` is in (e.g. a worktree of another commit), or null. */
function gitCommitOf(dir) {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir }).toString().trim();
  } catch {
    return null;
  }
}

function gitCommit() {
  try {
    const c = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: ROOT })
      .toString()
      .trim();
    return dirty ? `${c} (packages/ modified)` : c;
  } catch {
    return null;
  }
}

const liveServers = new Set();

const oursDefaultEnv = () => (LIMITS === 'off' ? LIMITS_UNREACHED : {});

/**
 * The protocol the workers speak to `target`: the baseline slot may run a build of ours
 * (--baseline-main), e.g. to compare two commits phase by phase in one run.
 */
const protocolFor = (target) => (target === 'baseline' && !BASELINE_ENTRY ? 'baseline' : 'ours');

async function startTarget(
  target,
  label,
  nodeArgs = [],
  env = protocolFor(target) === 'ours' ? oursDefaultEnv() : {},
) {
  const logFile = path.join(logDir, `${target}-${label}.log`);
  // Redis only where a scenario asks for it: a REDIS_URL in the bench's own environment must not
  // put the single-instance scenarios on Redis.
  const server = await startServer({
    target,
    logFile,
    nodeArgs,
    env: { REDIS_URL: undefined, REDIS_KEY_PREFIX: undefined, ...env },
    main: target === 'ours' ? OURS_ENTRY : BASELINE_ENTRY,
  });
  liveServers.add(server);
  log(
    `${target}: server pid ${server.pid} at ${server.url} (${label})${server.urlFromProc ? ' [port read from /proc: no "listening on" line]' : ''}`,
  );
  if (server.urlFromProc) results.meta[`${target}NoListeningLine`] = true;
  return server;
}

async function stopTarget(server) {
  await server.stop();
  liveServers.delete(server);
  if (server.logStats.warn || server.logStats.error) {
    log(
      `${server.target}: server logged ${server.logStats.warn} warn / ${server.logStats.error} error lines (${server.logFile})`,
    );
  }
}

async function withServer(target, label, fn, nodeArgs = [], env = undefined) {
  const server = await startTarget(target, label, nodeArgs, env);
  try {
    return await fn(server);
  } finally {
    if (pool) await pool.each(range(pool.size), 'close', {}, 30000).catch((e) => log(`close: ${e.message}`));
    await stopTarget(server);
  }
}

function serverHealth(server) {
  return {
    pid: server.pid,
    alive: server.alive(),
    exit: server.exitInfo,
    logWarn: server.logStats.warn,
    logError: server.logStats.error,
    logSamples: server.logStats.samples,
    logFile: server.logFile,
  };
}

// ------------------------------------------------------------------ scenario 1: capacity

async function capacity(target) {
  const peers = CFG.capacityPeers;
  const ws = range(CFG.capacityWorkers);
  return withServer(target, 'capacity', async (server) => {
    await sleep(300);
    const empty = await server.memAfterGc();
    const snapEmpty = HEAP_DIR
      ? await server.heapSnapshot(path.join(HEAP_DIR, `${target}-empty.heapsnapshot`))
      : null;
    const cpu0 = server.cpuMicros();
    const mw = machineWindow();
    const t0 = performance.now();
    const perWorker = split(Math.floor(peers / 2), ws.length);
    const setups = await pool.each(
      ws,
      'setup',
      (i) => ({
        url: server.url,
        target: protocolFor(target),
        pairs: perWorker[i],
        concurrency: CFG.setupConcurrency,
        prefix: 'cap',
      }),
      120000,
    );
    const connectMs = performance.now() - t0;
    const cpuConnect = server.cpuMicros() - cpu0;
    const machine = mw();
    noteForeign(`${target} capacity connect`, machine);
    const joined = setups.reduce((n, s) => n + s.peers, 0);
    const connectErrors = {};
    const joinErrors = {};
    for (const s of setups) {
      addCounts(connectErrors, s.connectErrors);
      addCounts(joinErrors, s.joinErrors);
    }
    log(
      `${target}: ${joined}/${peers} peers joined in ${(connectMs / 1000).toFixed(1)}s; holding ${CFG.capacityHoldMs / 1000}s`,
    );
    await sleep(CFG.capacityHoldMs);
    const status = await pool.each(ws, 'status', {}, 30000);
    const connected = status.reduce((n, s) => n + s.connected, 0);
    const disconnects = {};
    for (const s of status) addCounts(disconnects, s.disconnects);
    const loaded = await server.memAfterGc();
    const per = (k) => (joined ? (loaded[k] - empty[k]) / joined : NaN);
    let heapPerPeer;
    if (HEAP_DIR) {
      const snapLoaded = await server.heapSnapshot(
        path.join(HEAP_DIR, `${target}-${joined}peers.heapsnapshot`),
      );
      const d = diffHeaps(summarizeHeap(snapEmpty, 100000), summarizeHeap(snapLoaded, 100000));
      heapPerPeer = d
        .sort((a, b) => b.size - a.size)
        .slice(0, 20)
        .map((r) => ({
          name: r.name,
          bytesPerPeer: +(r.size / joined).toFixed(1),
          countPerPeer: +(r.count / joined).toFixed(2),
        }));
      log(
        `${target}: heap snapshot growth per peer (top): ` +
          heapPerPeer
            .slice(0, 8)
            .map((r) => `${r.name} ${r.bytesPerPeer} B`)
            .join('; '),
      );
    }
    const errors =
      sumCounts(connectErrors) + sumCounts(joinErrors) + sumCounts(disconnects) + (joined < peers ? 0 : 0);
    return {
      peersTarget: peers,
      peersJoined: joined,
      peersConnectedAfterHold: connected,
      holdMs: CFG.capacityHoldMs,
      connectJoinMs: Math.round(connectMs),
      connectJoinPerSec: joined / (connectMs / 1000),
      serverCpuUsPerConnectJoin: cpuConnect / joined,
      memEmpty: empty,
      memLoaded: loaded,
      rssPerPeerBytes: per('rss'),
      heapUsedPerPeerBytes: per('heapUsed'),
      externalPerPeerBytes: per('external'),
      connectErrors,
      joinErrors,
      disconnects,
      errors,
      machine,
      heapPerPeer,
      held: joined === peers && connected === peers && errors === 0,
      server: serverHealth(server),
    };
  });
}

// ------------------------------------------------------------------ scenarios 2-4: both servers at once
//
// The machine's own speed drifts (a shared VM host: see the speed check in the output), so the
// relay, latency and call-setup scenarios start both servers side by side, each with its own
// workers, and alternate ours and the baseline phase by phase (ABBA over repetitions) instead of
// running all of one and then all of the other.

/** Workers of each target: [first, ...] blocks of `n` workers, ours first. */
const workersOf = (n) => Object.fromEntries(TARGETS.map((t, k) => [t, range(n).map((i) => k * n + i)]));
const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/**
 * Pins a process and all its threads (V8's GC helpers and libuv's pool included) to `cpus` (a
 * taskset list such as "0" or "0-1"). Returns false when taskset is missing or refuses.
 */
function pinTo(pid, cpus) {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * With `pin` (--pin=false turns it off) and at least 2 cores: each server on core 0 alone, the bench
 * and its workers on the others, as the independent harness of issue 13 ran; undone afterwards.
 */
const PIN = opt('pin', 'true') !== 'false' && os.cpus().length >= 2;
const ALL_CPUS = `0-${os.cpus().length - 1}`;
const OTHER_CPUS = `1-${os.cpus().length - 1}`;

async function withServers(label, fn, nodeArgsFor = () => [], { pin = false } = {}) {
  const servers = {};
  const pinned = pin && PIN;
  try {
    for (const target of TARGETS) {
      try {
        servers[target] = await startTarget(target, label, nodeArgsFor(target));
        if (pinned && !pinTo(servers[target].pid, '0')) log(`${target}: could not pin the server to core 0`);
      } catch (err) {
        const msg = `${label}/${target}: ${err.message}`;
        log(`ERROR ${msg}`);
        results.errors.push(msg);
      }
    }
    if (pinned) {
      pinTo(process.pid, OTHER_CPUS);
      for (const w of pool?.workers ?? []) if (!w.exited) pinTo(w.proc.pid, OTHER_CPUS);
      log(`${label}: servers pinned to core 0, the bench and its workers to cores ${OTHER_CPUS}`);
    }
    return await fn(servers);
  } finally {
    if (pool) await pool.each(range(pool.size), 'close', {}, 30000).catch((e) => log(`close: ${e.message}`));
    for (const server of Object.values(servers)) await stopTarget(server);
    if (pinned) {
      pinTo(process.pid, ALL_CPUS);
      for (const w of pool?.workers ?? []) if (!w.exited) pinTo(w.proc.pid, ALL_CPUS);
    }
  }
}

async function setupPairs(server, target, ws, pairCount, prefix) {
  const perWorker = split(pairCount, ws.length);
  const setups = await pool.each(
    ws,
    'setup',
    (i) => ({
      url: server.url,
      target: protocolFor(target),
      pairs: perWorker[ws.indexOf(i)],
      concurrency: CFG.setupConcurrency,
      prefix,
    }),
    120000,
  );
  return {
    made: setups.reduce((n, x) => n + x.pairs, 0),
    errors: setups.reduce((n, x) => n + sumCounts(x.connectErrors) + sumCounts(x.joinErrors), 0),
  };
}

/** Runs `once` up to CFG.attempts times while other processes disturb it; keeps the least disturbed. */
async function undisturbed(label, once) {
  const tries = [];
  for (let attempt = 1; attempt <= CFG.attempts; attempt++) {
    await waitQuiet();
    calibrate(label);
    const r = await once();
    r.attempt = attempt;
    tries.push(r);
    if (r.machine.foreignPct <= CFG.foreignRetryPct || attempt === CFG.attempts) break;
    log(`${label}: other processes used ${r.machine.foreignPct.toFixed(0)}% CPU; running it again`);
    await sleep(300);
  }
  const r = pickLeastDisturbed(tries);
  noteForeign(label, r.machine);
  return r;
}

// ------------------------------------------------------------------ scenario 2: relay throughput

async function relay() {
  const W = workersOf(CFG.relayWorkers);
  const out = await withServers(
    'relay',
    async (servers) => {
      const live = TARGETS.filter((t) => servers[t]);
      const res = {};
      for (const t of live) res[t] = { phases: [], memStart: await servers[t].memAfterGc() };
      for (const pairCount of CFG.relayPairs) {
        const setup = {};
        for (const t of live) setup[t] = await setupPairs(servers[t], t, W[t], pairCount, `rl${pairCount}`);
        for (const size of CFG.relaySizes) {
          const runs = Object.fromEntries(live.map((t) => [t, []]));
          for (let rep = 0; rep < CFG.relayReps; rep++) {
            const order = rep % 2 === 0 ? live : [...live].reverse();
            for (const t of order) {
              if (!servers[t].alive()) continue;
              // Connect/join errors count once, in the first phase over these pairs.
              const setupErrors = size === CFG.relaySizes[0] && rep === 0 ? setup[t].errors : 0;
              runs[t].push(
                await undisturbed(`${t} relay ${pairCount}/${size}`, () =>
                  relayPhase(servers[t], W[t], t, pairCount, setup[t].made, setupErrors, size),
                ),
              );
            }
          }
          for (const t of live) if (runs[t].length) res[t].phases.push(combineRuns(runs[t]));
        }
        await pool.each(range(pool.size), 'close', {}, 30000);
        await sleep(300);
      }
      for (const t of live) {
        res[t].memEnd = await servers[t].memAfterGc();
        res[t].server = serverHealth(servers[t]);
      }
      return res;
    },
    profileArgs,
  );
  await attachProfiles(out);
  return out;
}

/** Node flags that make a server write a CPU profile (with --profile). */
function profileArgs() {
  if (!PROFILE_DIR) return [];
  fs.mkdirSync(PROFILE_DIR, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`];
}

/** With --profile, summarises each server's profile into its scenario result. */
async function attachProfiles(out) {
  if (!PROFILE_DIR) return;
  await sleep(500);
  for (const t of Object.keys(out)) {
    const pid = out[t].server?.pid;
    const f = fs
      .readdirSync(PROFILE_DIR)
      .filter((x) => x.endsWith('.cpuprofile') && x.includes(`.${pid}.`))
      .map((x) => path.join(PROFILE_DIR, x));
    out[t].profile = f.length
      ? summarizeProfile(f[f.length - 1], 20)
      : { error: `no .cpuprofile of pid ${pid} in ${PROFILE_DIR}` };
  }
}

/** Median of repeated runs of one relay phase; every run is kept in `runs`. */
function combineRuns(runs) {
  if (runs.length === 1) return runs[0];
  return {
    ...runs[0],
    deliveredPerSec: median(runs.map((r) => r.deliveredPerSec)),
    ackedPerSec: median(runs.map((r) => r.ackedPerSec)),
    serverCpuUsPerSignal: median(runs.map((r) => r.serverCpuUsPerSignal)),
    serverCpuPercent: median(runs.map((r) => r.serverCpuPercent)),
    redisCpuUsPerSignal: median(runs.map((r) => r.redisCpuUsPerSignal)),
    redisCpuPercent: median(runs.map((r) => r.redisCpuPercent)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    machine: runs.reduce((a, r) => (r.machine.foreignPct > a.foreignPct ? r.machine : a), runs[0].machine),
    heapUsedAfterGc: runs[runs.length - 1].heapUsedAfterGc,
    rssAfterGc: runs[runs.length - 1].rssAfterGc,
    runs: runs.map((r) => ({
      deliveredPerSec: r.deliveredPerSec,
      serverCpuUsPerSignal: r.serverCpuUsPerSignal,
      serverCpuPercent: r.serverCpuPercent,
      errors: r.errors,
      machine: r.machine,
      attempt: r.attempt,
    })),
  };
}

async function relayPhase(server, ws, target, pairCount, made, setupErrors, size, usePairs = undefined) {
  await pool.each(ws, 'relay', { size, window: CFG.relayWindow, pairs: usePairs }, 30000);
  await sleep(CFG.relayWarmupMs);
  const c0 = server.cpuMicros();
  const rc0 = server.redisCpuMicros?.();
  const mw = machineWindow();
  const t0 = performance.now();
  const r0 = await pool.each(ws, 'snapshot', {}, 30000);
  const s0 = sumSnap(r0);
  await sleep(CFG.relayMeasureMs);
  const machine = mw();
  const c1 = server.cpuMicros();
  const rc1 = server.redisCpuMicros?.();
  const t1 = performance.now();
  const r1 = await pool.each(ws, 'snapshot', {}, 30000);
  const s1 = sumSnap(r1);
  const end = sumSnap(await pool.each(ws, 'stop', { drainMs: 5000 }, 30000));
  const d = snapDelta(s0, s1);
  const secs = workerSecs(r0, r1, t1 - t0);
  const mem = await server.memAfterGc();
  const phase = {
    pairs: pairCount,
    pairsMade: made,
    size,
    window: CFG.relayWindow,
    inFlightTotal: (usePairs ?? made) * 2 * CFG.relayWindow,
    seconds: +secs.toFixed(3),
    deliveredPerSec: d.delivered / secs,
    ackedPerSec: d.acked / secs,
    serverCpuUsPerSignal: (c1 - c0) / d.delivered,
    serverCpuPercent: (100 * (c1 - c0)) / 1e6 / ((t1 - t0) / 1000),
    redisCpuUsPerSignal: rc0 === undefined ? undefined : (rc1 - rc0) / d.delivered,
    redisCpuPercent: rc0 === undefined ? undefined : (100 * (rc1 - rc0)) / 1e6 / ((t1 - t0) / 1000),
    window_delta: d,
    errors: errorsOf(d) + setupErrors,
    undrainedAfterStop: end.pending,
    machine,
    heapUsedAfterGc: mem.heapUsed,
    rssAfterGc: mem.rss,
  };
  log(
    `${target}: relay ${pairCount} pairs ${size}: ${Math.round(phase.deliveredPerSec)} signals/s, ` +
      `${phase.serverCpuUsPerSignal.toFixed(1)} µs CPU/signal, server CPU ${phase.serverCpuPercent.toFixed(0)}%, ` +
      `errors ${phase.errors}, ${machineNote(machine)}, heap after GC ${(mem.heapUsed / 2 ** 20).toFixed(1)} MB`,
  );
  return phase;
}

// ------------------------------------------------------------------ scenario 3: latency at fixed rates

async function ratePhase(server, ws, rate, { warmupMs, measureMs }) {
  const per = split(rate, ws.length);
  await pool.each(ws, 'rate', (i) => ({ rate: per[ws.indexOf(i)], size: 'candidate' }), 30000);
  await sleep(warmupMs);
  const c0 = server.cpuMicros();
  const rc0 = server.redisCpuMicros?.();
  const mw = machineWindow();
  const t0 = performance.now();
  const [r0] = await Promise.all([
    pool.each(ws, 'record', { on: true }, 30000),
    server.loopDelay(true, true),
  ]);
  const s0 = sumSnap(r0);
  await sleep(measureMs);
  const [r1, serverLoop] = await Promise.all([
    pool.each(ws, 'record', { on: false }, 30000),
    server.loopDelay(true, false),
  ]);
  const s1 = sumSnap(r1);
  const clientLoopMaxP99 = Math.max(...r1.map((x) => x.loopDelay.p99));
  const clientLoopMax = Math.max(...r1.map((x) => x.loopDelay.max));
  const machine = mw();
  const t1 = performance.now();
  const c1 = server.cpuMicros();
  const rc1 = server.redisCpuMicros?.();
  await pool.each(ws, 'stop', { drainMs: 3000 }, 30000);
  const all = await pool.each(ws, 'samples', {}, 30000);
  const lat = summarize(all.flat());
  const d = snapDelta(s0, s1);
  const secs = workerSecs(r0, r1, t1 - t0);
  return {
    rate,
    seconds: +secs.toFixed(3),
    deliveredPerSec: d.delivered / secs,
    latencyMs: lat,
    serverCpuPercent: (100 * (c1 - c0)) / 1e6 / ((t1 - t0) / 1000),
    serverCpuUsPerSignal: (c1 - c0) / d.delivered,
    redisCpuUsPerSignal: rc0 === undefined ? undefined : (rc1 - rc0) / d.delivered,
    redisCpuPercent: rc0 === undefined ? undefined : (100 * (rc1 - rc0)) / 1e6 / ((t1 - t0) / 1000),
    window_delta: d,
    errors: errorsOf(d),
    machine,
    serverLoopDelayMs: serverLoop,
    clientLoopDelayMs: { p99: clientLoopMaxP99, max: clientLoopMax },
  };
}

/** The run whose p99 is the median of the runs' (the lower middle one of an even count). */
function medianRun(runs) {
  if (!runs.length) return null;
  const sorted = [...runs].sort((a, b) => a.latencyMs.p99 - b.latencyMs.p99);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** Server GC pauses in a phase: count, total and longest ms of minor (scavenge) and other GC work. */
function gcNote(gc) {
  if (!gc) return '';
  const f = (g) => `${g.count}× ${g.ms.toFixed(0)} ms (max ${g.maxMs.toFixed(1)})`;
  return `; server GC minor ${f(gc.minor)}, major ${f(gc.major)}`;
}

async function latency() {
  const W = workersOf(CFG.latencyWorkers);
  const out = await withServers(
    'latency',
    async (servers) => {
      const live = TARGETS.filter((t) => servers[t]);
      const st = {};
      for (const t of live) {
        await setupPairs(servers[t], t, W[t], CFG.latencyPairs, 'lat');
        st[t] = { steps: [], max: 0, searching: true };
      }
      let k = 0;
      // The 5k/s step runs latency5kRuns times, each run alternating which server goes first.
      const schedule = CFG.latencyRates.flatMap((rate) =>
        rate === 5000 ? Array.from({ length: CFG.latency5kRuns }, () => rate) : [rate],
      );
      for (const rate of schedule) {
        const fixed = rate === 5000 || rate === 25000;
        const order = k++ % 2 === 0 ? live : [...live].reverse();
        for (const t of order) {
          if (!st[t].searching && !fixed) continue;
          if (!servers[t].alive()) continue;
          const r = await undisturbed(`${t} latency ${rate}/s`, () =>
            ratePhase(servers[t], W[t], rate, {
              warmupMs: CFG.latencyWarmupMs,
              measureMs: CFG.latencyMeasureMs,
            }),
          );
          r.sustained = r.deliveredPerSec >= 0.95 * rate;
          r.underLimit = r.latencyMs.p99 < CFG.p99LimitMs && r.sustained && r.errors === 0;
          st[t].steps.push(r);
          log(
            `${t}: ${rate}/s → ${Math.round(r.deliveredPerSec)}/s delivered, p50 ${r.latencyMs.p50.toFixed(2)} ` +
              `p95 ${r.latencyMs.p95.toFixed(2)} p99 ${r.latencyMs.p99.toFixed(2)} ms, server CPU ${r.serverCpuPercent.toFixed(0)}%, ` +
              `errors ${r.errors}, ${machineNote(r.machine)}; loop delay p99/max server ${r.serverLoopDelayMs.p99.toFixed(1)}/` +
              `${r.serverLoopDelayMs.max.toFixed(1)} client ${r.clientLoopDelayMs.p99.toFixed(1)}/${r.clientLoopDelayMs.max.toFixed(1)} ms` +
              gcNote(r.serverLoopDelayMs.gc),
          );
          if (st[t].searching) {
            if (r.underLimit) st[t].max = rate;
            else st[t].searching = false;
          }
          await sleep(300);
        }
      }
      const res = {};
      for (const t of live) {
        res[t] = {
          pairs: CFG.latencyPairs,
          steps: st[t].steps,
          // The run with the median p99 (its p50/p95 with it), and every run's p99.
          at5k: medianRun(st[t].steps.filter((x) => x.rate === 5000)),
          at5kP99s: st[t].steps.filter((x) => x.rate === 5000).map((x) => x.latencyMs.p99),
          at25k: st[t].steps.find((x) => x.rate === 25000) || null,
          maxRateP99Under50ms: st[t].max,
          searchExhausted: st[t].searching,
          server: serverHealth(servers[t]),
        };
      }
      return res;
    },
    profileArgs,
  );
  await attachProfiles(out);
  return out;
}

// ------------------------------------------------------------------ scenario 4: call setup

async function callsetup() {
  // Per target: its first worker runs the call setups, its second the background load.
  const W = workersOf(2);
  return withServers('callsetup', async (servers) => {
    const live = TARGETS.filter((t) => servers[t]);
    for (const t of live) {
      await pool.call(
        W[t][0],
        'setup',
        { url: servers[t].url, target: protocolFor(t), pairs: 10, prefix: 'cs' },
        60000,
      );
      await setupPairs(servers[t], t, [W[t][1]], CFG.latencyPairs, 'bg');
    }
    const reps = CFG.callSetupReps;
    const run = async (t, label) => {
      const w = W[t][0];
      const mw = machineWindow();
      const s0 = sumSnap([await pool.call(w, 'snapshot')]);
      const r = await pool.call(
        w,
        'callSetup',
        { reps, candidates: CFG.callSetupCandidates, timeoutMs: 5000 },
        reps * 8000,
      );
      const s1 = sumSnap([await pool.call(w, 'snapshot')]);
      const d = snapDelta(s0, s1);
      const machine = mw();
      noteForeign(`${t} call setup ${label}`, machine);
      return {
        machine,
        reps,
        completed: r.times.length,
        failures: r.failures,
        ms: summarize(r.times),
        errors: r.failures + errorsOf(d),
        delta: d,
      };
    };
    const res = Object.fromEntries(live.map((t) => [t, { server: null }]));
    for (const t of live) {
      await waitQuiet();
      res[t].idle = await run(t, 'idle');
      log(
        `${t}: call setup idle p50 ${res[t].idle.ms.p50.toFixed(2)} p95 ${res[t].idle.ms.p95.toFixed(2)} ms, errors ${res[t].idle.errors}`,
      );
    }
    for (const t of [...live].reverse()) {
      const bg = [W[t][1]];
      await waitQuiet();
      await pool.each(bg, 'rate', { rate: CFG.callSetupBackgroundRate, size: 'candidate' }, 30000);
      await sleep(500);
      const r0 = await pool.each(bg, 'snapshot', {}, 30000);
      const loaded = await run(t, 'loaded');
      const r1 = await pool.each(bg, 'snapshot', {}, 30000);
      await pool.each(bg, 'stop', { drainMs: 3000 }, 30000);
      const bd = snapDelta(sumSnap(r0), sumSnap(r1));
      loaded.background = {
        targetRate: CFG.callSetupBackgroundRate,
        deliveredPerSec: bd.delivered / workerSecs(r0, r1, 1000),
        errors: errorsOf(bd),
      };
      res[t].loaded = loaded;
      res[t].server = serverHealth(servers[t]);
      log(
        `${t}: call setup under ${Math.round(loaded.background.deliveredPerSec)}/s: p50 ${loaded.ms.p50.toFixed(2)} ` +
          `p95 ${loaded.ms.p95.toFixed(2)} ms, errors ${loaded.errors}`,
      );
    }
    return res;
  });
}

// ------------------------------------------------------------------ scenario 5: fairness under a flood
//
// One client floods a peer in its room with candidates while an honest pair elsewhere (another
// client IP) measures call setup (join + offer/answer) and relay round trips, quiet and under the
// flood. Servers one at a time: the baseline (no limits: the floor), ours with every rate and
// per-IP connection limit off (the behaviour before hardening), ours with its defaults.

const LIMITS_OFF = {
  SIGNAL_RATE_PER_SEC: '0',
  JOIN_RATE_PER_SEC: '0',
  STATE_REPORT_RATE_PER_SEC: '0',
  MAX_CONNECTIONS_PER_IP: '0',
  CONNECTION_RATE_PER_IP: '0',
};
// "Limits on" means the defaults: none of these is passed on from the bench's own environment.
const LIMIT_VARS = [
  ...Object.keys(LIMITS_OFF),
  'SIGNAL_BURST',
  'JOIN_BURST',
  'STATE_REPORT_BURST',
  'RATE_LIMIT_DISCONNECT_AFTER',
  'RATE_LIMIT_IP_BLOCK_SECONDS',
  'MAX_ROOMS_PER_PEER',
  'MAX_CONNECTIONS',
  'MAX_OUTBOUND_BUFFER_BYTES',
  'OUTBOUND_STALL_TIMEOUT_MS',
];
const FAIR_CONFIGS = [
  { key: 'baseline', target: 'baseline', label: 'baseline (bare relay)', env: {} },
  { key: 'limitsOff', target: 'ours', label: 'ours, limits off', env: LIMITS_OFF },
  // The per-connection limits alone: the flooder may reconnect for a fresh allowance as often as
  // the per-IP connection caps let it.
  {
    key: 'limitsNoBlock',
    target: 'ours',
    label: 'ours, limits on, no IP block',
    env: { ...Object.fromEntries(LIMIT_VARS.map((k) => [k, undefined])), RATE_LIMIT_IP_BLOCK_SECONDS: '0' },
  },
  {
    key: 'limitsOn',
    target: 'ours',
    label: 'ours, limits on (defaults)',
    env: Object.fromEntries(LIMIT_VARS.map((k) => [k, undefined])),
  },
];
const FAIR_HONEST_WORKER = 0;
const FAIR_FLOOD_WORKER = 1;

async function fairness() {
  const res = {};
  for (const c of FAIR_CONFIGS.filter((x) => TARGETS.includes(x.target))) {
    try {
      res[c.key] = await withServer(
        c.target,
        `fairness-${c.key}`,
        (server) => fairnessRun(server, c),
        [],
        c.env,
      );
    } catch (err) {
      const msg = `fairness/${c.key}: ${err.message}`;
      log(`ERROR ${msg}`);
      results.errors.push(msg);
      res[c.key] = { label: c.label, error: err.message };
    }
  }
  return res;
}

async function fairnessRun(server, c) {
  const setup = await pool.call(
    FAIR_HONEST_WORKER,
    'fairSetup',
    {
      url: server.url,
      target: protocolFor(c.target),
      localAddress: CFG.fairHonestIp,
      pairs: CFG.fairCallPairs + 1,
      prefix: `fair-${c.key}`,
    },
    30000,
  );
  await waitQuiet();
  const quiet = await fairPhase(server, c, false);
  await sleep(200);
  const flood = await fairPhase(server, c, true);
  const ratio = (k, p) => flood.honest[k][p] / quiet.honest[k][p];
  const out = {
    label: c.label,
    target: c.target,
    env: c.env,
    honestConnections: setup.connections,
    quiet,
    flood,
    ratios: {
      setupP50: ratio('setupMs', 'p50'),
      setupP99: ratio('setupMs', 'p99'),
      rttP50: ratio('rttMs', 'p50'),
      rttP99: ratio('rttMs', 'p99'),
    },
    server: serverHealth(server),
  };
  const f = flood.flooder;
  log(
    `${c.label}: flood ${fmt(f.sentPerSec)}/s sent, ${fmt(f.ackedPerSec)}/s acked ok, ${fmt(f.rateLimitedPerSec)}/s RATE_LIMITED, ` +
      `${f.disconnects} disconnects; honest setup p99 ${fmt(quiet.honest.setupMs.p99, 1)} → ${fmt(flood.honest.setupMs.p99, 1)} ms, ` +
      `RTT p99 ${fmt(quiet.honest.rttMs.p99, 2)} → ${fmt(flood.honest.rttMs.p99, 2)} ms`,
  );
  return out;
}

/** One measurement window of the honest pair, with (flood) or without the flooder running. */
async function fairPhase(server, c, withFlood) {
  const workerPid = (i) => pool.workers[i].proc.pid;
  let f0 = null;
  let f1 = null;
  let fEnd = null;
  if (withFlood) {
    await pool.call(
      FAIR_FLOOD_WORKER,
      'floodStart',
      {
        url: server.url,
        target: protocolFor(c.target),
        localAddress: CFG.fairFlooderIp,
        window: CFG.fairFloodWindow,
        prefix: `flood-${c.key}`,
      },
      30000,
    );
    await sleep(CFG.fairFloodWarmupMs);
    f0 = await pool.call(FAIR_FLOOD_WORKER, 'floodSnapshot', {}, 30000);
  }
  const cpu = () => ({
    server: server.cpuMicros(),
    honest: cpuMicros(workerPid(FAIR_HONEST_WORKER)),
    flooder: cpuMicros(workerPid(FAIR_FLOOD_WORKER)),
  });
  await server.loopDelay(true, true).catch(() => null);
  const mw = machineWindow();
  const c0 = cpu();
  const t0 = performance.now();
  const honest = await pool.call(
    FAIR_HONEST_WORKER,
    'fairMeasure',
    {
      durationMs: CFG.fairPhaseMs,
      roundPeriodMs: CFG.fairRoundPeriodMs,
      roundTimeoutMs: CFG.fairRoundTimeoutMs,
      pingGapMs: CFG.fairPingGapMs,
      pingTimeoutMs: CFG.fairRoundTimeoutMs,
    },
    CFG.fairPhaseMs + 2 * CFG.fairRoundTimeoutMs + 30000,
  );
  const c1 = cpu();
  const t1 = performance.now();
  const machine = mw();
  const serverLoop = await server.loopDelay(true, false).catch(() => null);
  const secs = (t1 - t0) / 1000;
  const pct = (k) => (100 * (c1[k] - c0[k])) / 1e6 / secs;
  if (withFlood) {
    f1 = await pool.call(FAIR_FLOOD_WORKER, 'floodSnapshot', {}, 30000);
    fEnd = await pool.call(FAIR_FLOOD_WORKER, 'floodStop', {}, 30000);
  }
  noteForeign(`fairness ${c.key} ${withFlood ? 'flood' : 'quiet'}`, machine);
  const phase = {
    seconds: +secs.toFixed(3),
    honest,
    serverCpuPercent: pct('server'),
    honestWorkerCpuPercent: pct('honest'),
    serverLoopDelayMs: serverLoop && { p99: serverLoop.p99, max: serverLoop.max, mean: serverLoop.mean },
    serverRssMb: server.rssBytes() / 2 ** 20,
    machine,
  };
  if (withFlood) {
    const fs1 = (f1.t - f0.t) / 1000;
    const d = (k) => f1[k] - f0[k];
    const dc = (k) => diffCounts(f0[k], f1[k]);
    const refused = dc('refused');
    phase.flooder = {
      window: CFG.fairFloodWindow,
      seconds: +fs1.toFixed(3),
      sentPerSec: d('sent') / fs1,
      ackedPerSec: d('acked') / fs1,
      rateLimitedPerSec: (refused.RATE_LIMITED || 0) / fs1,
      refusedInWindow: refused,
      disconnects: sumCounts(dc('disconnects')),
      disconnectsByReason: dc('disconnects'),
      disconnectReasons: dc('disconnectReasons'),
      connectErrors: dc('connectErrors'),
      joinErrors: dc('joinErrors'),
      reconnects: d('connects'),
      receiverDisconnects: dc('receiverDisconnects'),
      workerCpuPercent: pct('flooder'),
      // The whole flood, warm-up and stop included.
      total: {
        sent: fEnd.sent,
        acked: fEnd.acked,
        refused: fEnd.refused,
        unanswered: fEnd.sent - fEnd.acked - sumCounts(fEnd.refused),
        connects: fEnd.connects,
        disconnects: fEnd.disconnects,
        disconnectReasons: fEnd.disconnectReasons,
        connectErrors: fEnd.connectErrors,
        joinErrors: fEnd.joinErrors,
        receiverConnects: fEnd.receiverConnects,
        receiverDisconnects: fEnd.receiverDisconnects,
        roomsUsed: fEnd.roomsUsed,
      },
    };
  }
  const h = honest;
  log(
    `${c.label} ${withFlood ? 'flood' : 'quiet'}: call setup p50 ${fmt(h.setupMs.p50, 2)} p99 ${fmt(h.setupMs.p99, 2)} ms ` +
      `(${h.setupMs.count} ok, failed ${JSON.stringify(h.roundFailures)}), RTT p50 ${fmt(h.rttMs.p50, 2)} p99 ${fmt(h.rttMs.p99, 2)} ms ` +
      `(${h.rttMs.count}, lost ${h.pingTimeouts}), server CPU ${phase.serverCpuPercent.toFixed(0)}%, ${machineNote(machine)}`,
  );
  return phase;
}

// ------------------------------------------------------------------ scenario 6: several instances on Redis
//
// Issue 11: with REDIS_URL several instances act as one. Three parts, each on servers of its own and
// a fresh key prefix, deleted afterwards:
// - relay: ours in memory, ours on Redis (one instance), ours on Redis with every pair split across
//   two instances, and the bare relay, side by side and alternated run by run: open loop at 5k/s
//   (one-way latency, CPU of the instances and of Redis per signal), then a closed-loop saturation run;
// - memory: Redis memory for CFG.meshPeers peers in rooms of 4, idle and after a call setup between
//   every two peers of each room;
// - locality: three instances, all traffic between peers on A: what each instance's adapter
//   published and received (B and C should receive nothing); then pairs split across A and B (C idle).

const CLUSTER_CONFIGS = [
  { key: 'memory', label: 'ours, 1 instance, in memory', target: 'ours', instances: 0 },
  { key: 'redis1', label: 'ours, 1 instance on Redis', target: 'ours', instances: 1 },
  { key: 'redis2', label: 'ours, 2 instances on Redis, a on A, b on B', target: 'ours', instances: 2 },
  {
    key: 'baseline',
    label: BASELINE_ENTRY ? 'baseline slot (--baseline-main)' : 'bare Socket.IO relay',
    target: 'baseline',
    instances: 0,
  },
];

/** The env of an instance of ours on Redis under `prefix`. */
const redisEnv = (prefix) => ({ ...oursDefaultEnv(), REDIS_URL, REDIS_KEY_PREFIX: prefix });

/**
 * Starts `count` instances (1 without a prefix) and answers them as one server for the phase
 * functions: CPU summed over the instances, Redis's CPU (when it runs on this machine), the worst
 * event-loop delay, memory summed.
 */
async function startGroup(target, label, count, prefix, conn, nodeArgs = []) {
  const servers = [];
  const env = target === 'ours' ? (prefix ? redisEnv(prefix) : oursDefaultEnv()) : {};
  try {
    for (let i = 0; i < Math.max(1, count); i++)
      servers.push(await startTarget(target, count > 1 ? `${label}-${'ABC'[i]}` : label, nodeArgs, env));
  } catch (err) {
    for (const x of servers) await stopTarget(x);
    throw err;
  }
  return {
    target,
    servers,
    urls: servers.map((x) => x.url),
    alive: () => servers.every((x) => x.alive()),
    cpuMicros: () => servers.reduce((n, x) => n + x.cpuMicros(), 0),
    redisCpuMicros: conn?.local ? () => cpuMicros(conn.pid) : undefined,
    async loopDelay(reset, on) {
      const all = await Promise.all(servers.map((x) => x.loopDelay(reset, on)));
      return all.reduce((a, b) => (b.p99 > a.p99 ? b : a));
    },
    async memAfterGc() {
      const all = await Promise.all(servers.map((x) => x.memAfterGc()));
      return { heapUsed: all.reduce((n, m) => n + m.heapUsed, 0), rss: all.reduce((n, m) => n + m.rss, 0) };
    },
    stop: async () => {
      for (const x of servers) await stopTarget(x);
    },
  };
}

/** The adapter counters of one instance's /metrics. */
async function adapterCounters(server) {
  const m = await scrapeMetrics(server.url);
  return {
    published: m.switchboard_adapter_messages_published_total ?? NaN,
    receivedOther: m['switchboard_adapter_messages_received_total{origin="other"}'] ?? NaN,
    receivedSelf: m['switchboard_adapter_messages_received_total{origin="self"}'] ?? NaN,
    cpuUs: server.cpuMicros(),
  };
}

/**
 * Waits until workers `ws` have every ack back and nothing more arrives (a server that fell behind
 * works off its backlog, which would otherwise load the machine during the next phase), at most
 * `maxMs`; answers how long it took.
 */
async function settle(ws, maxMs = 30000) {
  const t0 = performance.now();
  let last = -1;
  let stableSince = 0;
  while (performance.now() - t0 < maxMs) {
    const s = sumSnap(await pool.each(ws, 'snapshot', {}, 30000));
    // Acks that timed out no longer count as pending, so "nothing arrived for a second" decides.
    if (s.delivered !== last) stableSince = performance.now();
    else if (s.pending === 0 && performance.now() - stableSince >= 1000) break;
    last = s.delivered;
    await sleep(250);
  }
  return performance.now() - t0;
}

async function cluster() {
  let conn;
  try {
    conn = await openRedis(REDIS_URL);
  } catch (err) {
    throw new Error(`no Redis at ${REDIS_URL.replace(/\/\/[^@/]*@/, '//…@')}: ${err.message}`);
  }
  const out = {
    redisUrl: REDIS_URL.replace(/\/\/[^@/]*@/, '//…@'),
    redisVersion: conn.version,
    redisCpuFrom: conn.local ? `/proc/${conn.pid}` : 'not measured (Redis is not on this machine)',
  };
  log(`cluster: Redis ${conn.version} at ${out.redisUrl}${conn.local ? `, pid ${conn.pid}` : ''}`);
  // Redis works for the bench here: its CPU is not "other load" (other clients of a shared Redis
  // are then counted as the bench's; the runs' Redis CPU per signal shows them).
  if (conn.local) extraPids.add(conn.pid);
  try {
    if (CLUSTER_PARTS.has('relay')) out.relay = await clusterRelay(conn);
    if (CLUSTER_PARTS.has('memory')) out.memory = await clusterMemory(conn);
    if (CLUSTER_PARTS.has('locality')) out.locality = await clusterLocality(conn);
  } finally {
    extraPids.delete(conn.pid);
    cleanupConn ??= conn;
    await cleanupRedis();
    conn.redis.disconnect();
    if (cleanupConn === conn) cleanupConn = null;
  }
  return out;
}

async function clusterRelay(conn) {
  const configs = CLUSTER_CONFIGS.filter((c) => TARGETS.includes(c.target));
  const res = {};
  for (const c of configs)
    res[c.key] = {
      label: c.label,
      instances: Math.max(1, c.instances),
      prefixes: [],
      setups: [],
      runs: [],
      saturation: [],
      servers: [],
    };
  // One worker per configuration; both peers of a pair in it (one clock), `b` on the second instance.
  const W = Object.fromEntries(configs.map((c, k) => [c.key, [k]]));
  let groupSeq = 0;
  /**
   * Runs `fn` against configuration `c` alone: its instances start fresh (a fresh key prefix on
   * Redis), its pairs connect, a closed-loop warm-up brings its code to full speed, and after `fn`
   * the pairs disconnect and the instances stop. Nothing of the other configurations runs then:
   * their idle servers and workers (each waking hundreds of times a second, their GC threads
   * included) had tripled the cross-instance p99 at 5k/s, whose path crosses four processes.
   */
  const alone = async (c, fn) => {
    const r = res[c.key];
    const prefix = c.instances ? freshPrefix() : null;
    if (prefix) {
      redisPrefixes.add(prefix);
      r.prefixes.push(prefix);
    }
    const g = await startGroup(
      c.target,
      `cluster-${c.key}-${++groupSeq}`,
      c.instances,
      prefix,
      conn,
      profileArgs(),
    );
    try {
      const [s] = await pool.each(
        W[c.key],
        'setup',
        {
          url: g.urls[0],
          urlB: g.urls[1],
          target: protocolFor(c.target),
          pairs: CFG.clusterPairs,
          concurrency: CFG.setupConcurrency,
          prefix: `cl-${c.key}`,
        },
        120000,
      );
      r.pairsMade = s.pairs;
      r.setups.push({
        pairs: s.pairs,
        ms: s.ms,
        errors: sumCounts(s.connectErrors) + sumCounts(s.joinErrors),
      });
      await pool.each(W[c.key], 'relay', { size: 'candidate', window: 4 }, 30000);
      await sleep(CFG.clusterWarmupMs);
      await pool.each(W[c.key], 'stop', { drainMs: 3000 }, 30000);
      return await fn(g);
    } finally {
      await pool.each(W[c.key], 'close', {}, 30000).catch((e) => log(`close: ${e.message}`));
      r.servers.push(...g.servers.map(serverHealth));
      await g.stop();
    }
  };
  try {
    // Runs alternate the order (ABCD, DCBA, ...) so that drift of the machine's speed evens out.
    // The target's rate runs CFG.clusterRuns times, other rates once.
    const schedule = CFG.clusterRates.flatMap((rate) =>
      rate === CFG.clusterRate ? Array.from({ length: CFG.clusterRuns }, () => rate) : [rate],
    );
    let run = 0;
    for (const rate of schedule) {
      const order = run++ % 2 === 0 ? configs : [...configs].reverse();
      for (const c of order) {
        const r = await alone(c, (g) =>
          undisturbed(`cluster ${c.key} ${rate / 1000}k/s`, () =>
            ratePhase(g, W[c.key], rate, {
              warmupMs: CFG.latencyWarmupMs,
              measureMs: CFG.latencyMeasureMs,
            }),
          ),
        );
        res[c.key].runs.push(r);
        log(
          `cluster ${c.key}: ${rate}/s → ${Math.round(r.deliveredPerSec)}/s delivered, p50 ${r.latencyMs.p50.toFixed(2)} ` +
            `p99 ${r.latencyMs.p99.toFixed(2)} max ${r.latencyMs.max.toFixed(1)} ms, server CPU ${r.serverCpuUsPerSignal.toFixed(1)} µs/signal` +
            (r.redisCpuUsPerSignal === undefined
              ? ''
              : `, Redis ${r.redisCpuUsPerSignal.toFixed(1)} µs/signal`) +
            `, errors ${r.errors}, ${machineNote(r.machine)}; server loop delay p99/max ` +
            `${r.serverLoopDelayMs.p99.toFixed(1)}/${r.serverLoopDelayMs.max.toFixed(1)} ms` +
            gcNote(r.serverLoopDelayMs.gc),
        );
        await sleep(300);
      }
    }
    for (let rep = 0; rep < CFG.clusterRelayReps; rep++) {
      const order = rep % 2 === 0 ? configs : [...configs].reverse();
      for (const c of order) {
        res[c.key].saturation.push(
          await alone(c, (g) =>
            undisturbed(`cluster ${c.key} saturation`, () =>
              relayPhase(
                g,
                W[c.key],
                `cluster ${c.key}`,
                CFG.clusterRelayPairs,
                Math.min(CFG.clusterRelayPairs, res[c.key].pairsMade),
                0,
                'candidate',
                CFG.clusterRelayPairs,
              ),
            ),
          ),
        );
        await sleep(300);
      }
    }
    for (const c of configs) {
      const r = res[c.key];
      const main = r.runs.filter((x) => x.rate === CFG.clusterRate);
      r.at5k = medianRun(main);
      r.at5kP99s = main.map((x) => x.latencyMs.p99);
      r.otherRates = r.runs.filter((x) => x.rate !== CFG.clusterRate).sort((a, b) => a.rate - b.rate);
      r.saturation = r.saturation.length ? combineRuns(r.saturation) : null;
    }
  } finally {
    await pool.each(range(pool.size), 'close', {}, 30000).catch((e) => log(`close: ${e.message}`));
    await cleanupRedis();
  }
  if (PROFILE_DIR) {
    await sleep(500);
    for (const c of configs) {
      // The last group's instances: the others' profiles cover the same work.
      res[c.key].profiles = res[c.key].servers.slice(-res[c.key].instances).map((h) => {
        const f = fs
          .readdirSync(PROFILE_DIR)
          .filter((x) => x.endsWith('.cpuprofile') && x.includes(`.${h.pid}.`))
          .map((x) => path.join(PROFILE_DIR, x));
        return f.length ? summarizeProfile(f[f.length - 1], 20) : { error: `no profile of pid ${h.pid}` };
      });
    }
  }
  return res;
}

/** Redis memory of CFG.meshPeers peers (two instances, each room's members split), idle and after call setups. */
async function clusterMemory(conn) {
  const prefix = freshPrefix();
  redisPrefixes.add(prefix);
  const g = await startGroup('ours', 'cluster-memory', 2, prefix, conn);
  const ws = [0, 1];
  const { redis } = conn;
  const measure = async (label) => {
    const [info, keys] = [await redisMemory(redis), await prefixMemory(redis, prefix)];
    log(
      `cluster memory ${label}: used_memory ${(info.usedMemory / 2 ** 20).toFixed(2)} MiB, ` +
        `${keys.keys} keys under the prefix, MEMORY USAGE ${(keys.bytes / 2 ** 20).toFixed(2)} MiB`,
    );
    return { info, keys };
  };
  try {
    await sleep(1500); // both instances have beaten and listed themselves
    const empty = await measure('empty');
    const rooms = split(Math.ceil(CFG.meshPeers / CFG.meshRoomSize), ws.length);
    const setups = await pool.each(
      ws,
      'meshSetup',
      (i) => ({
        urls: g.urls,
        target: 'ours',
        peers: rooms[i] * CFG.meshRoomSize,
        roomSize: CFG.meshRoomSize,
        prefix: `mem${i}`,
      }),
      300000,
    );
    const peers = setups.reduce((n, x) => n + x.peers, 0);
    log(`cluster memory: ${peers} peers in ${setups.reduce((n, x) => n + x.rooms, 0)} rooms`);
    await sleep(1500);
    const idle = await measure('idle');
    const calls = await pool.each(
      ws,
      'meshCalls',
      { candidates: CFG.callSetupCandidates, concurrency: 25, timeoutMs: 30000 },
      300000,
    );
    const sum = (k) => calls.reduce((n, x) => n + x[k], 0);
    const callTotals = {
      sent: sum('sent'),
      acked: sum('acked'),
      delivered: sum('delivered'),
      expected: sum('expected'),
      roomsFailed: sum('roomsFailed'),
      ms: Math.max(...calls.map((x) => x.ms)),
      ackErrors: calls.reduce((a, x) => addCounts(a, x.ackErrors), {}),
      disconnects: calls.reduce((a, x) => addCounts(a, x.disconnects), {}),
    };
    log(
      `cluster memory: call setups: ${callTotals.delivered}/${callTotals.expected} signals delivered, ` +
        `${callTotals.acked} acked ok in ${(callTotals.ms / 1000).toFixed(1)}s, errors ${JSON.stringify(callTotals.ackErrors)}`,
    );
    await sleep(1000);
    const afterCalls = await measure('after call setup');
    const per1000 = (a, b) => ((b - a) * 1000) / peers;
    const kinds = {};
    for (const [stage, m] of [
      ['idle', idle],
      ['afterCalls', afterCalls],
    ]) {
      for (const [k, v] of Object.entries(m.keys.byKind)) {
        const e0 = empty.keys.byKind[k] || { keys: 0, bytes: 0 };
        (kinds[k] ||= {})[stage] = {
          keysPer1000: per1000(e0.keys, v.keys),
          bytesPer1000: per1000(e0.bytes, v.bytes),
        };
      }
    }
    return {
      prefix,
      peers,
      roomSize: CFG.meshRoomSize,
      candidatesEachWay: CFG.callSetupCandidates,
      setupErrors: setups.reduce((n, x) => n + sumCounts(x.connectErrors) + sumCounts(x.joinErrors), 0),
      calls: callTotals,
      empty,
      idle,
      afterCalls,
      per1000Peers: {
        idle: {
          keys: per1000(empty.keys.keys, idle.keys.keys),
          memoryUsageBytes: per1000(empty.keys.bytes, idle.keys.bytes),
          usedMemoryBytes: per1000(empty.info.usedMemory, idle.info.usedMemory),
        },
        afterCalls: {
          keys: per1000(empty.keys.keys, afterCalls.keys.keys),
          memoryUsageBytes: per1000(empty.keys.bytes, afterCalls.keys.bytes),
          usedMemoryBytes: per1000(empty.info.usedMemory, afterCalls.info.usedMemory),
        },
      },
      byKind: kinds,
      servers: g.servers.map(serverHealth),
    };
  } finally {
    await pool.each(range(pool.size), 'close', {}, 30000).catch((e) => log(`close: ${e.message}`));
    await g.stop();
    await cleanupRedis();
  }
}

/** Three instances; all traffic between peers on A, then between peers split across A and B. */
async function clusterLocality(conn) {
  const prefix = freshPrefix();
  redisPrefixes.add(prefix);
  const g = await startGroup('ours', 'cluster-locality', 3, prefix, conn);
  const [A, B, C] = g.servers;
  const n = CFG.localityPairs;
  const setup = (w, url, urlB, tag) =>
    pool.call(w, 'setup', { url, urlB, target: 'ours', pairs: n, concurrency: 20, prefix: tag }, 60000);
  try {
    await setup(0, A.url, A.url, 'loc-a');
    await setup(1, B.url, B.url, 'loc-b-idle');
    await setup(2, C.url, C.url, 'loc-c-idle');
    await setup(3, A.url, B.url, 'loc-ab');
    await sleep(500);
    const phase = async (w, label) => {
      const before = await Promise.all(g.servers.map(adapterCounters));
      const rc0 = conn.local ? cpuMicros(conn.pid) : await redisCpuMicros(conn.redis);
      const s0 = await pool.call(w, 'snapshot');
      await pool.call(w, 'rate', { rate: CFG.clusterRate, size: 'candidate' });
      await sleep(CFG.localityMs);
      await pool.call(w, 'stop', { drainMs: 3000 });
      const settleMs = await settle([w], 60000);
      const s1 = await pool.call(w, 'snapshot');
      await sleep(300);
      const after = await Promise.all(g.servers.map(adapterCounters));
      const rc1 = conn.local ? cpuMicros(conn.pid) : await redisCpuMicros(conn.redis);
      const d = snapDelta(s0, s1);
      const per = {};
      ['A', 'B', 'C'].forEach((name, i) => {
        per[name] = {
          published: after[i].published - before[i].published,
          receivedOther: after[i].receivedOther - before[i].receivedOther,
          receivedSelf: after[i].receivedSelf - before[i].receivedSelf,
          cpuMs: (after[i].cpuUs - before[i].cpuUs) / 1000,
        };
      });
      log(
        `cluster locality, ${label}: ${d.delivered} signals delivered; ` +
          Object.entries(per)
            .map(
              ([k, v]) =>
                `${k} published ${v.published} received other ${v.receivedOther} self ${v.receivedSelf} CPU ${v.cpuMs.toFixed(0)} ms`,
            )
            .join('; '),
      );
      return {
        label,
        sent: d.sent,
        delivered: d.delivered,
        errors: errorsOf(d),
        settleMs,
        instances: per,
        redisCpuMs: (rc1 - rc0) / 1000,
      };
    };
    return {
      prefix,
      pairsPerGroup: n,
      rate: CFG.clusterRate,
      seconds: CFG.localityMs / 1000,
      allOnA: await phase(0, `${n} pairs on A`),
      splitAB: await phase(3, `${n} pairs split A/B`),
      servers: g.servers.map(serverHealth),
    };
  } finally {
    await pool.each(range(pool.size), 'close', {}, 30000).catch((e) => log(`close: ${e.message}`));
    await g.stop();
    await cleanupRedis();
  }
}

// ------------------------------------------------------------------ scenario 7: sparse traffic (issue 13)

/**
 * The regime users live in: 1,000 pairs, each direction sending a few signals a second (open loop
 * at 5k, 15k and 25k candidates/s over all of them, so most reads carry one message), with call
 * setups (offer → answer, 10 + 10 candidates, every signal acked) arriving meanwhile from another
 * worker; then the same call setups under closed-loop saturation. Per target: its first worker
 * carries the traffic, its second the call setups.
 */
async function sparse() {
  const W = workersOf(2);
  const out = await withServers(
    'sparse',
    async (servers) => {
      const live = TARGETS.filter((t) => servers[t]);
      for (const t of live) {
        await setupPairs(servers[t], t, [W[t][0]], CFG.sparsePairs, 'sp');
        await pool.call(
          W[t][1],
          'setup',
          { url: servers[t].url, target: protocolFor(t), pairs: 10, prefix: 'spcs' },
          60000,
        );
      }
      const res = Object.fromEntries(live.map((t) => [t, { steps: [], saturation: null }]));
      let k = 0;
      for (const rate of [...CFG.sparseRates, ...(CFG.sparseSaturation ? ['saturation'] : [])]) {
        const order = k++ % 2 === 0 ? live : [...live].reverse();
        for (const t of order) {
          if (!servers[t].alive()) continue;
          const r = await undisturbed(`${t} sparse ${rate}`, () =>
            sparsePhase(servers[t], W[t][0], W[t][1], rate),
          );
          if (rate === 'saturation') res[t].saturation = r;
          else res[t].steps.push(r);
          log(
            `${t}: ${rate === 'saturation' ? `saturation (${CFG.sparseSaturationPairs} pairs × ${CFG.relayWindow} in flight)` : `${rate}/s over ${CFG.sparsePairs} pairs`} → ` +
              `${Math.round(r.deliveredPerSec)}/s delivered` +
              (r.latencyMs
                ? `, p50 ${r.latencyMs.p50.toFixed(2)} p99 ${r.latencyMs.p99.toFixed(2)} ms`
                : '') +
              `, server CPU ${r.serverCpuPercent.toFixed(0)}% (${r.serverCpuUsPerSignal.toFixed(1)} µs/signal); ` +
              `call setup p50 ${r.callSetup.ms.p50.toFixed(2)} p95 ${r.callSetup.ms.p95.toFixed(2)} ms ` +
              `(${r.callSetup.completed} done, ${r.callSetup.failures} failed); errors ${r.errors}, ${machineNote(r.machine)}`,
          );
          await sleep(300);
        }
      }
      for (const t of live) res[t].server = serverHealth(servers[t]);
      return res;
    },
    profileArgs,
    { pin: true },
  );
  await attachProfiles(out);
  return out;
}

/** One load level (a rate, or 'saturation') with call setups running through its window. */
async function sparsePhase(server, loadWorker, csWorker, rate) {
  const saturated = rate === 'saturation';
  if (saturated) {
    await pool.call(
      loadWorker,
      'relay',
      { size: 'candidate', window: CFG.relayWindow, pairs: CFG.sparseSaturationPairs },
      30000,
    );
  } else {
    await pool.call(loadWorker, 'rate', { rate, size: 'candidate' }, 30000);
  }
  await sleep(CFG.latencyWarmupMs);
  const c0 = server.cpuMicros();
  const mw = machineWindow();
  const t0 = performance.now();
  const r0 = await pool.call(loadWorker, 'record', { on: !saturated }, 30000);
  const cs0 = await pool.call(csWorker, 'snapshot', {}, 30000);
  const setups = pool.call(
    csWorker,
    'callSetup',
    { reps: 100000, candidates: CFG.callSetupCandidates, timeoutMs: 5000, maxMs: CFG.sparseMeasureMs },
    CFG.sparseMeasureMs + 30000,
  );
  await sleep(CFG.sparseMeasureMs);
  const r1 = await pool.call(loadWorker, 'record', { on: false }, 30000);
  const c1 = server.cpuMicros();
  const t1 = performance.now();
  const machine = mw();
  const cs = await setups;
  const cs1 = await pool.call(csWorker, 'snapshot', {}, 30000);
  await pool.call(loadWorker, 'stop', { drainMs: 3000 }, 30000);
  const samples = await pool.call(loadWorker, 'samples', {}, 30000);
  const d = snapDelta(sumSnap([r0]), sumSnap([r1]));
  const dcs = snapDelta(sumSnap([cs0]), sumSnap([cs1]));
  const secs = workerSecs([r0], [r1], t1 - t0);
  return {
    rate,
    seconds: +secs.toFixed(3),
    deliveredPerSec: d.delivered / secs,
    latencyMs: saturated ? null : summarize(samples),
    serverCpuPercent: (100 * (c1 - c0)) / 1e6 / ((t1 - t0) / 1000),
    // The call setups' signals are part of the server's work in the window, so they are counted.
    serverCpuUsPerSignal: (c1 - c0) / (d.delivered + dcs.delivered),
    callSetup: {
      completed: cs.times.length,
      failures: cs.failures,
      ms: summarize(cs.times),
    },
    errors: errorsOf(d) + errorsOf(dcs) + cs.failures,
    machine,
  };
}

// ------------------------------------------------------------------ scenario 8: call-setup throughput (issue 13)

/**
 * Many callers (pairs) set up calls back to back (bench/lib/call-flood.mjs): offer, answer, 10
 * candidates each way plus end-of-candidates, every signal acked; ours in `iceCandidates` batches
 * as the SDK sends them, the baseline one message per candidate. A warm-up flood, then the
 * measured one; targets alternate. Completed calls/s, setup p50/p95, server CPU per call (and so
 * calls per second a core could serve, which does not depend on whether the client saturated).
 */
async function callrate() {
  const W = workersOf(1);
  const out = await withServers(
    'callrate',
    async (servers) => {
      const live = TARGETS.filter((t) => servers[t]);
      for (const t of live) await setupPairs(servers[t], t, W[t], CFG.callratePairs, 'cr');
      const res = Object.fromEntries(live.map((t) => [t, { runs: [] }]));
      const args = { candidates: CFG.callSetupCandidates, batches: CFG.callrateBatches, timeoutMs: 10000 };
      let k = 0;
      for (let rep = 0; rep < CFG.callrateReps; rep++) {
        const order = k++ % 2 === 0 ? live : [...live].reverse();
        for (const t of order) {
          if (!servers[t].alive()) continue;
          const server = servers[t];
          const w = W[t][0];
          const r = await undisturbed(`${t} call-setup throughput`, async () => {
            await pool.call(w, 'callFlood', { ...args, durationMs: CFG.latencyWarmupMs }, 60000);
            const mw = machineWindow();
            const c0 = server.cpuMicros();
            const s0 = await pool.call(w, 'snapshot', {}, 30000);
            const flood = pool.call(w, 'callFlood', { ...args, durationMs: CFG.callrateMeasureMs }, 120000);
            await sleep(CFG.callrateMeasureMs);
            const c1 = server.cpuMicros();
            const machine = mw();
            const f = await flood;
            const s1 = await pool.call(w, 'snapshot', {}, 30000);
            const d = snapDelta(sumSnap([s0]), sumSnap([s1]));
            const secs = f.elapsedMs / 1000;
            const cpuUsPerCall = (c1 - c0) / Math.max(1, f.completed);
            return {
              callers: f.pairs,
              seconds: +secs.toFixed(3),
              callsPerSec: f.completed / secs,
              failures: f.failures,
              messagesPerCall: f.messagesPerCall,
              setupMs: summarize(f.times),
              serverCpuPercent: (100 * (c1 - c0)) / 1e6 / secs,
              serverCpuUsPerCall: cpuUsPerCall,
              callsPerCoreSec: 1e6 / cpuUsPerCall,
              errors: errorsOf(d) + f.failures,
              machine,
            };
          });
          res[t].runs.push(r);
          log(
            `${t}: call-setup throughput, ${r.callers} callers: ${Math.round(r.callsPerSec)} calls/s ` +
              `(${r.messagesPerCall} messages a call), setup p50 ${r.setupMs.p50.toFixed(2)} p95 ${r.setupMs.p95.toFixed(2)} ms, ` +
              `server CPU ${r.serverCpuPercent.toFixed(0)}% (${r.serverCpuUsPerCall.toFixed(0)} µs a call: ` +
              `${Math.round(r.callsPerCoreSec)} calls/s per core), errors ${r.errors}, ${machineNote(r.machine)}`,
          );
          await sleep(300);
        }
      }
      for (const t of live) {
        const runs = res[t].runs;
        // The run with the median throughput.
        res[t].median = [...runs].sort((a, b) => a.callsPerSec - b.callsPerSec)[
          Math.floor((runs.length - 1) / 2)
        ];
        res[t].server = serverHealth(servers[t]);
      }
      return res;
    },
    profileArgs,
    { pin: true },
  );
  await attachProfiles(out);
  return out;
}

// ------------------------------------------------------------------ table

const fmt = (v, d = 0) =>
  v === null || v === undefined || Number.isNaN(v)
    ? '—'
    : Number(v).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

function buildRows() {
  const S = results.scenarios;
  const rows = [];
  const row = (section, metric, unit, get, digits = 0, note = '') => {
    const o = S[section]?.ours ? get(S[section].ours) : null;
    const b = S[section]?.baseline ? get(S[section].baseline) : null;
    const ratio = typeof o === 'number' && typeof b === 'number' && b !== 0 ? o / b : null;
    rows.push({ section, metric, unit, ours: o ?? null, baseline: b ?? null, ratio, digits, note });
  };
  if (S.capacity) {
    row('capacity', `peers joined (of ${fmt(CFG.capacityPeers)})`, 'peers', (r) => r.peersJoined);
    row(
      'capacity',
      `peers still connected after ${CFG.capacityHoldMs / 1000}s`,
      'peers',
      (r) => r.peersConnectedAfterHold,
    );
    row('capacity', 'connect+join rate', 'peers/s', (r) => r.connectJoinPerSec);
    row('capacity', 'server CPU per connect+join', 'µs', (r) => r.serverCpuUsPerConnectJoin, 0);
    row('capacity', 'RSS per idle joined peer (after GC)', 'B', (r) => r.rssPerPeerBytes);
    row('capacity', 'heapUsed per idle joined peer (after GC)', 'B', (r) => r.heapUsedPerPeerBytes);
    row('capacity', 'empty server RSS (after GC)', 'MB', (r) => r.memEmpty.rss / 2 ** 20, 1);
    row('capacity', 'errors (connect/join/disconnect)', '', (r) => r.errors);
  }
  if (S.relay) {
    for (const pairs of CFG.relayPairs) {
      for (const size of CFG.relaySizes) {
        const ph = (r) => r.phases.find((p) => p.pairs === pairs && p.size === size);
        const label = `${pairs} pairs, ${size === 'sdp' ? 'SDP ~3 KB' : 'candidate ~150 B'}`;
        row('relay', `${label}: delivered`, 'signals/s', (r) => ph(r)?.deliveredPerSec);
        row('relay', `${label}: server CPU per signal`, 'µs', (r) => ph(r)?.serverCpuUsPerSignal, 1);
        row('relay', `${label}: server CPU busy`, '% of 1 core', (r) => ph(r)?.serverCpuPercent);
        row('relay', `${label}: errors`, '', (r) => ph(r)?.errors);
      }
    }
    row(
      'relay',
      'heapUsed after relay phases − before (after GC)',
      'MB',
      (r) => (r.memEnd.heapUsed - r.memStart.heapUsed) / 2 ** 20,
      1,
    );
  }
  if (S.latency) {
    for (const [k, label] of [
      ['at5k', '5k/s'],
      ['at25k', '25k/s'],
    ]) {
      const note =
        k === 'at5k' && CFG.latency5kRuns > 1 ? `run with the median p99 of ${CFG.latency5kRuns}` : undefined;
      for (const p of ['p50', 'p95', 'p99'])
        row('latency', `${label} ${p}`, 'ms', (r) => r[k]?.latencyMs[p], 2, note);
      row('latency', `${label} delivered`, 'signals/s', (r) => r[k]?.deliveredPerSec);
      row('latency', `${label} errors`, '', (r) => r[k]?.errors);
    }
    row(
      'latency',
      `highest step rate with p99 < ${CFG.p99LimitMs} ms`,
      'signals/s',
      (r) => r.maxRateP99Under50ms,
      0,
      `steps ${CFG.latencyRates.map((x) => x / 1000 + 'k').join(',')}`,
    );
  }
  if (S.callsetup) {
    for (const [k, label] of [
      ['idle', 'idle'],
      ['loaded', `under ${CFG.callSetupBackgroundRate / 1000}k/s`],
    ]) {
      row('callsetup', `${label} p50`, 'ms', (r) => r[k]?.ms.p50, 2);
      row('callsetup', `${label} p95`, 'ms', (r) => r[k]?.ms.p95, 2);
      row('callsetup', `${label} errors`, '', (r) => r[k]?.errors);
    }
    row(
      'callsetup',
      'background delivered during loaded run',
      'signals/s',
      (r) => r.loaded?.background?.deliveredPerSec,
    );
  }
  if (S.sparse) {
    const steps = [...CFG.sparseRates.map((r) => [r, `${r / 1000}k/s`]), ['saturation', 'saturation']];
    for (const [rate, label] of steps) {
      const st = (r) => (rate === 'saturation' ? r.saturation : r.steps.find((x) => x.rate === rate));
      const where =
        rate === 'saturation'
          ? `saturation (${CFG.sparseSaturationPairs} pairs)`
          : `${label} over ${fmt(CFG.sparsePairs)} pairs`;
      if (rate !== 'saturation') {
        row('sparse', `${where}: relay p50`, 'ms', (r) => st(r)?.latencyMs?.p50, 2);
        row('sparse', `${where}: relay p99`, 'ms', (r) => st(r)?.latencyMs?.p99, 2);
      }
      row('sparse', `${where}: delivered`, 'signals/s', (r) => st(r)?.deliveredPerSec);
      row('sparse', `${where}: server CPU per signal`, 'µs', (r) => st(r)?.serverCpuUsPerSignal, 1);
      row('sparse', `${where}: server CPU busy`, '% of 1 core', (r) => st(r)?.serverCpuPercent);
      row('sparse', `${where}: new call setup p50`, 'ms', (r) => st(r)?.callSetup.ms.p50, 2);
      row('sparse', `${where}: new call setup p95`, 'ms', (r) => st(r)?.callSetup.ms.p95, 2);
      row('sparse', `${where}: errors`, '', (r) => st(r)?.errors);
    }
  }
  if (S.callrate) {
    const m = (r) => r.median;
    const who = `${CFG.callratePairs} callers`;
    row('callrate', `${who}: completed calls`, 'calls/s', (r) => m(r)?.callsPerSec);
    row('callrate', `${who}: messages a call (sent)`, '', (r) => m(r)?.messagesPerCall);
    row('callrate', `${who}: setup p50`, 'ms', (r) => m(r)?.setupMs.p50, 1);
    row('callrate', `${who}: setup p95`, 'ms', (r) => m(r)?.setupMs.p95, 1);
    row('callrate', `${who}: server CPU per call`, 'µs', (r) => m(r)?.serverCpuUsPerCall);
    row(
      'callrate',
      `${who}: calls a core serves (1 s ÷ CPU per call)`,
      'calls/s',
      (r) => m(r)?.callsPerCoreSec,
    );
    row('callrate', `${who}: server CPU busy`, '% of 1 core', (r) => m(r)?.serverCpuPercent);
    row('callrate', `${who}: errors`, '', (r) => m(r)?.errors);
  }
  return rows;
}

function buildTargets() {
  const S = results.scenarios;
  const t = [];
  const add = (name, pass, detail) => t.push({ name, pass, detail });
  if (S.relay?.ours && S.relay?.baseline) {
    for (const po of S.relay.ours.phases) {
      const pb = S.relay.baseline.phases.find((p) => p.pairs === po.pairs && p.size === po.size);
      if (!pb) continue;
      const ratio = po.deliveredPerSec / pb.deliveredPerSec;
      const bound =
        pb.serverCpuPercent < 90 ? ' (baseline server not saturated: client-bound on shared cores)' : '';
      add(
        `relay throughput ≥ 0.9× baseline (${po.pairs} pairs, ${po.size})`,
        ratio >= 0.9,
        `${fmt(ratio, 2)}× (${fmt(po.deliveredPerSec)} vs ${fmt(pb.deliveredPerSec)} /s)${bound}`,
      );
    }
  }
  if (S.latency?.ours?.at5k && S.latency?.baseline?.at5k) {
    const o = S.latency.ours.at5k.latencyMs.p99;
    const b = S.latency.baseline.at5k.latencyMs.p99;
    const runs = (r) => (r.at5kP99s ?? []).map((x) => fmt(x, 2)).join(', ');
    const repeated = S.latency.ours.at5kP99s?.length > 1;
    add(
      'p99 at 5k/s ≤ baseline',
      o <= b,
      `${fmt(o, 2)} vs ${fmt(b, 2)} ms` +
        (repeated
          ? ` (median run); ours [runs ${runs(S.latency.ours)}] baseline [runs ${runs(S.latency.baseline)}]`
          : ''),
    );
    add('p99 at 5k/s < 5 ms', o < 5, `${fmt(o, 2)} ms`);
  }
  const SP = S.sparse;
  if (SP?.ours && SP?.baseline) {
    const at = (r, rate) => (rate === 'saturation' ? r.saturation : r.steps.find((x) => x.rate === rate));
    const o25 = at(SP.ours, 25000);
    const b25 = at(SP.baseline, 25000);
    if (o25 && b25) {
      const cpu = o25.serverCpuUsPerSignal / b25.serverCpuUsPerSignal;
      add(
        'open loop 25k/s over 1,000 pairs: server CPU per signal ≤ 1.15× baseline',
        cpu <= 1.15,
        `${fmt(cpu, 2)}× (${fmt(o25.serverCpuUsPerSignal, 1)} vs ${fmt(b25.serverCpuUsPerSignal, 1)} µs)`,
      );
      const p99 = o25.latencyMs.p99 / b25.latencyMs.p99;
      add(
        'open loop 25k/s over 1,000 pairs: p99 ≤ 2× baseline',
        p99 <= 2,
        `${fmt(p99, 2)}× (${fmt(o25.latencyMs.p99, 2)} vs ${fmt(b25.latencyMs.p99, 2)} ms)`,
      );
      const cs = o25.callSetup.ms.p50 / b25.callSetup.ms.p50;
      add(
        'call setup under 25k/s: p50 ≤ 2× baseline',
        cs <= 2,
        `${fmt(cs, 2)}× (${fmt(o25.callSetup.ms.p50, 2)} vs ${fmt(b25.callSetup.ms.p50, 2)} ms)`,
      );
    }
    const os = SP.ours.saturation;
    const bs = SP.baseline.saturation;
    if (os && bs) {
      const cs = os.callSetup.ms.p50 / bs.callSetup.ms.p50;
      add(
        'call setup under saturation: p50 ≤ 3× baseline',
        cs <= 3,
        `${fmt(cs, 2)}× (${fmt(os.callSetup.ms.p50, 2)} vs ${fmt(bs.callSetup.ms.p50, 2)} ms)`,
      );
    }
  }
  const CRT = S.callrate;
  if (CRT?.ours?.median && CRT?.baseline?.median) {
    const o = CRT.ours.median;
    const b = CRT.baseline.median;
    const bound =
      b.serverCpuPercent < 90 ? '; baseline server not saturated: per core is the fair figure' : '';
    add(
      'call setups per second at saturation ≥ 2× baseline',
      o.callsPerSec >= 2 * b.callsPerSec,
      `${fmt(o.callsPerSec / b.callsPerSec, 2)}× (${fmt(o.callsPerSec)} vs ${fmt(b.callsPerSec)} calls/s; per core ` +
        `${fmt(o.callsPerCoreSec / b.callsPerCoreSec, 2)}×: ${fmt(o.callsPerCoreSec)} vs ${fmt(b.callsPerCoreSec)}${bound})`,
    );
  }
  if (S.capacity?.ours && S.capacity?.baseline) {
    const o = S.capacity.ours;
    const b = S.capacity.baseline;
    add(
      'RSS per idle joined peer ≤ 1.3× baseline',
      o.rssPerPeerBytes <= 1.3 * b.rssPerPeerBytes,
      `${fmt(o.rssPerPeerBytes / b.rssPerPeerBytes, 2)}× (${fmt(o.rssPerPeerBytes)} vs ${fmt(b.rssPerPeerBytes)} B)`,
    );
    add(
      'heap per idle joined peer ≤ 1.3× baseline',
      o.heapUsedPerPeerBytes <= 1.3 * b.heapUsedPerPeerBytes,
      `${fmt(o.heapUsedPerPeerBytes / b.heapUsedPerPeerBytes, 2)}× (${fmt(o.heapUsedPerPeerBytes)} vs ${fmt(b.heapUsedPerPeerBytes)} B)`,
    );
  }
  const CR = S.cluster?.relay;
  if (CR?.redis2?.at5k) {
    const r = CR.redis2;
    add(
      `cross-instance p99 at ${CFG.clusterRate / 1000}k/s < ${CFG.clusterP99TargetMs} ms (2 instances on Redis)`,
      r.at5k.latencyMs.p99 < CFG.clusterP99TargetMs && r.at5k.deliveredPerSec >= 0.95 * CFG.clusterRate,
      `${fmt(r.at5k.latencyMs.p99, 2)} ms` +
        (r.at5kP99s.length > 1 ? ` (median run; runs ${r.at5kP99s.map((x) => fmt(x, 2)).join(', ')})` : '') +
        `, ${fmt(r.at5k.deliveredPerSec)} signals/s delivered`,
    );
  }
  const CL = S.cluster?.locality;
  if (CL) {
    const i = CL.allOnA.instances;
    const bc = i.B.receivedOther + i.B.receivedSelf + i.C.receivedOther + i.C.receivedSelf;
    add(
      'all traffic on A: B and C receive no adapter messages',
      bc === 0,
      `B ${i.B.receivedOther + i.B.receivedSelf}, C ${i.C.receivedOther + i.C.receivedSelf} (A published ${fmt(i.A.published)})`,
    );
  }
  if (S.capacity?.ours) {
    const o = S.capacity.ours;
    const detail = `${fmt(o.peersJoined)} joined, ${fmt(o.peersConnectedAfterHold)} connected after ${o.holdMs / 1000}s, ${o.errors} errors`;
    if (CFG.capacityPeers >= 10000) add('10,000 peers held without errors', o.held, detail);
    else
      add(
        `10,000 peers held without errors — NOT MEASURED (quick: ${fmt(CFG.capacityPeers)} peers)`,
        null,
        detail,
      );
  }
  return t;
}

function renderTable(rows) {
  const header = ['scenario', 'metric', 'unit', 'ours', 'baseline', 'ours/base'];
  const body = rows.map((r) => [
    r.section,
    r.metric,
    r.unit,
    fmt(r.ours, r.digits),
    fmt(r.baseline, r.digits),
    r.ratio === null ? '—' : fmt(r.ratio, 2) + '×',
  ]);
  const w = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i >= 3 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}

/** Fairness rows: per server/config, quiet, under the flood, and flood ÷ quiet. */
function buildFairnessRows() {
  const S = results.scenarios.fairness;
  if (!S) return [];
  const rows = [];
  for (const c of FAIR_CONFIGS) {
    const r = S[c.key];
    if (!r) continue;
    const row = (metric, unit, get, digits = 0, ratio = true) => {
      const q = r.quiet ? get(r.quiet) : null;
      const f = r.flood ? get(r.flood) : null;
      const x = ratio && typeof q === 'number' && typeof f === 'number' && q !== 0 ? f / q : null;
      rows.push({ config: c.label, metric, unit, quiet: q ?? null, flood: f ?? null, ratio: x, digits });
    };
    if (r.error) {
      rows.push({
        config: c.label,
        metric: `ERROR: ${r.error}`,
        unit: '',
        quiet: null,
        flood: null,
        ratio: null,
      });
      continue;
    }
    row('call setup (join+offer/answer) p50', 'ms', (p) => p.honest.setupMs.p50, 2);
    row('call setup p99', 'ms', (p) => p.honest.setupMs.p99, 2);
    row('call setups completed', '', (p) => p.honest.setupMs.count, 0, false);
    row('call setups failed', '', (p) => sumCounts(p.honest.roundFailures), 0, false);
    row('relay RTT (A→B→A) p50', 'ms', (p) => p.honest.rttMs.p50, 2);
    row('relay RTT p99', 'ms', (p) => p.honest.rttMs.p99, 2);
    row('relay round trips (lost)', '', (p) => p.honest.rttMs.count, 0, false);
    row(
      'honest refusals + disconnects',
      '',
      (p) =>
        sumCounts(p.honest.ackErrors) +
        sumCounts(p.honest.leaveErrors) +
        sumCounts(p.honest.disconnects) +
        p.honest.pingTimeouts,
      0,
      false,
    );
    row('server CPU', '% of 1 core', (p) => p.serverCpuPercent, 0);
    row('server event-loop delay p99', 'ms', (p) => p.serverLoopDelayMs?.p99, 1);
    row('honest worker event-loop delay p99', 'ms', (p) => p.honest.clientLoopDelayMs.p99, 1);
    const fl = (metric, unit, get, digits = 0) =>
      rows.push({
        config: c.label,
        metric,
        unit,
        quiet: null,
        flood: get(r.flood.flooder),
        ratio: null,
        digits,
      });
    fl('flooder: signals sent', '/s', (x) => x.sentPerSec);
    fl('flooder: acked ok', '/s', (x) => x.ackedPerSec);
    fl('flooder: refused RATE_LIMITED', '/s', (x) => x.rateLimitedPerSec);
    fl('flooder: disconnected by server', 'times', (x) => x.disconnects);
    fl('flooder: connections refused', '', (x) => sumCounts(x.connectErrors));
    fl('flooder worker CPU', '% of 1 core', (x) => x.workerCpuPercent);
  }
  return rows;
}

function renderFairness(rows) {
  const header = ['config', 'metric', 'unit', 'quiet', 'flood', 'flood/quiet'];
  let last = null;
  const body = rows.map((r) => {
    const cfg = r.config === last ? '' : r.config;
    last = r.config;
    return [
      cfg,
      r.metric,
      r.unit,
      fmt(r.quiet, r.digits),
      fmt(r.flood, r.digits),
      r.ratio === null ? '' : fmt(r.ratio, 2) + '×',
    ];
  });
  const w = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i >= 3 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ');
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}

/** Notes under the fairness table: limits that did not bite, failures, server log lines. */
function fairnessNotes() {
  const S = results.scenarios.fairness;
  const notes = [];
  if (!S) return notes;
  const on = S.limitsOn?.flood?.flooder;
  if (on && on.rateLimitedPerSec === 0 && on.disconnects === 0 && sumCounts(on.total.refused) === 0)
    notes.push(
      'NOTE: with limits on, the flooder was never refused nor disconnected: the server under test does not ' +
        'enforce the signal rate limit (yet?), so "limits on" measured the same as "limits off".',
    );
  for (const c of FAIR_CONFIGS) {
    const r = S[c.key];
    if (!r || r.error) continue;
    for (const ph of ['quiet', 'flood']) {
      const h = r[ph]?.honest;
      if (!h) continue;
      const bad = { ...h.roundFailures, ...h.ackErrors };
      if (h.pingTimeouts) bad.pingTimeouts = h.pingTimeouts;
      for (const [k, v] of Object.entries(h.leaveErrors)) bad[`leave:${k}`] = v;
      for (const [k, v] of Object.entries(h.disconnects)) bad[`disconnect:${k}`] = v;
      if (Object.keys(bad).length)
        notes.push(`${c.label}, ${ph}: honest pair failures ${JSON.stringify(bad)}`);
    }
    const f = r.flood?.flooder?.total;
    if (f)
      notes.push(
        `${c.label}, whole flood: ${fmt(f.sent)} sent, ${fmt(f.acked)} acked ok, refused ${JSON.stringify(f.refused)}, ` +
          `${fmt(f.unanswered)} unanswered (lost with a cut-off connection or still in flight), ${f.connects} flooder connections, ` +
          `disconnects ${JSON.stringify(f.disconnects)}` +
          (Object.keys(f.disconnectReasons).length
            ? ` (disconnectReason ${JSON.stringify(f.disconnectReasons)})`
            : '') +
          (Object.keys(f.connectErrors).length ? `, connect errors ${JSON.stringify(f.connectErrors)}` : '') +
          (Object.keys(f.joinErrors).length ? `, join errors ${JSON.stringify(f.joinErrors)}` : '') +
          (f.receiverConnects > 1
            ? `, receiver reconnected ${f.receiverConnects - 1}× ${JSON.stringify(f.receiverDisconnects)}`
            : '') +
          (f.roomsUsed > 1 ? `, ${f.roomsUsed} rooms used` : ''),
      );
    const h = r.server;
    if (h && (h.logWarn || h.logError || (h.exit && h.exit.code !== 0)))
      notes.push(
        `${c.label} server: ${h.logWarn} warn / ${h.logError} error log lines${h.exit ? `, exit ${JSON.stringify(h.exit)}` : ''} (${h.logFile})`,
      );
  }
  return notes;
}

/** The cluster scenario's tables: relay side by side, adapter counters per instance, Redis memory. */
function renderCluster() {
  const S = results.scenarios.cluster;
  if (!S) return [];
  const out = [];
  const table = (header, body, leftCols = 1) => {
    const w = header.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
    const line = (cells) =>
      cells.map((c, i) => (i >= leftCols ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join('  ');
    return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)].join('\n');
  };
  const R = S.relay;
  if (R) {
    const keys = CLUSTER_CONFIGS.map((c) => c.key).filter((k) => R[k]);
    const rows = [];
    // Redis's rows have no ratio: the in-memory server's "Redis CPU" is Redis idling.
    const row = (metric, get, digits = 0, withRatio = true) => {
      const v = keys.map((k) => (R[k] ? get(R[k]) : null));
      const ratio = withRatio && R.redis2 && R.memory ? get(R.redis2) / get(R.memory) : null;
      rows.push({ metric, values: v, ratio, digits });
    };
    const rate = `${CFG.clusterRate / 1000}k/s`;
    const medianNote = CFG.clusterRuns > 1 ? ` (run with the median p99 of ${CFG.clusterRuns})` : '';
    row(`${rate} one-way p50 (ms)${medianNote}`, (r) => r.at5k?.latencyMs.p50, 2);
    row(`${rate} p99 (ms)`, (r) => r.at5k?.latencyMs.p99, 2);
    row(`${rate} max (ms)`, (r) => r.at5k?.latencyMs.max, 1);
    if (CFG.clusterRuns > 1) {
      rows.push({
        metric: `${rate} p99 of each run (ms)`,
        values: keys.map((k) => R[k].at5kP99s.map((x) => fmt(x, 2)).join(', ')),
        ratio: null,
        raw: true,
      });
    }
    row(`${rate} delivered (signals/s)`, (r) => r.at5k?.deliveredPerSec);
    row(`${rate} server CPU per 1,000 signals, all instances (ms)`, (r) => r.at5k?.serverCpuUsPerSignal, 1);
    row(`${rate} Redis CPU per 1,000 signals (ms)`, (r) => r.at5k?.redisCpuUsPerSignal, 1, false);
    row(`${rate} server CPU, all instances (% of a core)`, (r) => r.at5k?.serverCpuPercent);
    row(`${rate} errors`, (r) => r.at5k?.errors);
    for (const other of CFG.clusterRates.filter((x) => x !== CFG.clusterRate)) {
      const at = (r) => r.otherRates?.find((x) => x.rate === other);
      row(`${other / 1000}k/s p50 / p99 (ms)`, (r) => at(r)?.latencyMs.p99, 2);
      rows[rows.length - 1].values = keys.map((k) =>
        at(R[k]) ? `${fmt(at(R[k]).latencyMs.p50, 2)} / ${fmt(at(R[k]).latencyMs.p99, 2)}` : '—',
      );
      rows[rows.length - 1].raw = true;
      row(`${other / 1000}k/s delivered (signals/s)`, (r) => at(r)?.deliveredPerSec);
      row(`${other / 1000}k/s server CPU per 1,000 signals (ms)`, (r) => at(r)?.serverCpuUsPerSignal, 1);
    }
    const sat = `saturation, ${CFG.clusterRelayPairs} pairs × ${CFG.relayWindow} in flight each way`;
    row(`${sat} (signals/s)`, (r) => r.saturation?.deliveredPerSec);
    row(`  server CPU per 1,000 signals (ms)`, (r) => r.saturation?.serverCpuUsPerSignal, 1);
    row(`  server CPU, all instances (% of a core)`, (r) => r.saturation?.serverCpuPercent);
    row(`  Redis CPU per 1,000 signals (ms)`, (r) => r.saturation?.redisCpuUsPerSignal, 1, false);
    row(`  Redis CPU (% of a core)`, (r) => r.saturation?.redisCpuPercent, 0, false);
    row(`  errors`, (r) => r.saturation?.errors);
    results.clusterTable = rows.map((r) => ({
      metric: r.metric,
      ...Object.fromEntries(keys.map((k, i) => [k, r.values[i]])),
      redis2OverMemory: r.ratio,
    }));
    const header = [
      'metric',
      ...keys.map((k) => R[k].label.replace(/^ours, /, '')),
      '2 on Redis ÷ in memory',
    ];
    const body = rows.map((r) => [
      r.metric,
      ...r.values.map((v) => (r.raw ? v : fmt(v, r.digits))),
      r.ratio === null || !Number.isFinite(r.ratio) ? '' : fmt(r.ratio, 2) + '×',
    ]);
    out.push(
      `Several instances on Redis (${S.redisUrl}, Redis ${S.redisVersion}; Redis CPU from ${S.redisCpuFrom}): ` +
        `${CFG.clusterPairs} pairs per configuration, candidate signals, acked, open loop at ${CFG.clusterRate}/s ` +
        `(${CFG.latencyMeasureMs / 1000}s windows), configurations alternated run by run; ` +
        `"2 on Redis": every pair's a on instance A and b on instance B, so every signal crosses instances.`,
    );
    out.push(table(header, body));
  }
  const L = S.locality;
  if (L) {
    const body = [];
    for (const ph of [L.allOnA, L.splitAB]) {
      for (const [name, v] of Object.entries(ph.instances))
        body.push([
          ph === L.allOnA ? `all on A` : `split A/B`,
          name,
          fmt(v.published),
          fmt(v.receivedOther),
          fmt(v.receivedSelf),
          fmt(v.cpuMs),
        ]);
      body.push(['', 'signals delivered / Redis CPU ms', fmt(ph.delivered), '', '', fmt(ph.redisCpuMs)]);
    }
    out.push('');
    out.push(
      `Locality: three instances A, B, C (${L.pairsPerGroup} idle pairs on B and on C); ${L.pairsPerGroup} pairs on A, ` +
        `then ${L.pairsPerGroup} pairs split across A and B, at ${L.rate}/s for ${L.seconds}s each. Adapter counters from each instance's /metrics:`,
    );
    out.push(
      table(
        ['traffic', 'instance', 'published', 'received origin=other', 'received origin=self', 'CPU ms'],
        body,
        2,
      ),
    );
  }
  const M = S.memory;
  if (M) {
    const p = M.per1000Peers;
    const kib = (b) => fmt(b / 1024, 1);
    out.push('');
    out.push(
      `Redis memory: ${fmt(M.peers)} peers in rooms of ${M.roomSize} on two instances; each pair of a room set up a call ` +
        `(offer, answer, ${M.candidatesEachWay} candidates each way: ${fmt(M.calls.delivered)} signals delivered, ` +
        `${fmt(M.calls.acked)} acked ok). Per 1,000 peers, above the empty cluster:`,
    );
    const kinds = Object.keys(M.byKind).sort(
      (a, b) => (M.byKind[b].afterCalls?.bytesPer1000 || 0) - (M.byKind[a].afterCalls?.bytesPer1000 || 0),
    );
    const body = [
      ['keys under the prefix', fmt(p.idle.keys), fmt(p.afterCalls.keys)],
      ['MEMORY USAGE summed (KiB)', kib(p.idle.memoryUsageBytes), kib(p.afterCalls.memoryUsageBytes)],
      ['INFO used_memory delta (KiB)', kib(p.idle.usedMemoryBytes), kib(p.afterCalls.usedMemoryBytes)],
      ...kinds.map((k) => [
        `  ${k}: keys / KiB`,
        `${fmt(M.byKind[k].idle?.keysPer1000 ?? 0)} / ${kib(M.byKind[k].idle?.bytesPer1000 ?? 0)}`,
        `${fmt(M.byKind[k].afterCalls?.keysPer1000 ?? 0)} / ${kib(M.byKind[k].afterCalls?.bytesPer1000 ?? 0)}`,
      ]),
    ];
    out.push(table(['per 1,000 peers', 'idle, joined', 'after call setup'], body));
  }
  return out;
}

let finished = false;
async function finish(partial = false) {
  if (finished) return;
  finished = true;
  results.meta.finishedAt = new Date().toISOString();
  results.meta.durationSec = +((performance.now() - started) / 1000).toFixed(1);
  results.meta.partial = partial;
  const rows = buildRows();
  const targets = buildTargets();
  results.table = rows;
  results.targets = targets;
  const out = [];
  out.push('');
  out.push(
    `Switchboard load benchmark — ${QUICK ? 'QUICK mode (fewer peers/pairs, shorter phases)' : 'full run'}${partial ? ' — PARTIAL' : ''}`,
  );
  out.push(
    `Node ${process.version}, ${CORES} cores (${results.meta.cpu}); the server and the load workers ` +
      `(${CFG.relayWorkers} per server for relay, ${CFG.latencyWorkers} for latency, 2 for call setup, ${CFG.capacityWorkers} for capacity) share these ${CORES} cores, so client CPU limits some figures.`,
  );
  out.push(
    `Capacity runs one server at a time; relay, latency and call setup run both servers side by side and alternate ` +
      `ours/baseline phase by phase${CFG.relayReps > 1 ? ` (relay: ${CFG.relayReps} runs each, ABBA order, median shown)` : ''}.`,
  );
  out.push(
    BASELINE_ENTRY
      ? `Baseline: OURS built at ${BASELINE_ENTRY} (commit ${results.meta.baselineCommit}), run and loaded exactly as ours ` +
          `(--baseline-main); "ours" is ${path.relative(ROOT, OURS_ENTRY) || OURS_ENTRY}` +
          `${results.meta.oursCommit ? ` (commit ${results.meta.oursCommit})` : ''}.`
      : `Baseline: bare Socket.IO ${sioVersion()} relay (bench/baseline-server.mjs), WebSocket only, signals and joins acked like ours; ` +
          `no validation, de-duplication, sequencing or logging.`,
  );
  if (rows.length)
    out.push(
      LIMITS === 'off'
        ? `Ours runs with its per-IP connection limits off and its rate limits raised out of reach (still checked per signal) in these scenarios (all load comes from 127.0.0.1; --limits=defaults keeps the defaults).`
        : `Ours runs with its default rate and per-IP connection limits (--limits=defaults): all load comes from 127.0.0.1, so they cut these scenarios short.`,
    );
  out.push(
    `Capacity ${fmt(CFG.capacityPeers)} peers in 2-peer rooms; relay window ${CFG.relayWindow}/direction, ${CFG.relayMeasureMs / 1000}s windows; ` +
      `latency over ${CFG.latencyPairs} pairs, ${CFG.latencyMeasureMs / 1000}s per rate, one-way send→receive; call setup = offer→answer + ` +
      `${CFG.callSetupCandidates}+${CFG.callSetupCandidates} candidates, ${CFG.callSetupReps} reps.`,
  );
  if (rows.length) {
    out.push('');
    out.push(renderTable(rows));
  }
  const fairRows = buildFairnessRows();
  results.fairnessTable = fairRows;
  if (fairRows.length) {
    out.push('');
    out.push(
      `Fairness: an honest pair (${CFG.fairHonestIp}; ${CFG.fairCallPairs} call-setup pairs, a round every ` +
        `${CFG.fairRoundPeriodMs / CFG.fairCallPairs} ms, + 1 ping pair) quiet, then while one flooder (${CFG.fairFlooderIp}, ` +
        `own worker, ${CFG.fairFloodWindow} unanswered max) sends candidates to a silent receiver; ${CFG.fairPhaseMs / 1000}s per phase. ` +
        `"limits off" = ${Object.entries(LIMITS_OFF)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}; "limits on" = defaults.`,
    );
    out.push(renderFairness(fairRows));
    for (const n of fairnessNotes()) out.push(`  ${n}`);
  }
  const clusterLines = renderCluster();
  if (clusterLines.length) {
    out.push('');
    out.push(...clusterLines);
  }
  out.push('');
  out.push('Targets:');
  for (const t of targets)
    out.push(`  [${t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL'}] ${t.name}: ${t.detail}`);
  for (const tg of TARGETS) {
    for (const [name, sc] of Object.entries(results.scenarios)) {
      if (name === 'fairness' || name === 'cluster') continue; // noted under their own tables
      const h = sc[tg]?.server;
      if (h && (h.logWarn || h.logError || (h.exit && h.exit.code !== 0))) {
        out.push(
          `  note: ${tg} server in ${name}: ${h.logWarn} warn / ${h.logError} error log lines${h.exit ? `, exit ${JSON.stringify(h.exit)}` : ''} (${h.logFile})`,
        );
      }
    }
  }
  if (foreignPhases.length) {
    out.push('  WARNING: other processes used CPU during these phases (figures disturbed):');
    for (const f of foreignPhases) out.push(`    ${f}`);
  }
  results.foreignLoad = foreignPhases;
  if (calibration.length >= 2) {
    const ms = calibration.map((c) => c.ms).sort((a, b) => a - b);
    const med = ms[Math.floor(ms.length / 2)];
    results.calibration = { samples: calibration, medianMs: med, minMs: ms[0], maxMs: ms[ms.length - 1] };
    out.push(
      `  machine speed check (fixed JSON job before each relay/latency phase): median ${med.toFixed(1)} ms, ` +
        `range ${ms[0].toFixed(1)}–${ms[ms.length - 1].toFixed(1)} ms (${((100 * (ms[ms.length - 1] - ms[0])) / ms[0]).toFixed(0)}% spread)`,
    );
  }
  for (const [key, r] of Object.entries(results.scenarios.cluster?.relay || {})) {
    (r.profiles || []).forEach((p, i) => {
      out.push('');
      out.push(`cluster ${key}${r.profiles.length > 1 ? ` instance ${'ABC'[i]}` : ''}:`);
      out.push(
        p.error
          ? `CPU profile: ${p.error}`
          : formatProfile({ ...p, functions: p.functions.slice(0, 15), packages: p.packages.slice(0, 10) }),
      );
    });
  }
  for (const scenario of ['relay', 'latency']) {
    for (const tg of TARGETS) {
      const p = results.scenarios[scenario]?.[tg]?.profile;
      if (!p) continue;
      out.push('');
      out.push(`${tg} server, ${scenario} scenario:`);
      out.push(
        p.error
          ? `CPU profile: ${p.error}`
          : formatProfile({ ...p, functions: p.functions.slice(0, 15), packages: p.packages.slice(0, 10) }),
      );
    }
  }
  for (const tg of TARGETS) {
    if (results.meta[`${tg}NoListeningLine`]) {
      out.push(
        `  note: the ${tg} server printed no "listening on" line at LOG_LEVEL=warn; its port was read from /proc.`,
      );
    }
  }
  if (HEAP_DIR)
    out.push(
      '  note: --heap-snapshot was on: writing snapshots raises RSS, so the RSS figures are not comparable.',
    );
  for (const e of results.errors) out.push(`  error: ${e}`);
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${stamp}${QUICK ? '-quick' : ''}.json`);
  const json = JSON.stringify(results, null, 2);
  fs.writeFileSync(file, json);
  fs.writeFileSync(path.join(dir, 'latest.json'), json);
  out.push('');
  out.push(
    `Results: ${path.relative(ROOT, file)} (and bench/results/latest.json); server logs in ${logDir}; ${results.meta.durationSec}s.`,
  );
  console.log(out.join('\n'));
  if (pool) await pool.close().catch(() => {});
  if (partial) killChildren();
  await cleanupRedis();
  if (cleanupConn) cleanupConn.redis.disconnect();
}

function sioVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'socket.io', 'package.json'), 'utf8'))
      .version;
  } catch {
    return '4';
  }
}

// ------------------------------------------------------------------ main

async function main() {
  const fdLimit = Number(execFileSync('sh', ['-c', 'ulimit -n']).toString().trim());
  const need = CFG.capacityPeers + 1000;
  results.meta.ulimitN = fdLimit;
  if (ONLY.has('capacity') && Number.isFinite(fdLimit) && fdLimit < need) {
    console.error(
      `warning: ulimit -n is ${fdLimit}; ${CFG.capacityPeers} peers need about ${need} descriptors in the server process. Run via npm run bench (raises it to the hard limit).`,
    );
  }
  if (TARGETS.includes('ours') && !fs.existsSync(OURS_ENTRY)) {
    console.error(
      `error: ${path.relative(ROOT, OURS_ENTRY)} not found; build the server first (npx tsc -b packages/server).`,
    );
    process.exit(2);
  }
  if (OURS_ENTRY !== OURS_MAIN) log(`ours: ${OURS_ENTRY} (commit ${results.meta.oursCommit})`);
  if (BASELINE_ENTRY) {
    if (!fs.existsSync(BASELINE_ENTRY)) {
      console.error(`error: --baseline-main ${BASELINE_ENTRY} not found`);
      process.exit(2);
    }
    log(`baseline: ours built at ${BASELINE_ENTRY} (commit ${results.meta.baselineCommit})`);
  }
  log(`${QUICK ? 'quick' : 'full'} run; ${CORES} cores shared by server and load workers; logs in ${logDir}`);
  calibrate('warm-up');
  calibrate('warm-up');
  calibration.length = 0;
  if (HEAP_DIR) fs.mkdirSync(HEAP_DIR, { recursive: true });
  pool = new WorkerPool(
    Math.max(
      CFG.capacityWorkers,
      TARGETS.length * Math.max(CFG.relayWorkers, CFG.latencyWorkers, 2),
      ONLY.has('cluster') ? CLUSTER_CONFIGS.length : 0,
    ),
  );
  if (ONLY.has('capacity')) {
    // One target at a time: 10,000 sockets each, and memory is measured per server.
    results.scenarios.capacity = {};
    for (const target of TARGETS) {
      try {
        results.scenarios.capacity[target] = await capacity(target);
      } catch (err) {
        const msg = `capacity/${target}: ${err.message}`;
        log(`ERROR ${msg}`);
        results.errors.push(msg);
        results.scenarios.capacity[target] = null;
        await pool.each(range(pool.size), 'close', {}, 30000).catch(() => {});
      }
    }
  }
  for (const [name, fn] of Object.entries({
    relay,
    latency,
    callsetup,
    sparse,
    callrate,
    fairness,
    cluster,
  })) {
    if (!ONLY.has(name)) continue;
    try {
      results.scenarios[name] = await fn();
    } catch (err) {
      const msg = `${name}: ${err.message}`;
      log(`ERROR ${msg}`);
      results.errors.push(msg);
      results.scenarios[name] = results.scenarios[name] || {};
      await pool.each(range(pool.size), 'close', {}, 30000).catch(() => {});
    }
  }
  await finish(false);
}

main()
  .then(() => process.exit(results.errors.length ? 1 : 0))
  .catch(async (err) => {
    console.error(err);
    results.errors.push(String(err && err.message));
    await finish(true).catch(() => {});
    process.exit(1);
  });
