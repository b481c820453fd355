/** Forks the load workers (bench/lib/worker.mjs) and talks to them over IPC with time-bounded calls. */
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { children } from './server-proc.mjs';

const WORKER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.mjs');

export class WorkerPool {
  constructor(count) {
    this.workers = [];
    this.seq = 0;
    this.waiting = new Map();
    for (let i = 0; i < count; i++) {
      const proc = fork(WORKER_SCRIPT, [], {
        env: { ...process.env, BENCH_WORKER_ID: String(i) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
      children.add(proc);
      const w = { i, proc, exited: null };
      proc.on('message', (m) => {
        const p = this.waiting.get(m && m.id);
        if (!p) return;
        this.waiting.delete(m.id);
        clearTimeout(p.timer);
        if (m.ok) p.resolve(m.result);
        else p.reject(new Error(`worker ${i} ${p.cmd}: ${m.error}`));
      });
      proc.on('exit', (code, signal) => {
        w.exited = { code, signal };
        children.delete(proc);
        for (const [id, p] of this.waiting) {
          if (p.worker === i) {
            this.waiting.delete(id);
            clearTimeout(p.timer);
            p.reject(new Error(`worker ${i} exited (${code ?? signal}) during ${p.cmd}`));
          }
        }
      });
      this.workers.push(w);
    }
  }

  get size() {
    return this.workers.length;
  }

  /** One command to one worker; rejects after `timeoutMs`. */
  call(i, cmd, args = {}, timeoutMs = 30000) {
    const w = this.workers[i];
    if (!w || w.exited) return Promise.reject(new Error(`worker ${i} is not running`));
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`worker ${i} ${cmd}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer, cmd, worker: i });
      w.proc.send({ id, cmd, args });
    });
  }

  /** The same command to workers `ids` (args may be a function of the worker index). */
  each(ids, cmd, args = {}, timeoutMs = 30000) {
    return Promise.all(
      ids.map((i) => this.call(i, cmd, typeof args === 'function' ? args(i) : args, timeoutMs)),
    );
  }

  async close() {
    await Promise.allSettled(this.workers.map((w) => this.call(w.i, 'exit', {}, 2000)));
    for (const w of this.workers) if (!w.exited) w.proc.kill('SIGKILL');
  }
}
