import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { SerialQueue } from '../src/serial-queue.js';

/** Lets settled promises run their continuations (setImmediate is not faked). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A task whose end the test decides, recording when it starts. */
function gate(log: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  return { task: () => (log.push(`start ${name}`), done.then(() => void log.push(`end ${name}`))), release };
}

test('SerialQueue.push() of several tasks runs them one at a time in push order', async () => {
  const log: string[] = [];
  const queue = new SerialQueue({ taskTimeoutMs: 60_000 });
  const [a, b, c] = [gate(log, 'a'), gate(log, 'b'), gate(log, 'c')];
  const pushed = [queue.push(a.task), queue.push(b.task), queue.push(c.task)];
  await flush();
  assert.deepEqual(log, ['start a']);
  assert.equal(queue.size, 2);
  c.release(); // finishing out of order changes nothing: c has not started
  b.release();
  await flush();
  assert.deepEqual(log, ['start a']);
  a.release();
  await Promise.all(pushed);
  assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
});

test('SerialQueue.push() of a task that throws or rejects reports it and runs the next', async () => {
  const errors: unknown[] = [];
  const log: string[] = [];
  const queue = new SerialQueue({ taskTimeoutMs: 60_000, onError: (e) => errors.push(e) });
  const first = queue.push(() => {
    throw new Error('sync');
  });
  const second = queue.push(() => Promise.reject(new Error('async')));
  const third = queue.push(async () => void log.push('third ran'));
  await Promise.all([first, second, third]); // none rejects
  assert.deepEqual(
    errors.map((e) => (e as Error).message),
    ['sync', 'async'],
  );
  assert.deepEqual(log, ['third ran']);
});

test('SerialQueue.push() of a task that never settles gives up after taskTimeoutMs and runs the next', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const log: string[] = [];
    let timeouts = 0;
    const queue = new SerialQueue({ taskTimeoutMs: 10_000, onTimeout: () => (timeouts += 1) });
    const stuck = queue.push(() => new Promise<void>(() => undefined));
    const next = queue.push(async () => void log.push('next ran'));
    await flush();
    mock.timers.tick(9_999);
    await flush();
    assert.deepEqual(log, []);
    assert.equal(timeouts, 0);
    mock.timers.tick(1);
    await flush();
    await Promise.all([stuck, next]);
    assert.equal(timeouts, 1);
    assert.deepEqual(log, ['next ran']);
  } finally {
    mock.timers.reset();
  }
});

test('SerialQueue.reset() during a task that hangs starts the next task at once', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const log: string[] = [];
    const queue = new SerialQueue({ taskTimeoutMs: 10_000 });
    const hung = gate(log, 'hung');
    void queue.push(hung.task);
    const next = queue.push(async () => void log.push('next ran'));
    await flush();
    assert.deepEqual(log, ['start hung']);
    queue.reset();
    await next; // no time has passed: the reset, not the timeout, let it run
    assert.deepEqual(log, ['start hung', 'next ran']);
    // The abandoned task ending later starts nothing twice.
    const after = queue.push(async () => void log.push('after ran'));
    hung.release();
    await after;
    await flush();
    assert.deepEqual(log, ['start hung', 'next ran', 'after ran', 'end hung']);
  } finally {
    mock.timers.reset();
  }
});

test('SerialQueue.close() drops queued tasks, resolves their promises and runs nothing pushed later', async () => {
  const log: string[] = [];
  const queue = new SerialQueue({ taskTimeoutMs: 60_000 });
  const running = gate(log, 'running');
  void queue.push(running.task);
  const dropped = queue.push(async () => void log.push('dropped ran'));
  await flush();
  queue.close();
  queue.close(); // twice is harmless
  await dropped;
  await queue.push(async () => void log.push('late ran'));
  running.release();
  await flush();
  assert.deepEqual(log, ['start running', 'end running']);
  assert.equal(queue.size, 0);
});
