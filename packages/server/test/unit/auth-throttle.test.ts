import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthThrottle } from '../../src/auth/auth-throttle';

describe('AuthThrottle', () => {
  test('failed() delays each failure after the first a step more, up to the cap', async () => {
    const t = new AuthThrottle({
      failuresPerMinute: 100,
      blockSeconds: 60,
      delayStepMs: 100,
      maxDelayMs: 350,
    });
    const delays = [];
    for (let i = 0; i < 6; i++) delays.push(await t.failed('1.2.3.4'));
    assert.deepEqual(delays, [0, 100, 200, 300, 350, 350]);
  });

  test('failed() the failuresPerMinute-th time blocks the key for blockSeconds; other keys are not affected', async () => {
    const t = new AuthThrottle({ failuresPerMinute: 3, blockSeconds: 120 });
    assert.equal(await t.blockedFor('a'), 0);
    await t.failed('a');
    await t.failed('a');
    assert.equal(await t.blockedFor('a'), 0);
    await t.failed('a');
    const blocked = await t.blockedFor('a');
    assert.ok(blocked > 119_000 && blocked <= 120_000, String(blocked));
    assert.equal(await t.blockedFor('b'), 0);
  });

  test('failuresPerMinute 0 turns the throttle off: no delay, never blocked', async () => {
    const t = new AuthThrottle({ failuresPerMinute: 0, blockSeconds: 60 });
    for (let i = 0; i < 50; i++) assert.equal(await t.failed('a'), 0);
    assert.equal(await t.blockedFor('a'), 0);
  });
});
