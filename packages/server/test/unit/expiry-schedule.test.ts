import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ExpirySchedule } from '../../src/auth/expiry-schedule';
import { FakeClock } from '../../src/common/fake-clock';

const NOW = 1_700_000_000_250; // not on a second: a deadline is a whole second
const NOW_S = Math.floor(NOW / 1000);

function schedule(clock = new FakeClock(NOW)) {
  const expired: string[] = [];
  return { clock, expired, s: new ExpirySchedule<string>(clock, (item) => expired.push(item)) };
}

describe('ExpirySchedule', () => {
  test('add() expires each item when the clock reaches its second, in order, with one timer for all', async () => {
    const { clock, expired, s } = schedule();
    s.add('b', NOW_S + 20);
    s.add('a', NOW_S + 10);
    s.add('a2', NOW_S + 10);
    assert.equal(clock.pendingTimers, 1);
    assert.equal(s.size, 3);
    await clock.advance(9_000);
    assert.deepEqual(expired, []);
    await clock.advance(1_000);
    assert.deepEqual(expired, ['a', 'a2']);
    await clock.advance(10_000);
    assert.deepEqual(expired, ['a', 'a2', 'b']);
    assert.equal(s.size, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  test('add() of a second already past expires the item at the next tick', async () => {
    const { clock, expired, s } = schedule();
    s.add('late', NOW_S - 3);
    await clock.advance(0);
    assert.deepEqual(expired, ['late']);
  });

  test('remove() forgets the item; removing the last one cancels the timer', async () => {
    const { clock, expired, s } = schedule();
    s.add('a', NOW_S + 5);
    s.add('b', NOW_S + 6);
    s.remove('a', NOW_S + 5);
    s.remove('a', NOW_S + 5); // harmless twice
    s.remove('b', NOW_S + 99); // wrong second: nothing
    assert.equal(s.size, 1);
    s.remove('b', NOW_S + 6);
    assert.equal(clock.pendingTimers, 0);
    await clock.advance(10_000);
    assert.deepEqual(expired, []);
  });

  test('move() postpones an item to its new second (a refreshed token)', async () => {
    const { clock, expired, s } = schedule();
    s.add('a', NOW_S + 5);
    s.move('a', NOW_S + 5, NOW_S + 60);
    await clock.advance(30_000);
    assert.deepEqual(expired, []);
    await clock.advance(30_000);
    assert.deepEqual(expired, ['a']);
  });

  test('add() of a deadline days away arms no timer longer than a day and still expires it on time', async () => {
    const { clock, expired, s } = schedule();
    s.add('far', NOW_S + 3 * 86_400);
    await clock.advance(3 * 86_400_000 - 1000);
    assert.deepEqual(expired, []);
    await clock.advance(1000);
    assert.deepEqual(expired, ['far']);
  });

  test('a callback that throws does not keep the other items of its second alive', async () => {
    const clock = new FakeClock(NOW);
    const seen: string[] = [];
    const s = new ExpirySchedule<string>(clock, (item) => {
      seen.push(item);
      if (item === 'bad') throw new Error('boom');
    });
    s.add('bad', NOW_S + 1);
    s.add('good', NOW_S + 1);
    await clock.advance(1000);
    assert.deepEqual(seen, ['bad', 'good']);
  });

  test('close() cancels the timer and forgets every item; twice is harmless', async () => {
    const { clock, expired, s } = schedule();
    s.add('a', NOW_S + 1);
    s.close();
    s.close();
    assert.equal(clock.pendingTimers, 0);
    await clock.advance(5000);
    assert.deepEqual(expired, []);
    assert.equal(s.size, 0);
  });
});
