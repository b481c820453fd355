import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_RECONNECT_DELAYS_MS,
  DefaultReconnectPolicy,
  type ReconnectContext,
} from '../src/reconnect-policy.js';

const ctx = (retryCount: number, extra: Partial<ReconnectContext> = {}): ReconnectContext => ({
  retryCount,
  elapsedMs: 0,
  reason: 'transport close',
  ...extra,
});

test('DefaultReconnectPolicy without jitter walks its delay table and repeats the last entry', () => {
  const policy = new DefaultReconnectPolicy({ random: () => 0 });
  const delays = Array.from({ length: 8 }, (_, i) => policy.nextRetryDelayMs(ctx(i)));
  assert.deepEqual(delays, [...DEFAULT_RECONNECT_DELAYS_MS, 7000, 7000]);
});

test('DefaultReconnectPolicy jitter stays within jitterRatio of the base delay and leaves the immediate retry at 0', () => {
  const policy = new DefaultReconnectPolicy({ random: () => 0.999999, jitterRatio: 0.25 });
  assert.equal(policy.nextRetryDelayMs(ctx(0)), 0);
  for (let i = 1; i < 6; i++) {
    const base = DEFAULT_RECONNECT_DELAYS_MS[i];
    const delay = policy.nextRetryDelayMs(ctx(i))!;
    assert.ok(delay >= base && delay <= Math.round(base * 1.25), `retry ${i}: ${delay} for base ${base}`);
  }
});

test('DefaultReconnectPolicy returns null once maxRetries or maxElapsedMs is reached', () => {
  const policy = new DefaultReconnectPolicy({ maxRetries: 3, maxElapsedMs: 10_000, random: () => 0 });
  assert.equal(policy.nextRetryDelayMs(ctx(2)), 1200);
  assert.equal(policy.nextRetryDelayMs(ctx(3)), null);
  assert.equal(policy.nextRetryDelayMs(ctx(1, { elapsedMs: 10_000 })), null);
});

test('DefaultReconnectPolicy waits at least the server shutdown hint', () => {
  const policy = new DefaultReconnectPolicy({ random: () => 0 });
  assert.equal(policy.nextRetryDelayMs(ctx(0, { serverHintMs: 1500 })), 1500);
  // A table delay longer than the hint wins.
  assert.equal(policy.nextRetryDelayMs(ctx(4, { serverHintMs: 1500 })), 4800);
});

test('DefaultReconnectPolicy.fromServerConfig() doubles reconnectionDelay up to reconnectionDelayMax after an immediate retry', () => {
  const policy = DefaultReconnectPolicy.fromServerConfig({
    reconnectionDelay: 1000,
    reconnectionDelayMax: 5000,
  });
  assert.deepEqual(policy.delaysMs, [0, 1000, 2000, 4000, 5000]);
  assert.deepEqual(
    DefaultReconnectPolicy.fromServerConfig({ reconnectionDelay: 0, reconnectionDelayMax: 0 }).delaysMs,
    [0, 0],
  );
  assert.deepEqual(
    DefaultReconnectPolicy.fromServerConfig({ reconnectionDelay: 300, reconnectionDelayMax: 100 }).delaysMs,
    [0, 300],
  );
});

test('new DefaultReconnectPolicy() with an empty or negative table throws RangeError', () => {
  assert.throws(() => new DefaultReconnectPolicy({ delaysMs: [] }), RangeError);
  assert.throws(() => new DefaultReconnectPolicy({ delaysMs: [0, -1] }), RangeError);
});
