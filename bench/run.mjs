#!/usr/bin/env node
/**
 * Switchboard load benchmark (issue 4). Not a test: never run it from CI.
 *
 *   npm run bench                 full run (< 10 min)
 *   npm run bench -- --quick      quick run (~1 min; also BENCH_QUICK=1)
 *
 * Options: --only=capacity,relay,latency,callsetup  --targets=ours,baseline
 *          --profile[=DIR]  run our server with --cpu-prof during the relay scenario and summarise it
 *          --peers=N --workers=N --window=N (overrides)
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
import { startServer, children, ROOT, OURS_MAIN, cpuWindow } from './lib/server-proc.mjs';
import { WorkerPool } from './lib/pool.mjs';
import { summarize, addCounts, sumCounts } from './lib/stats.mjs';
import { summarizeProfile, formatProfile } from './lib/cpuprofile-summary.mjs';

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
const ONLY = new Set(opt('only', 'capacity,relay,latency,callsetup').split(','));
const TARGETS = opt('targets', 'ours,baseline').split(',');
const PROFILE_DIR = flag('profile') ? opt('profile', '') || '/tmp/prof' : null;

const CFG = QUICK
  ? {
      capacityPeers: 2000,
      capacityWorkers: 4,
      capacityHoldMs: 2000,
      relayPairs: [100, 500],
      relaySizes: ['candidate', 'sdp'],
      relayWarmupMs: 500,
      relayMeasureMs: 2000,
      latencyPairs: 100,
      latencyRates: [5000, 10000, 25000, 40000],
      latencyWarmupMs: 500,
      latencyMeasureMs: 1500,
      callSetupReps: 50,
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
      latencyPairs: 100,
      latencyRates: [5000, 10000, 15000, 20000, 25000, 30000, 40000, 50000],
      latencyWarmupMs: 1000,
      latencyMeasureMs: 4000,
      callSetupReps: 200,
      deadlineMs: 570000,
    };
CFG.loadWorkers = Number(opt('workers', process.env.BENCH_WORKERS || 2));
CFG.latencyWorkers = Number(opt('latency-workers', process.env.BENCH_LATENCY_WORKERS || 1));
CFG.relayWindow = Number(opt('window', process.env.BENCH_WINDOW || 8));
if (opt('peers')) CFG.capacityPeers = Number(opt('peers'));
CFG.callSetupCandidates = 10;
CFG.callSetupBackgroundRate = 5000;
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
    process.exit(130);
  });
}
const deadline = setTimeout(() => {
  console.error(`\nbench: overall deadline of ${CFG.deadlineMs / 1000}s reached; writing partial results`);
  finish(true).finally(() => process.exit(1));
}, CFG.deadlineMs);
deadline.unref();

// ------------------------------------------------------------------ helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s]`, ...a);
const diffCounts = (a, b) => {
  const out = {};
  for (const k of new Set([...Object.keys(a || {}), ...Object.keys(b || {})])) {
    const d = (b?.[k] || 0) - (a?.[k] || 0);
    if (d) out[k] = d;
  }
  return out;
};
const sumSnap = (snaps) => {
  const s = { sent: 0, acked: 0, delivered: 0, timeouts: 0, lateAcks: 0, duplicates: 0, queued: 0, skipped: 0, pending: 0 };
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
  for (const k of ['sent', 'acked', 'delivered', 'timeouts', 'lateAcks', 'duplicates', 'queued', 'skipped']) out[k] = b[k] - a[k];
  out.ackErrors = diffCounts(a.ackErrors, b.ackErrors);
  out.disconnects = diffCounts(a.disconnects, b.disconnects);
  return out;
};
const errorsOf = (d) => sumCounts(d.ackErrors) + (d.timeouts || 0) + sumCounts(d.disconnects);
const range = (n) => [...Array(n).keys()];
const split = (total, parts) => range(parts).map((i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));

let pool = null;
/** Starts a machine CPU window over the bench's own processes; call the result to read it. */
const machineWindow = (server) =>
  cpuWindow(() => [process.pid, server.pid, ...(pool ? pool.workers.filter((w) => !w.exited).map((w) => w.proc.pid) : [])]);
const machineNote = (m) =>
  `foreign CPU ${m.foreignPct.toFixed(0)}%${m.stealPct >= 5 ? `, steal ${m.stealPct.toFixed(0)}%` : ''}`;
const foreignPhases = [];
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
    config: CFG,
    note: `client workers and the server share this machine's ${CORES} cores`,
    logDir,
  },
  scenarios: {},
  errors: [],
};

function gitCommit() {
  try {
    const c = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: ROOT }).toString().trim();
    return dirty ? `${c} (packages/ modified)` : c;
  } catch {
    return null;
  }
}

async function withServer(target, label, fn, nodeArgs = []) {
  const logFile = path.join(logDir, `${target}-${label}.log`);
  const server = await startServer({ target, logFile, nodeArgs });
  log(`${target}: server pid ${server.pid} at ${server.url} (${label})`);
  try {
    return await fn(server);
  } finally {
    if (pool) await pool.each(range(pool.size), 'close', {}, 30000).catch((e) => log(`close: ${e.message}`));
    const exit = await server.stop();
    if (server.logStats.warn || server.logStats.error) {
      log(`${target}: server logged ${server.logStats.warn} warn / ${server.logStats.error} error lines (${logFile})`);
    }
    void exit;
  }
}

function serverHealth(server) {
  return {
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
    const cpu0 = server.cpuMicros();
    const mw = machineWindow(server);
    const t0 = performance.now();
    const perWorker = split(Math.floor(peers / 2), ws.length);
    const setups = await pool.each(
      ws,
      'setup',
      (i) => ({ url: server.url, target, pairs: perWorker[i], concurrency: CFG.setupConcurrency, prefix: 'cap' }),
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
    log(`${target}: ${joined}/${peers} peers joined in ${(connectMs / 1000).toFixed(1)}s; holding ${CFG.capacityHoldMs / 1000}s`);
    await sleep(CFG.capacityHoldMs);
    const status = await pool.each(ws, 'status', {}, 30000);
    const connected = status.reduce((n, s) => n + s.connected, 0);
    const disconnects = {};
    for (const s of status) addCounts(disconnects, s.disconnects);
    const loaded = await server.memAfterGc();
    const per = (k) => (joined ? (loaded[k] - empty[k]) / joined : NaN);
    const errors = sumCounts(connectErrors) + sumCounts(joinErrors) + sumCounts(disconnects) + (joined < peers ? 0 : 0);
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
      held: joined === peers && connected === peers && errors === 0,
      server: serverHealth(server),
    };
  });
}

// ------------------------------------------------------------------ scenario 2: relay throughput

async function relay(target) {
  const ws = range(CFG.loadWorkers);
  const nodeArgs = target === 'ours' && PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];
  if (nodeArgs.length) fs.mkdirSync(PROFILE_DIR, { recursive: true });
  const profBefore = PROFILE_DIR && fs.existsSync(PROFILE_DIR) ? new Set(fs.readdirSync(PROFILE_DIR)) : new Set();
  const out = await withServer(
    target,
    'relay',
    async (server) => {
      const phases = [];
      const memStart = await server.memAfterGc();
      for (const pairCount of CFG.relayPairs) {
        const perWorker = split(pairCount, ws.length);
        const setups = await pool.each(
          ws,
          'setup',
          (i) => ({ url: server.url, target, pairs: perWorker[i], concurrency: CFG.setupConcurrency, prefix: `rl${pairCount}` }),
          60000,
        );
        const made = setups.reduce((n, s) => n + s.pairs, 0);
        const setupErrors = setups.reduce((n, s) => n + sumCounts(s.connectErrors) + sumCounts(s.joinErrors), 0);
        for (const size of CFG.relaySizes) {
          if (!server.alive()) break;
          await pool.each(ws, 'relay', { size, window: CFG.relayWindow }, 30000);
          await sleep(CFG.relayWarmupMs);
          const c0 = server.cpuMicros();
          const mw = machineWindow(server);
          const t0 = performance.now();
          const s0 = sumSnap(await pool.each(ws, 'snapshot', {}, 30000));
          await sleep(CFG.relayMeasureMs);
          const machine = mw();
          noteForeign(`${target} relay ${pairCount}/${size}`, machine);
          const c1 = server.cpuMicros();
          const t1 = performance.now();
          const s1 = sumSnap(await pool.each(ws, 'snapshot', {}, 30000));
          const end = sumSnap(await pool.each(ws, 'stop', { drainMs: 5000 }, 30000));
          const d = snapDelta(s0, s1);
          const secs = (t1 - t0) / 1000;
          const mem = await server.memAfterGc();
          const phase = {
            pairs: pairCount,
            pairsMade: made,
            size,
            window: CFG.relayWindow,
            inFlightTotal: made * 2 * CFG.relayWindow,
            seconds: +secs.toFixed(3),
            deliveredPerSec: d.delivered / secs,
            ackedPerSec: d.acked / secs,
            serverCpuUsPerSignal: (c1 - c0) / d.delivered,
            serverCpuPercent: (100 * (c1 - c0)) / 1e6 / secs,
            window_delta: d,
            errors: errorsOf(d) + setupErrors,
            undrainedAfterStop: end.pending,
            machine,
            heapUsedAfterGc: mem.heapUsed,
            rssAfterGc: mem.rss,
          };
          phases.push(phase);
          log(
            `${target}: relay ${pairCount} pairs ${size}: ${Math.round(phase.deliveredPerSec)} signals/s, ` +
              `${phase.serverCpuUsPerSignal.toFixed(1)} µs CPU/signal, server CPU ${phase.serverCpuPercent.toFixed(0)}%, errors ${phase.errors}, ${machineNote(machine)}`,
          );
        }
        await pool.each(ws, 'close', {}, 30000);
        await sleep(300);
      }
      const memEnd = await server.memAfterGc();
      return { phases, memStart, memEnd, server: serverHealth(server) };
    },
    nodeArgs,
  );
  if (nodeArgs.length) {
    await sleep(500);
    const fresh = fs
      .readdirSync(PROFILE_DIR)
      .filter((f) => f.endsWith('.cpuprofile') && !profBefore.has(f))
      .map((f) => path.join(PROFILE_DIR, f));
    if (fresh.length) {
      out.profile = summarizeProfile(fresh[fresh.length - 1], 20);
    } else {
      out.profile = { error: `no .cpuprofile written in ${PROFILE_DIR}` };
    }
  }
  return out;
}

// ------------------------------------------------------------------ scenario 3: latency at fixed rates

async function ratePhase(server, ws, rate, { warmupMs, measureMs }) {
  const per = split(rate, ws.length);
  await pool.each(ws, 'rate', (i) => ({ rate: per[ws.indexOf(i)], size: 'candidate' }), 30000);
  await sleep(warmupMs);
  const c0 = server.cpuMicros();
  const mw = machineWindow(server);
  const t0 = performance.now();
  const [r0] = await Promise.all([pool.each(ws, 'record', { on: true }, 30000), server.loopDelay(true)]);
  const s0 = sumSnap(r0);
  await sleep(measureMs);
  const [r1, serverLoop] = await Promise.all([pool.each(ws, 'record', { on: false }, 30000), server.loopDelay(true)]);
  const s1 = sumSnap(r1);
  const clientLoopMaxP99 = Math.max(...r1.map((x) => x.loopDelay.p99));
  const clientLoopMax = Math.max(...r1.map((x) => x.loopDelay.max));
  const machine = mw();
  const t1 = performance.now();
  const c1 = server.cpuMicros();
  await pool.each(ws, 'stop', { drainMs: 3000 }, 30000);
  const all = await pool.each(ws, 'samples', {}, 30000);
  const lat = summarize(all.flat());
  const d = snapDelta(s0, s1);
  const secs = (t1 - t0) / 1000;
  return {
    rate,
    seconds: +secs.toFixed(3),
    deliveredPerSec: d.delivered / secs,
    latencyMs: lat,
    serverCpuPercent: (100 * (c1 - c0)) / 1e6 / secs,
    window_delta: d,
    errors: errorsOf(d),
    machine,
    serverLoopDelayMs: serverLoop,
    clientLoopDelayMs: { p99: clientLoopMaxP99, max: clientLoopMax },
  };
}

async function latency(target) {
  const ws = range(CFG.latencyWorkers);
  return withServer(target, 'latency', async (server) => {
    const perWorker = split(CFG.latencyPairs, ws.length);
    await pool.each(
      ws,
      'setup',
      (i) => ({ url: server.url, target, pairs: perWorker[i], concurrency: CFG.setupConcurrency, prefix: 'lat' }),
      60000,
    );
    const steps = [];
    let maxRateUnderLimit = 0;
    let searching = true;
    for (const rate of CFG.latencyRates) {
      const fixed = rate === 5000 || rate === 25000;
      if (!searching && !fixed) continue;
      if (!server.alive()) break;
      const r = await ratePhase(server, ws, rate, { warmupMs: CFG.latencyWarmupMs, measureMs: CFG.latencyMeasureMs });
      r.sustained = r.deliveredPerSec >= 0.95 * rate;
      r.underLimit = r.latencyMs.p99 < CFG.p99LimitMs && r.sustained && r.errors === 0;
      steps.push(r);
      noteForeign(`${target} latency ${rate}/s`, r.machine);
      log(
        `${target}: ${rate}/s → ${Math.round(r.deliveredPerSec)}/s delivered, p50 ${r.latencyMs.p50.toFixed(2)} ` +
          `p95 ${r.latencyMs.p95.toFixed(2)} p99 ${r.latencyMs.p99.toFixed(2)} ms, server CPU ${r.serverCpuPercent.toFixed(0)}%, errors ${r.errors}, ${machineNote(r.machine)}; ` +
          `loop delay p99/max server ${r.serverLoopDelayMs.p99.toFixed(1)}/${r.serverLoopDelayMs.max.toFixed(1)} ` +
          `client ${r.clientLoopDelayMs.p99.toFixed(1)}/${r.clientLoopDelayMs.max.toFixed(1)} ms`,
      );
      if (searching) {
        if (r.underLimit) maxRateUnderLimit = rate;
        else searching = false;
      }
      await sleep(300);
    }
    return {
      pairs: CFG.latencyPairs,
      steps,
      at5k: steps.find((s) => s.rate === 5000) || null,
      at25k: steps.find((s) => s.rate === 25000) || null,
      maxRateP99Under50ms: maxRateUnderLimit,
      searchExhausted: searching,
      server: serverHealth(server),
    };
  });
}

// ------------------------------------------------------------------ scenario 4: call setup

async function callsetup(target) {
  const bg = range(CFG.loadWorkers).slice(1);
  if (bg.length === 0) bg.push(1);
  return withServer(target, 'callsetup', async (server) => {
    await pool.call(0, 'setup', { url: server.url, target, pairs: 10, prefix: 'cs' }, 60000);
    const perBg = split(CFG.latencyPairs, bg.length);
    await pool.each(bg, 'setup', (i) => ({ url: server.url, target, pairs: perBg[bg.indexOf(i)], prefix: 'bg' }), 60000);
    const reps = CFG.callSetupReps;
    const run = async () => {
      const mw = machineWindow(server);
      const s0 = sumSnap([await pool.call(0, 'snapshot')]);
      const r = await pool.call(0, 'callSetup', { reps, candidates: CFG.callSetupCandidates, timeoutMs: 5000 }, reps * 8000);
      const s1 = sumSnap([await pool.call(0, 'snapshot')]);
      const d = snapDelta(s0, s1);
      const machine = mw();
      noteForeign(`${target} call setup`, machine);
      return { machine, reps, completed: r.times.length, failures: r.failures, ms: summarize(r.times), errors: r.failures + errorsOf(d), delta: d };
    };
    const idle = await run();
    log(`${target}: call setup idle p50 ${idle.ms.p50.toFixed(2)} p95 ${idle.ms.p95.toFixed(2)} ms, errors ${idle.errors}`);
    const per = split(CFG.callSetupBackgroundRate, bg.length);
    await pool.each(bg, 'rate', (i) => ({ rate: per[bg.indexOf(i)], size: 'candidate' }), 30000);
    await sleep(500);
    const b0 = sumSnap(await pool.each(bg, 'snapshot', {}, 30000));
    const tb0 = performance.now();
    const loaded = await run();
    const b1 = sumSnap(await pool.each(bg, 'snapshot', {}, 30000));
    const bgSecs = (performance.now() - tb0) / 1000;
    await pool.each(bg, 'stop', { drainMs: 3000 }, 30000);
    const bd = snapDelta(b0, b1);
    loaded.background = { targetRate: CFG.callSetupBackgroundRate, deliveredPerSec: bd.delivered / bgSecs, errors: errorsOf(bd) };
    log(
      `${target}: call setup under ${Math.round(loaded.background.deliveredPerSec)}/s: p50 ${loaded.ms.p50.toFixed(2)} ` +
        `p95 ${loaded.ms.p95.toFixed(2)} ms, errors ${loaded.errors}`,
    );
    return { idle, loaded, server: serverHealth(server) };
  });
}

// ------------------------------------------------------------------ table

const fmt = (v, d = 0) =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : Number(v).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

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
    row('capacity', `peers still connected after ${CFG.capacityHoldMs / 1000}s`, 'peers', (r) => r.peersConnectedAfterHold);
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
    row('relay', 'heapUsed after relay phases − before (after GC)', 'MB', (r) => (r.memEnd.heapUsed - r.memStart.heapUsed) / 2 ** 20, 1);
  }
  if (S.latency) {
    for (const [k, label] of [
      ['at5k', '5k/s'],
      ['at25k', '25k/s'],
    ]) {
      for (const p of ['p50', 'p95', 'p99']) row('latency', `${label} ${p}`, 'ms', (r) => r[k]?.latencyMs[p], 2);
      row('latency', `${label} delivered`, 'signals/s', (r) => r[k]?.deliveredPerSec);
      row('latency', `${label} errors`, '', (r) => r[k]?.errors);
    }
    row('latency', `highest step rate with p99 < ${CFG.p99LimitMs} ms`, 'signals/s', (r) => r.maxRateP99Under50ms, 0, `steps ${CFG.latencyRates.map((x) => x / 1000 + 'k').join(',')}`);
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
    row('callsetup', 'background delivered during loaded run', 'signals/s', (r) => r.loaded?.background?.deliveredPerSec);
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
      const bound = pb.serverCpuPercent < 90 ? ' (baseline server not saturated: client-bound on shared cores)' : '';
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
    add('p99 at 5k/s ≤ baseline', o <= b, `${fmt(o, 2)} vs ${fmt(b, 2)} ms`);
    add('p99 at 5k/s < 5 ms', o < 5, `${fmt(o, 2)} ms`);
  }
  if (S.capacity?.ours && S.capacity?.baseline) {
    const o = S.capacity.ours;
    const b = S.capacity.baseline;
    add('RSS per idle joined peer ≤ 1.3× baseline', o.rssPerPeerBytes <= 1.3 * b.rssPerPeerBytes, `${fmt(o.rssPerPeerBytes / b.rssPerPeerBytes, 2)}× (${fmt(o.rssPerPeerBytes)} vs ${fmt(b.rssPerPeerBytes)} B)`);
    add('heap per idle joined peer ≤ 1.3× baseline', o.heapUsedPerPeerBytes <= 1.3 * b.heapUsedPerPeerBytes, `${fmt(o.heapUsedPerPeerBytes / b.heapUsedPerPeerBytes, 2)}× (${fmt(o.heapUsedPerPeerBytes)} vs ${fmt(b.heapUsedPerPeerBytes)} B)`);
  }
  if (S.capacity?.ours) {
    const o = S.capacity.ours;
    const detail = `${fmt(o.peersJoined)} joined, ${fmt(o.peersConnectedAfterHold)} connected after ${o.holdMs / 1000}s, ${o.errors} errors`;
    if (CFG.capacityPeers >= 10000) add('10,000 peers held without errors', o.held, detail);
    else add(`10,000 peers held without errors — NOT MEASURED (quick: ${fmt(CFG.capacityPeers)} peers)`, null, detail);
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
  out.push(`Switchboard load benchmark — ${QUICK ? 'QUICK mode (fewer peers/pairs, shorter phases)' : 'full run'}${partial ? ' — PARTIAL' : ''}`);
  out.push(
    `Node ${process.version}, ${CORES} cores (${results.meta.cpu}); the server and the load workers ` +
      `(${CFG.loadWorkers} for relay and call setup, ${CFG.latencyWorkers} for latency, ${CFG.capacityWorkers} for capacity) share these ${CORES} cores, so client CPU limits some figures.`,
  );
  out.push(
    `Baseline: bare Socket.IO ${sioVersion()} relay (bench/baseline-server.mjs), WebSocket only, signals and joins acked like ours; ` +
      `no validation, de-duplication, sequencing or logging.`,
  );
  out.push(
    `Capacity ${fmt(CFG.capacityPeers)} peers in 2-peer rooms; relay window ${CFG.relayWindow}/direction, ${CFG.relayMeasureMs / 1000}s windows; ` +
      `latency over ${CFG.latencyPairs} pairs, ${CFG.latencyMeasureMs / 1000}s per rate, one-way send→receive; call setup = offer→answer + ` +
      `${CFG.callSetupCandidates}+${CFG.callSetupCandidates} candidates, ${CFG.callSetupReps} reps.`,
  );
  out.push('');
  out.push(renderTable(rows));
  out.push('');
  out.push('Targets:');
  for (const t of targets) out.push(`  [${t.pass === null ? 'N/A ' : t.pass ? 'PASS' : 'FAIL'}] ${t.name}: ${t.detail}`);
  for (const tg of TARGETS) {
    for (const [name, sc] of Object.entries(results.scenarios)) {
      const h = sc[tg]?.server;
      if (h && (h.logWarn || h.logError || (h.exit && h.exit.code !== 0))) {
        out.push(`  note: ${tg} server in ${name}: ${h.logWarn} warn / ${h.logError} error log lines${h.exit ? `, exit ${JSON.stringify(h.exit)}` : ''} (${h.logFile})`);
      }
    }
  }
  if (foreignPhases.length) {
    out.push('  WARNING: other processes used CPU during these phases (figures disturbed):');
    for (const f of foreignPhases) out.push(`    ${f}`);
  }
  results.foreignLoad = foreignPhases;
  if (results.scenarios.relay?.ours?.profile) {
    const p = results.scenarios.relay.ours.profile;
    out.push('');
    out.push(p.error ? `CPU profile: ${p.error}` : formatProfile({ ...p, functions: p.functions.slice(0, 15), packages: p.packages.slice(0, 10) }));
  }
  for (const e of results.errors) out.push(`  error: ${e}`);
  const dir = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${stamp}${QUICK ? '-quick' : ''}.json`);
  const json = JSON.stringify(results, null, 2);
  fs.writeFileSync(file, json);
  fs.writeFileSync(path.join(dir, 'latest.json'), json);
  out.push('');
  out.push(`Results: ${path.relative(ROOT, file)} (and bench/results/latest.json); server logs in ${logDir}; ${results.meta.durationSec}s.`);
  console.log(out.join('\n'));
  if (pool) await pool.close().catch(() => {});
}

function sioVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'socket.io', 'package.json'), 'utf8')).version;
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
    console.error(`warning: ulimit -n is ${fdLimit}; ${CFG.capacityPeers} peers need about ${need} descriptors in the server process. Run via npm run bench (raises it to the hard limit).`);
  }
  if (TARGETS.includes('ours') && !fs.existsSync(OURS_MAIN)) {
    console.error(`error: ${path.relative(ROOT, OURS_MAIN)} not found; build the server first (npx tsc -b packages/server).`);
    process.exit(2);
  }
  log(`${QUICK ? 'quick' : 'full'} run; ${CORES} cores shared by server and load workers; logs in ${logDir}`);
  pool = new WorkerPool(Math.max(CFG.capacityWorkers, CFG.loadWorkers, 2));
  const scenarios = { capacity, relay, latency, callsetup };
  for (const [name, fn] of Object.entries(scenarios)) {
    if (!ONLY.has(name)) continue;
    results.scenarios[name] = {};
    for (const target of TARGETS) {
      try {
        results.scenarios[name][target] = await fn(target);
      } catch (err) {
        const msg = `${name}/${target}: ${err.message}`;
        log(`ERROR ${msg}`);
        results.errors.push(msg);
        results.scenarios[name][target] = null;
        await pool.each(range(pool.size), 'close', {}, 30000).catch(() => {});
      }
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
