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
