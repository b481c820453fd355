import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FairScheduler, type FairSchedulerOptions } from '../../src/common/fair-scheduler';

interface Sender {
  name: string;
}

/** A scheduler whose busy test is the per-millisecond count only, with pauses and runs recorded. */
function scheduler(options: Partial<FairSchedulerOptions> = {}) {
  const paused: string[] = [];
  const resumed: string[] = [];
  const errors: unknown[] = [];
  const s = new FairScheduler<Sender>(
    { pause: (x) => paused.push(x.name), resume: (x) => resumed.push(x.name) },
    (err) => errors.push(err),
    { busyUtilization: 2, busyPerMs: 2, quantum: 2, ...options },
  );
  return { s, paused, resumed, errors };
}

/** Offers `n` events of `sender` at time `at`; those not run at once are deferred. Returns how many ran at once. */
function offer(
  s: FairScheduler<Sender>,
  sender: Sender,
  n: number,
  at: number,
  ran: string[],
  urgent = false,
) {
  let now = 0;
  for (let i = 0; i < n; i++) {
    const label = `${sender.name}${i}`;
    if (s.runsNow(sender, urgent, at)) {
      ran.push(label);
      now++;
    } else s.defer(sender, () => ran.push(label));
  }
  return now;
}

describe('FairScheduler', () => {
  test('runsNow() lets every event run at once while fewer than busyPerMs come in a millisecond', () => {
    const { s } = scheduler({ busyPerMs: 3 });
    const a = { name: 'a' };
    assert.equal(s.runsNow(a, false, 10.2), true);
    assert.equal(s.runsNow(a, false, 10.7), true);
    assert.equal(s.runsNow(a, false, 10.9), true);
    assert.equal(s.runsNow(a, false, 10.95), false, 'the fourth in the same millisecond is deferred');
    assert.equal(s.runsNow(a, false, 11), true, 'a new millisecond starts a new count');
    s.close();
  });

  test('runsNow() of an urgent event is true while busy, and false once its sender has a backlog', async () => {
    const { s } = scheduler({ busyPerMs: 0 });
    const a = { name: 'a' };
    assert.equal(s.runsNow(a, true, 1), true);
    assert.equal(s.runsNow(a, false, 1), false);
    const ran: string[] = [];
    s.defer(a, () => ran.push('bulk'));
    // Order within one sender wins over urgency: its offer must not overtake its earlier events.
    assert.equal(s.runsNow(a, true, 1), false);
    s.defer(a, () => ran.push('urgent'));
    await nextTurn();
    assert.deepEqual(ran, ['bulk', 'urgent']);
    assert.equal(s.hasBacklog(a), false);
    s.close();
  });

  test('defer() runs backlogs round-robin, quantum per sender per round, each sender in order', async () => {
    const { s } = scheduler({ busyPerMs: 0, quantum: 2 });
    const ran: string[] = [];
    const a = { name: 'a' };
    const b = { name: 'b' };
    offer(s, a, 5, 1, ran);
    offer(s, b, 3, 1, ran);
    assert.deepEqual(ran, [], 'nothing runs before the check phase');
    assert.equal(s.backlog, 8);
    await nextTurn();
    assert.deepEqual(ran, ['a0', 'a1', 'b0', 'b1', 'a2', 'a3', 'b2', 'a4']);
    assert.equal(s.backlog, 0);
    assert.equal(s.deferredCount, 8);
    s.close();
  });

  test('a quiet sender runs at once while a busy one waits in its backlog (new calls first)', async () => {
    const { s } = scheduler({ busyPerMs: 4 });
    const ran: string[] = [];
    const bulk = { name: 'bulk' };
    const caller = { name: 'caller' };
    assert.equal(offer(s, bulk, 10, 5, ran), 4);
    // Same millisecond, busy: an urgent event (an offer) runs before the bulk backlog.
    assert.equal(offer(s, caller, 1, 5, ran, true), 1);
    assert.deepEqual(ran.slice(4), ['caller0']);
    await nextTurn();
    assert.deepEqual(ran.slice(5), ['bulk4', 'bulk5', 'bulk6', 'bulk7', 'bulk8', 'bulk9']);
    s.close();
  });

  test('defer() pauses a sender at pauseAt deferred events and resumes it below half', async () => {
    const { s, paused, resumed } = scheduler({ busyPerMs: 0, quantum: 4, pauseAt: 8, sliceMs: 1000 });
    const ran: string[] = [];
    const a = { name: 'a' };
    offer(s, a, 7, 1, ran);
    assert.deepEqual(paused, []);
    offer(s, a, 1, 1, ran);
    assert.deepEqual(paused, ['a']);
    await nextTurn();
    assert.equal(ran.length, 8);
    assert.deepEqual(resumed, ['a'], 'resumed once, when it dropped under half');
    s.close();
  });

  test('defer() pauses every sender that defers once maxBacklog events wait in all', async () => {
    const { s, paused, resumed } = scheduler({ busyPerMs: 0, pauseAt: 100, maxBacklog: 6, sliceMs: 1000 });
    const ran: string[] = [];
    const senders = ['a', 'b', 'c', 'd'].map((name) => ({ name }));
    for (const x of senders) offer(s, x, 2, 1, ran);
    assert.deepEqual(paused, ['c', 'd'], 'from the sixth deferred event on');
    await nextTurn();
    assert.equal(ran.length, 8);
    assert.deepEqual(resumed.sort(), ['c', 'd']);
    s.close();
  });

  test('the drain yields to I/O after sliceMs and finishes in a later turn', async () => {
    const { s } = scheduler({ busyPerMs: 0, quantum: 1, sliceMs: 5 });
    const ran: string[] = [];
    const a = { name: 'a' };
    for (let i = 0; i < 3; i++)
      s.defer(a, () => {
        ran.push(`slow${i}`);
        const until = Date.now() + 6;
        while (Date.now() < until); // longer than a slice
      });
    await nextTurn();
    assert.equal(ran.length, 1, 'one job, then the slice was over');
    await nextTurn();
    await nextTurn();
    assert.deepEqual(ran, ['slow0', 'slow1', 'slow2']);
    s.close();
  });

  test('a job that throws is reported and the jobs behind it still run', async () => {
    const { s, errors } = scheduler({ busyPerMs: 0 });
    const ran: string[] = [];
    const a = { name: 'a' };
    s.defer(a, () => {
      throw new Error('boom');
    });
    s.defer(a, () => ran.push('after'));
    await nextTurn();
    assert.equal((errors[0] as Error).message, 'boom');
    assert.deepEqual(ran, ['after']);
    s.close();
  });

  test('runsNow() is false while the event loop is busier than busyUtilization, however few events come', async () => {
    const s = new FairScheduler<Sender>(
      { pause: () => undefined, resume: () => undefined },
      () => undefined,
      { busyUtilization: 0.9, sampleMs: 20, busyPerMs: 1000 },
    );
    const a = { name: 'a' };
    assert.equal(s.runsNow(a, false, 1), true);
    // Keep the loop busy across a few samples (a blocked loop runs no timer: let it tick between).
    for (let i = 0; i < 8; i++) {
      const until = Date.now() + 25;
      while (Date.now() < until);
      await nextTurn();
    }
    assert.equal(s.busy, true);
    assert.equal(s.runsNow(a, false, 2), false);
    assert.equal(s.runsNow(a, true, 2), true, 'urgent events still run');
    await new Promise((r) => setTimeout(r, 120)); // idle again
    assert.equal(s.busy, false);
    assert.equal(s.runsNow(a, false, 3), true);
    s.close();
    s.close();
  });
});
