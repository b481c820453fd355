import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { rebuildWaitMs, StallWatchdog, type StallVerdict } from '../src/stall-watchdog.js';

/** Lets settled promises run their continuations (setImmediate is not faked). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

/** A watchdog whose verdicts come from `verdicts` in turn (the last one repeats). */
function watchdog(timeoutMs: number, verdicts: (StallVerdict | Promise<StallVerdict>)[]) {
  const calls = { judged: 0, stalls: 0 };
  const dog = new StallWatchdog({
    timeoutMs,
    judge: () => verdicts[Math.min(calls.judged++, verdicts.length - 1)] as StallVerdict,
    onStall: () => (calls.stalls += 1),
  });
  return { dog, calls };
}

test('StallWatchdog.arm() judging "stalled" calls onStall once, when the wait is over', async () => {
  const { dog, calls } = watchdog(5000, ['stalled']);
  dog.arm();
  mock.timers.tick(4999);
  await flush();
  assert.deepEqual(calls, { judged: 0, stalls: 0 });
  assert.equal(dog.armed, true);
  mock.timers.tick(1);
  await flush();
  assert.deepEqual(calls, { judged: 1, stalls: 1 });
  assert.equal(dog.armed, false);
  mock.timers.tick(60_000);
  await flush();
  assert.deepEqual(calls, { judged: 1, stalls: 1 });
});

test('StallWatchdog.arm() judging "settled" disarms without calling onStall', async () => {
  const { dog, calls } = watchdog(5000, ['settled', 'stalled']);
  dog.arm();
  mock.timers.tick(5000);
  await flush();
  mock.timers.tick(60_000);
  await flush();
  assert.deepEqual(calls, { judged: 1, stalls: 0 });
  assert.equal(dog.armed, false);
});

test('StallWatchdog.arm() judging "postpone" waits again in full before judging again', async () => {
  const { dog, calls } = watchdog(5000, ['postpone', 'postpone', 'stalled']);
  dog.arm();
  mock.timers.tick(5000);
  await flush();
  assert.deepEqual(calls, { judged: 1, stalls: 0 });
  assert.equal(dog.armed, true);
  mock.timers.tick(4999);
  await flush();
  assert.equal(calls.judged, 1);
  mock.timers.tick(1);
  await flush();
  mock.timers.tick(5000);
  await flush();
  assert.deepEqual(calls, { judged: 3, stalls: 1 });
});

test('StallWatchdog.arm() called again restarts the wait from then', async () => {
  const { dog, calls } = watchdog(5000, ['stalled']);
  dog.arm();
  mock.timers.tick(4000);
  dog.arm();
  mock.timers.tick(4000);
  await flush();
  assert.equal(calls.judged, 0);
  mock.timers.tick(1000);
  await flush();
  assert.deepEqual(calls, { judged: 1, stalls: 1 });
});

test('StallWatchdog.disarm() during an async judgement ignores its verdict', async () => {
  let verdict!: (v: StallVerdict) => void;
  const { dog, calls } = watchdog(5000, [new Promise<StallVerdict>((resolve) => (verdict = resolve))]);
  dog.arm();
  mock.timers.tick(5000);
  await flush();
  assert.equal(calls.judged, 1);
  dog.disarm();
  verdict('stalled');
  await flush();
  assert.equal(calls.stalls, 0);
  assert.equal(dog.armed, false);
});

test('StallWatchdog.arm() with a judge that throws waits again as for "postpone"', async () => {
  let judged = 0;
  let stalls = 0;
  const dog = new StallWatchdog({
    timeoutMs: 1000,
    judge: () => {
      judged += 1;
      if (judged === 1) throw new Error('getStats failed');
      return 'stalled';
    },
    onStall: () => (stalls += 1),
  });
  dog.arm();
  mock.timers.tick(1000);
  await flush();
  assert.equal(dog.armed, true);
  mock.timers.tick(1000);
  await flush();
  assert.deepEqual({ judged, stalls }, { judged: 2, stalls: 1 });
});

test('StallWatchdog.arm() with timeoutMs 0 stays disarmed and never judges', async () => {
  const { dog, calls } = watchdog(0, ['stalled']);
  dog.arm();
  assert.equal(dog.armed, false);
  mock.timers.tick(60_000);
  await flush();
  assert.deepEqual(calls, { judged: 0, stalls: 0 });
});

test('StallWatchdog.rearmIfArmed() restarts an armed watchdog and leaves a disarmed one alone', async () => {
  const { dog, calls } = watchdog(5000, ['stalled']);
  dog.rearmIfArmed();
  assert.equal(dog.armed, false);
  dog.arm();
  mock.timers.tick(4000);
  dog.rearmIfArmed();
  mock.timers.tick(4000);
  await flush();
  assert.equal(calls.judged, 0);
  mock.timers.tick(1000);
  await flush();
  assert.deepEqual(calls, { judged: 1, stalls: 1 });
});

test('rebuildWaitMs() gives the polite side twice the wait', () => {
  assert.equal(rebuildWaitMs(5000, false), 5000);
  assert.equal(rebuildWaitMs(5000, true), 10_000);
});
