import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { FakeClock } from '../../src/common/fake-clock';
import { MemoryStateStore } from '../../src/webrtc/store/memory-state-store';
import { stateStoreContract } from '../support/state-store-contract';

stateStoreContract('MemoryStateStore', async () => {
  const clock = new FakeClock();
  const published = new Map<string, string[]>();
  const store = new MemoryStateStore(clock, 10_000, (channel, message) =>
    published.get(channel)?.push(message),
  );
  return {
    store,
    advance: (ms) => clock.advance(ms),
    close: async () => store.close(),
    subscribe: async (channel) => {
      const messages: string[] = [];
      published.set(channel, messages);
      return async () => [...messages];
    },
  };
});

// What only the in-memory store does: exact expiry on its injected clock, keys without a TTL, the
// sweep timer and its error messages.
describe('MemoryStateStore', () => {
  let clock: FakeClock;
  let store: MemoryStateStore;

  beforeEach(() => {
    clock = new FakeClock();
    store = new MemoryStateStore(clock);
  });

  afterEach(async () => {
    await store.close();
  });

  test('get() of a value set with a TTL returns it until the clock reaches the expiry, to the millisecond', async () => {
    await store.set('k', { n: 1 }, 1000);
    await clock.advance(999);
    assert.deepEqual(store.get('k'), { n: 1 });
    await clock.advance(1);
    assert.equal(store.get('k'), undefined);
  });

  test('set members, remembered members and lists expire exactly ttlMs after their last write', async () => {
    store.addToSet('s', 'm', 1000, 10);
    store.remember('r', 'm', 1000, 10);
    store.listPush('l', 'x', 10, 1000);
    await clock.advance(999);
    assert.deepEqual(store.setMembers('s'), ['m']);
    assert.equal(store.remember('r', 'm', 1, 10), false);
    assert.equal(store.listLength('l'), 1);
    await clock.advance(1);
    assert.deepEqual(store.setMembers('s'), []);
    assert.equal(store.remember('r', 'm', 1000, 10), true);
    assert.equal(store.listLength('l'), 0);
  });

  test('set() without a TTL and hashSetIfCapacity() keep their keys however much time passes', async () => {
    store.set('k', 'v');
    store.hashSetIfCapacity('h', 'f', 1, 10);
    await clock.advance(3600_000);
    assert.equal(store.get('k'), 'v');
    assert.equal(store.hashGet('h', 'f'), 1);
  });

  test('every operation answers synchronously, without a promise', () => {
    assert.equal(store.raiseTo('k', 1, 1000), true);
    assert.equal(store.get('k'), 1);
    assert.equal(store.remember('r', 'm', 1000, 10), true);
    assert.equal(store.hashSetIfCapacity('h', 'f', 1, 10), 'added');
    assert.deepEqual(store.listDrain('l'), []);
    assert.equal(store.size(), 3);
  });

  test('get() of a key that holds another kind throws, naming both kinds', async () => {
    store.listPush('l', 'a', 10, 1000);
    assert.throws(() => store.get('l'), /holds a list, not a value/);
  });

  test('the constructor arms one sweep timer that re-arms after each sweep', async () => {
    assert.equal(clock.pendingTimers, 1);
    await clock.advance(10_000);
    assert.equal(clock.pendingTimers, 1);
  });

  test('close() cancels the sweep timer and is safe to call twice', async () => {
    await store.close();
    assert.equal(clock.pendingTimers, 0);
    await store.close();
    assert.equal(clock.pendingTimers, 0);
    // A sweep firing after close must not re-arm itself.
    await clock.advance(60_000);
    assert.equal(clock.pendingTimers, 0);
  });
});
