/* global global, require */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload (node -r) */
'use strict';
/**
 * Preloaded into every server the benchmark starts, ours and the baseline alike
 * (`node --expose-gc -r bench/lib/gc-preload.cjs ...`), so that both pay the same tiny cost.
 *
 * - IPC (what bench/run.mjs uses): `{ type: 'bench:mem', id }` runs two full GCs and answers
 *   `{ type: 'bench:mem', id, mem: process.memoryUsage(), gc }`; `{ type: 'bench:exit' }` calls
 *   process.exit(0) so that `--cpu-prof` writes its profile even if the server's own signal
 *   handlers would end it by re-raising a signal.
 *   `{ type: 'bench:loop', id, reset, on }` answers the event-loop delay (ms) and the GC pauses
 *   (count, total and longest ms, minor and major) since the last reset, then turns the delay
 *   monitor on (`on: true`) or off (`on: false`); it starts off.
 *   `{ type: 'bench:heapsnapshot', id, file }` writes a heap snapshot (diagnostics, --heap-snapshot).
 * - SIGUSR2 + BENCH_MEM_FILE (manual use only): writes the same JSON to that file. Not used by
 *   the driver, because NestJS `enableShutdownHooks()` without arguments also listens to SIGUSR2
 *   and would shut the server down.
 */
const fs = require('node:fs');
const { monitorEventLoopDelay, PerformanceObserver, constants } = require('node:perf_hooks');

// Event-loop delay of the server, read (and reset) by the driver around latency phases. On only
// between a `bench:loop` with `on: true` and one with `on: false`: a monitor wakes its process every
// millisecond, and idle servers waking 1,000 times a second took the cores' time from the servers
// being measured.
const loop = monitorEventLoopDelay({ resolution: 1 });

// GC pauses (main-thread time of each collection) since the last reset, by kind: what stalls the
// event loop, and so the latency tail, at rates far below saturation.
const newGcStats = () => ({ minor: { count: 0, ms: 0, maxMs: 0 }, major: { count: 0, ms: 0, maxMs: 0 } });
let gcStats = newGcStats();
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind =
      (e.detail ? e.detail.kind : e.kind) === constants.NODE_PERFORMANCE_GC_MINOR ? 'minor' : 'major';
    const s = gcStats[kind];
    s.count++;
    s.ms += e.duration;
    if (e.duration > s.maxMs) s.maxMs = e.duration;
  }
}).observe({ entryTypes: ['gc'] });

function loopStats(reset) {
  const r = {
    p50: loop.percentile(50) / 1e6,
    p99: loop.percentile(99) / 1e6,
    max: loop.max / 1e6,
    mean: loop.mean / 1e6,
    gc: gcStats,
  };
  if (reset) {
    loop.reset();
    gcStats = newGcStats();
  }
  return r;
}

function snapshot() {
  if (typeof global.gc === 'function') {
    global.gc();
    global.gc();
  }
  return process.memoryUsage();
}

if (process.env.BENCH_MEM_FILE) {
  process.on('SIGUSR2', () => {
    fs.writeFileSync(process.env.BENCH_MEM_FILE, JSON.stringify(snapshot()));
  });
}

if (typeof process.send === 'function') {
  process.on('message', (m) => {
    if (!m || typeof m !== 'object') return;
    if (m.type === 'bench:mem') {
      process.send({ type: 'bench:mem', id: m.id, mem: snapshot(), gc: typeof global.gc === 'function' });
    } else if (m.type === 'bench:loop') {
      process.send({ type: 'bench:loop', id: m.id, loop: loopStats(!!m.reset) });
      if (m.on === true) loop.enable();
      else if (m.on === false) loop.disable();
    } else if (m.type === 'bench:heapsnapshot') {
      if (typeof global.gc === 'function') global.gc();
      const file = require('node:v8').writeHeapSnapshot(m.file);
      process.send({ type: 'bench:heapsnapshot', id: m.id, file });
    } else if (m.type === 'bench:exit') {
      process.exit(0);
    }
  });
  // The IPC channel must not keep the server alive on its own.
  if (process.channel && typeof process.channel.unref === 'function') process.channel.unref();
}
