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
 */
export async function startServer({ target, logFile, nodeArgs = [], startTimeoutMs = 30000 }) {
  const main = target === 'ours' ? OURS_MAIN : BASELINE_MAIN;
  if (!fs.existsSync(main)) throw new Error(`${target} server entry point not found: ${main}`);
  const env = {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DEMO_ENABLED: 'false',
    STUN_URLS: '',
    NODE_ENV: 'production',
  };
  delete env.BENCH_MEM_FILE;
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
      r(exitInfo);
    }),
  );
  const url = await Promise.race([
    urlPromise,
    exited.then((e) => {
      throw new Error(`${target} server exited during start-up (${JSON.stringify(e)}); see ${logFile}`);
    }),
    sleep(startTimeoutMs).then(() => {
      throw new Error(`${target} server did not print "listening on" within ${startTimeoutMs} ms`);
    }),
  ]);

  let memSeq = 0;
  const server = {
    target,
    url,
    pid: proc.pid,
    proc,
    logFile,
    logStats,
    get exitInfo() {
      return exitInfo;
    },
    alive: () => exitInfo === null,
    cpuMicros: () => cpuMicros(proc.pid),
    rssBytes: () => rssBytes(proc.pid),
    /** process.memoryUsage() of the server after two forced GCs. */
    async memAfterGc(timeoutMs = 20000) {
      const id = ++memSeq;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          proc.off('message', onMsg);
          reject(new Error('server did not answer the memory request'));
        }, timeoutMs);
        const onMsg = (m) => {
          if (m && m.type === 'bench:mem' && m.id === id) {
            clearTimeout(t);
            proc.off('message', onMsg);
            resolve({ ...m.mem, gcForced: m.gc });
          }
        };
        proc.on('message', onMsg);
        proc.send({ type: 'bench:mem', id });
      });
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
