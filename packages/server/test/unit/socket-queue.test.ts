import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PendingQueues, SocketQueue } from '../../src/webrtc/socket-queue';

const noError = (err: unknown): void => assert.fail(`unexpected job error: ${String(err)}`);
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('SocketQueue', () => {
  test('run() of a synchronous job on an idle queue runs it before returning', () => {
    const q = new SocketQueue(noError);
    let ran = false;
    q.run(() => {
      ran = true;
    });
    assert.equal(ran, true);
    assert.equal(q.busy, false);
  });

  test('jobs behind a pending one wait for it, synchronous ones included, and run in order', async () => {
    const q = new SocketQueue(noError);
    const order: string[] = [];
    const seen = (): string[] => [...order]; // a copy: deepEqual's assertion would narrow `order` itself
    let release!: () => void;
    q.run(
      () =>
        new Promise<void>((r) => {
          release = () => {
            order.push('slow');
            r();
          };
        }),
    );
    q.run(() => {
      order.push('sync');
    });
    q.run(async () => {
      await tick();
      order.push('async');
    });
    assert.deepEqual(seen(), []);
    assert.equal(q.busy, true);
    release();
    await tick();
    await tick();
    assert.deepEqual(seen(), ['slow', 'sync', 'async']);
    assert.equal(q.busy, false);
    q.run(() => {
      order.push('idle again');
    });
    assert.equal(order[order.length - 1], 'idle again');
  });

  test('a job that throws or rejects is reported and does not stall the jobs behind it', async () => {
    const errors: unknown[] = [];
    const q = new SocketQueue((err) => errors.push(err));
    const order: string[] = [];
    q.run(() => {
      throw new Error('sync bug');
    });
    q.run(async () => {
      await tick();
      throw new Error('async bug');
    });
    q.run(() => {
      order.push('after');
    });
    await tick();
    await tick();
    assert.deepEqual(order, ['after']);
    assert.deepEqual(
      errors.map((e) => (e as Error).message),
      ['sync bug', 'async bug'],
    );
  });

  test('run() with overlaps starts each job at once while earlier overlapping ones are pending; a job without waits for them all', async () => {
    const q = new SocketQueue(noError);
    const order: string[] = [];
    const seen = (): string[] => [...order];
    const releases: (() => void)[] = [];
    const slow = (name: string) => () => {
      order.push(`start ${name}`);
      return new Promise<void>((r) => releases.push(() => (order.push(`end ${name}`), r())));
    };
    q.run(slow('a'), true);
    q.run(slow('b'), true);
    q.run(() => {
      order.push('barrier');
    });
    assert.deepEqual(seen(), ['start a', 'start b']);
    // Finishing out of order: the barrier waits for the last of them.
    releases[1]!();
    await tick();
    assert.deepEqual(seen(), ['start a', 'start b', 'end b']);
    releases[0]!();
    await tick();
    assert.deepEqual(seen(), ['start a', 'start b', 'end b', 'end a', 'barrier']);
    await tick();
    assert.equal(q.busy, false);
  });

  test('run() with overlaps behind a pending job without waits for it, then starts in order with the overlapping jobs after it', async () => {
    const q = new SocketQueue(noError);
    const order: string[] = [];
    const seen = (): string[] => [...order];
    let release!: () => void;
    q.run(() => new Promise<void>((r) => (release = () => (order.push('join'), r()))));
    const pending: (() => void)[] = [];
    for (const name of ['s1', 's2'])
      q.run(() => {
        order.push(name);
        return new Promise<void>((r) => pending.push(r));
      }, true);
    assert.deepEqual(seen(), []);
    release();
    // s3 arrives after the join finished but while s1 and s2 are pending: it still starts after them.
    await tick();
    q.run(() => {
      order.push('s3');
    }, true);
    await tick();
    assert.deepEqual(seen(), ['join', 's1', 's2', 's3']);
    for (const r of pending) r();
    await tick();
    assert.equal(q.busy, false);
  });

  test('run() with overlaps past maxOverlap pending waits for every job before it', async () => {
    const q = new SocketQueue(noError, undefined, 2);
    const order: string[] = [];
    const seen = (): string[] => [...order];
    const releases: (() => void)[] = [];
    for (const name of ['a', 'b', 'c'])
      q.run(() => {
        order.push(name);
        return new Promise<void>((r) => releases.push(r));
      }, true);
    assert.deepEqual(seen(), ['a', 'b']);
    releases[0]!();
    await tick();
    assert.deepEqual(seen(), ['a', 'b']);
    releases[1]!();
    await tick();
    assert.deepEqual(seen(), ['a', 'b', 'c']);
    releases[2]!();
    await tick();
    assert.equal(q.busy, false);
  });

  test('PendingQueues.settled() resolves once the last queue with a pending job has finished it', async () => {
    const pending = new PendingQueues();
    const q1 = new SocketQueue(noError, pending);
    const q2 = new SocketQueue(noError, pending);
    q1.run(() => undefined); // synchronous: never pending
    assert.equal(pending.size, 0);
    await pending.settled(); // at once
    const release: (() => void)[] = [];
    const job = () => new Promise<void>((r) => release.push(r));
    q1.run(job);
    q1.run(job); // same queue: still one
    q2.run(job);
    assert.equal(pending.size, 2);
    let settled = false;
    void pending.settled().then(() => (settled = true));
    release.shift()!();
    await tick();
    assert.equal(settled, false);
    // q2's job, and q1's second (started once its first ended).
    release.shift()!();
    release.shift()!();
    await tick();
    await tick();
    assert.equal(pending.size, 0);
    assert.equal(settled, true);
  });
});
