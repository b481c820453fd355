/**
 * Starts a server under test (ours or the baseline) in its own process and measures it from the
 * outside: CPU from /proc/<pid>/stat, RSS from /proc/<pid>/status, heap after a forced GC through
 * the IPC hook of gc-preload.cjs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
/* global fetch, AbortSignal */

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const PRELOAD = path.join(here, 'gc-preload.cjs');
export const OURS_MAIN = path.join(ROOT, 'packages', 'server', 'dist', 'src', 'main.js');
export const BASELINE_MAIN = path.join(ROOT, 'bench', 'baseline-server.mjs');

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  /* keep 100 */
}
export const CLK_TCK = clkTck;

/** Every server under test runs with this environment (on top of the bench's own). */
export const SERVER_ENV = {
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  DEMO_ENABLED: 'false',
  STUN_URLS: '',
  NODE_ENV: 'production',
};

/**
 * Ours in the capacity, relay, latency and call-setup scenarios: every client connects from
 * 127.0.0.1 and a relay connection sends hundreds of signals/s, so the per-IP connection caps and
 * the default rate limits would cut those scenarios short (10,000 peers from one IP against
 * MAX_CONNECTIONS_PER_IP 200). The per-IP caps are off; the rate limits are raised out of reach but
 * stay on, so every signal still pays for its bucket (a rate of 0 would skip it). The limits' own
 * effect is the fairness scenario's subject (run.mjs: `--limits=defaults` keeps the defaults).
 */
export const LIMITS_UNREACHED = {
  SIGNAL_RATE_PER_SEC: '1000000',
  SIGNAL_BURST: '1000000',
  JOIN_RATE_PER_SEC: '100000',
  JOIN_BURST: '100000',
  STATE_REPORT_RATE_PER_SEC: '100000',
  STATE_REPORT_BURST: '100000',
  MAX_CONNECTIONS_PER_IP: '0',
  CONNECTION_RATE_PER_IP: '0',
};

/** Every child process started by the bench, so that exit handlers can end them all. */
export const children = new Set();

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** utime+stime of a process in microseconds, or NaN when it is gone. */
export function cpuMicros(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** The TCP port process `pid` listens on (first found), or 0. */
export function listeningPort(pid) {
  const inodes = new Set();
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) inodes.add(m[1]);
      } catch {
        /* fd closed meanwhile */
      }
    }
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text = '';
      try {
        text = fs.readFileSync(table, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length > 9 && f[3] === '0A' && inodes.has(f[9])) return parseInt(f[1].split(':')[1], 16);
      }
    }
  } catch {
    /* process gone */
  }
  return 0;
}

/** VmRSS of a process in bytes, or NaN. */
export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * @param {object} o
 * @param {'ours'|'baseline'} o.target
 * @param {string} o.logFile where the server's stdout/stderr go
 * @param {string[]} [o.nodeArgs] extra node flags (e.g. --cpu-prof)
 * @param {Record<string, string|undefined>} [o.env] environment overrides (undefined removes a variable)
 * @param {string} [o.main] entry point to run instead of the target's own (e.g. ours built from another commit)
 */
export async function startServer({
  target,
  logFile,
  main: mainOverride,
  nodeArgs = [],
  env: envOverrides = {},
  startTimeoutMs = 30000,
}) {
  const main = mainOverride || (target === 'ours' ? OURS_MAIN : BASELINE_MAIN);
  if (!fs.existsSync(main)) throw new Error(`${target} server entry point not found: ${main}`);
  const env = { ...process.env, ...SERVER_ENV };
  delete env.BENCH_MEM_FILE;
  for (const [k, v] of Object.entries(envOverrides)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const args = ['--expose-gc', '-r', PRELOAD, ...nodeArgs, main];
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'json',
  });
  children.add(proc);
  const log = fs.createWriteStream(logFile);
  const logStats = { lines: 0, warn: 0, error: 0, samples: [] };
  const note = (line, stream) => {
    logStats.lines++;
    let level = stream === 'stderr' ? 50 : 30;
    try {
      const j = JSON.parse(line);
      if (typeof j.level === 'number') level = j.level;
      else if (typeof j.level === 'string') level = { warn: 40, error: 50, fatal: 60 }[j.level] || 30;
    } catch {
      /* not JSON */
    }
    if (level >= 50) logStats.error++;
    else if (level >= 40) logStats.warn++;
    if (level >= 40 && logStats.samples.length < 5) logStats.samples.push(line.slice(0, 300));
  };
  let urlResolve;
  const urlPromise = new Promise((r) => (urlResolve = r));
  for (const [name, stream] of [
    ['stdout', proc.stdout],
    ['stderr', proc.stderr],
  ]) {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      log.write(chunk);
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = /listening on (http:\/\/[^\s"]+)/.exec(line);
        if (m) urlResolve(m[1]);
        note(line, name);
      }
    });
  }
  let exitInfo = null;
  const exited = new Promise((r) =>
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      children.delete(proc);
      log.end();
      r(exitInfo);
    }),
  );
  // Fallback when the "listening on" line is not logged (e.g. it is info-level and LOG_LEVEL=warn):
  // the process's own listening TCP socket, from /proc.
  let fallbackUsed = false;
  const spawnedAt = Date.now();
  let portSeenAt = 0;
  const poll = setInterval(() => {
    if (Date.now() - spawnedAt < 300) return;
    const port = listeningPort(proc.pid);
    if (!port) return;
    // Give the log line a moment, so that a server that does print it is recognised as such.
    if (!portSeenAt) portSeenAt = Date.now();
    else if (Date.now() - portSeenAt >= 500) {
      fallbackUsed = true;
      urlResolve(`http://127.0.0.1:${port}`);
    }
  }, 100);
  const url = await Promise.race([
    urlPromise,
    exited.then((e) => {
      throw new Error(`${target} server exited during start-up (${JSON.stringify(e)}); see ${logFile}`);
    }),
    sleep(startTimeoutMs).then(() => {
      throw new Error(`${target} server did not print "listening on" within ${startTimeoutMs} ms`);
    }),
  ]).finally(() => clearInterval(poll));

  let reqSeq = 0;
  const request = (msg, timeoutMs) => {
    const id = ++reqSeq;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        proc.off('message', onMsg);
        reject(new Error(`server did not answer ${msg.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMsg = (m) => {
        if (m && m.type === msg.type && m.id === id) {
          clearTimeout(t);
          proc.off('message', onMsg);
          resolve(m);
        }
      };
      proc.on('message', onMsg);
      proc.send({ ...msg, id });
    });
  };
  const server = {
    target,
    url,
    pid: proc.pid,
    proc,
    logFile,
    logStats,
    /** True when the URL came from /proc because no "listening on" line was printed. */
    get urlFromProc() {
      return fallbackUsed;
    },
    get exitInfo() {
      return exitInfo;
    },
    alive: () => exitInfo === null,
    cpuMicros: () => cpuMicros(proc.pid),
    rssBytes: () => rssBytes(proc.pid),
    /** process.memoryUsage() of the server after two forced GCs. */
    async memAfterGc(timeoutMs = 20000) {
      const m = await request({ type: 'bench:mem' }, timeoutMs);
      return { ...m.mem, gcForced: m.gc };
    },
    /** Writes a V8 heap snapshot of the server to `file`. */
    async heapSnapshot(file, timeoutMs = 120000) {
      return (await request({ type: 'bench:heapsnapshot', file }, timeoutMs)).file;
    },
    /**
     * Event-loop delay of the server (ms) since the last reset; `reset` starts a new window, `on`
     * turns the monitor on (a window starts) or off (it ends; an idle server then never wakes for it).
     */
    async loopDelay(reset = true, on = undefined, timeoutMs = 10000) {
      return (await request({ type: 'bench:loop', reset, on }, timeoutMs)).loop;
    },
    /** Asks the server to exit(0) (lets --cpu-prof write), then SIGTERM, then SIGKILL. */
    async stop() {
      if (exitInfo) return exitInfo;
      try {
        if (proc.connected) proc.send({ type: 'bench:exit' });
      } catch {
        /* channel gone */
      }
      const r1 = await Promise.race([exited, sleep(5000)]);
      if (r1) return r1;
      proc.kill('SIGTERM');
      const r2 = await Promise.race([exited, sleep(5000)]);
      if (r2) return r2;
      proc.kill('SIGKILL');
      return exited;
    },
  };
  return server;
}

/**
 * The samples of a server's Prometheus endpoint (`<url>/metrics`), keyed by name and labels as
 * written, e.g. `switchboard_adapter_messages_received_total{origin="self"}`.
 */
export async function scrapeMetrics(url, timeoutMs = 5000) {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

/** Machine-wide CPU from /proc/stat in microseconds: user+nice+system (busy) and steal. */
export function machineCpuMicros() {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return { busy: ((f[0] + f[1] + f[2]) * 1e6) / CLK_TCK, steal: ((f[7] || 0) * 1e6) / CLK_TCK };
  } catch {
    return { busy: NaN, steal: NaN };
  }
}

/**
 * Measures over a phase how much CPU went to the bench's own processes (server, workers, driver)
 * and how much to anything else on the machine ("foreign": e.g. a concurrent build), so that a
 * result disturbed by other load can be recognised. Softirq time (loopback networking) is left out
 * of both, since it is not charged to processes.
 */
export function cpuWindow(pids) {
  const procs = () => pids().reduce((n, pid) => n + (cpuMicros(pid) || 0), 0);
  const m0 = machineCpuMicros();
  const p0 = procs();
  const t0 = process.hrtime.bigint();
  return () => {
    const m1 = machineCpuMicros();
    const p1 = procs();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const pct = (us) => (100 * us) / 1e6 / secs;
    return {
      benchPct: pct(p1 - p0),
      foreignPct: Math.max(0, pct(m1.busy - m0.busy - (p1 - p0))),
      stealPct: pct(m1.steal - m0.steal),
    };
  };
}
