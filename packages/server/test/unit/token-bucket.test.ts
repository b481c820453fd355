import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from '@switchboard/protocol';
import { ConnectionLimits, REFUSAL_WINDOW_MS } from '../../src/webrtc/connection-limits';

const T0 = 1_700_000_000_000;

describe('TokenBucket', () => {
  it('take() admits a full burst at once, then refuses with the wait for the next token', () => {
    const bucket = new TokenBucket(5, 10, T0);
    for (let i = 0; i < 5; i++) assert.equal(bucket.take(T0), 0);
    assert.equal(bucket.take(T0), 100); // 10/s: one token every 100 ms
  });

  it('take() refills at the sustained rate and never above the capacity', () => {
    const bucket = new TokenBucket(5, 10, T0);
    for (let i = 0; i < 5; i++) bucket.take(T0);
    assert.equal(bucket.take(T0 + 250), 0); // 2.5 tokens back
    assert.equal(bucket.take(T0 + 250), 0);
    assert.equal(bucket.take(T0 + 250), 50); // half a token left: 50 ms to the next
    // An hour later the bucket holds its capacity, not 36,000 tokens.
    const later = T0 + 3_600_000;
    for (let i = 0; i < 5; i++) assert.equal(bucket.take(later), 0);
    assert.ok(bucket.take(later) > 0);
  });

  it('take() with a rate of 0 never refuses (the limit is off)', () => {
    const bucket = new TokenBucket(1, 0, T0);
    for (let i = 0; i < 10_000; i++) assert.equal(bucket.take(T0), 0);
  });

  it('take() with a clock that goes back neither refuses wrongly nor adds tokens', () => {
    const bucket = new TokenBucket(2, 1, T0);
    bucket.take(T0);
    assert.equal(bucket.take(T0 - 10_000), 0);
    assert.ok(bucket.take(T0 - 10_000) > 0);
  });
});

describe('ConnectionLimits', () => {
  const options = {
    signal: { perSecond: 100, burst: 10 },
    join: { perSecond: 1, burst: 2 },
    stateReport: { perSecond: 0, burst: 1 },
    disconnectAfter: 3,
  };

  it('admit() keeps a bucket per kind of request', () => {
    const limits = new ConnectionLimits(options);
    assert.equal(limits.admit('join', T0), 0);
    assert.equal(limits.admit('join', T0), 0);
    assert.equal(limits.admit('join', T0), 1000);
    // Joins exhausted, signals untouched; state reports unlimited (rate 0).
    for (let i = 0; i < 10; i++) assert.equal(limits.admit('signal', T0), 0);
    for (let i = 0; i < 100; i++) assert.equal(limits.admit('state_report', T0), 0);
  });

  it('refused() tolerates disconnectAfter refusals per window, then says the connection must go', () => {
    const limits = new ConnectionLimits(options);
    assert.equal(limits.refused(T0), false);
    assert.equal(limits.refused(T0), false);
    assert.equal(limits.refused(T0), false);
    assert.equal(limits.refused(T0), true);
    // A client that backs off earns its tolerance back over the window.
    const fresh = new ConnectionLimits(options);
    for (let i = 0; i < 30; i++) assert.equal(fresh.refused(T0 + (i * REFUSAL_WINDOW_MS) / 3), false);
  });
});
