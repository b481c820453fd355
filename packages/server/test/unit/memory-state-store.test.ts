import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { FakeClock } from '../../src/common/fake-clock';
import { MemoryStateStore } from '../../src/webrtc/store/memory-state-store';

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

  test('get() of a value set with a TTL returns it until the TTL elapses, then undefined', async () => {
    await store.set('k', { n: 1 }, 1000);
    await clock.advance(999);
    assert.deepEqual(await store.get('k'), { n: 1 });
    await clock.advance(1);
    assert.equal(await store.get('k'), undefined);
  });

  test('set() without a TTL keeps the value however much time passes', async () => {
    await store.set('k', 'v');
    await clock.advance(3600_000);
    assert.equal(await store.get('k'), 'v');
  });

  test('set() again restarts the TTL from the new write', async () => {
    await store.set('k', 1, 1000);
    await clock.advance(800);
    await store.set('k', 2, 1000);
    await clock.advance(800);
    assert.equal(await store.get('k'), 2);
    await clock.advance(200);
    assert.equal(await store.get('k'), undefined);
  });

  test('size() after TTLs elapse counts 0 even for keys nobody read again', async () => {
    await store.set('a', 1, 1000);
    await store.addToSet('s', 'm', 1000, 10);
    await store.listPush('l', 'x', 10, 1000);
    assert.equal(await store.size(), 3);
    await clock.advance(1000);
    assert.equal(await store.size(), 0);
  });

  test('delete() removes every key given', async () => {
    await store.set('a', 1);
    await store.set('b', 2);
    await store.set('c', 3);
    await store.delete('a', 'b', 'missing');
    assert.equal(await store.size(), 1);
    assert.equal(await store.get('c'), 3);
  });

  test('addToSet() of a member already present returns false and restarts its TTL; true once the TTL elapses', async () => {
    assert.equal(await store.addToSet('s', 'm', 1000, 10), true);
    await clock.advance(999);
    // A retry keeps it remembered: the TTL counts from the latest add.
    assert.equal(await store.addToSet('s', 'm', 1000, 10), false);
    await clock.advance(999);
    assert.deepEqual(await store.setMembers('s'), ['m']);
    await clock.advance(1);
    assert.equal(await store.addToSet('s', 'm', 1000, 10), true);
  });

  test('raiseTo() only raises, and refreshes the TTL either way', async () => {
    assert.equal(await store.raiseTo('k', 5, 1000), true);
    assert.equal(await store.raiseTo('k', 5, 1000), false);
    assert.equal(await store.raiseTo('k', 3, 1000), false);
    assert.equal(await store.get('k'), 5);
    await clock.advance(999);
    await store.raiseTo('k', 1, 1000);
    await clock.advance(999);
    assert.equal(await store.get('k'), 5);
    assert.equal(await store.raiseTo('k', 6, 1000), true);
    await clock.advance(1000);
    assert.equal(await store.get('k'), undefined);
  });

  test('expire() moves the TTL of an existing key and ignores an absent one', async () => {
    await store.set('k', 1, 1000);
    await clock.advance(900);
    await store.expire('k', 1000);
    await clock.advance(900);
    assert.equal(await store.get('k'), 1);
    await store.expire('absent', 1000);
    assert.equal(await store.get('absent'), undefined);
    await clock.advance(100);
    assert.equal(await store.get('k'), undefined);
  });

  test('addToSet() past maxMembers evicts the oldest member', async () => {
    for (const m of ['m1', 'm2', 'm3']) await store.addToSet('s', m, 60_000, 2);
    assert.deepEqual(await store.setMembers('s'), ['m2', 'm3']);
    // Proof it is really gone, not just hidden: adding it again counts as new.
    assert.equal(await store.addToSet('s', 'm1', 60_000, 2), true);
    assert.deepEqual(await store.setMembers('s'), ['m3', 'm1']);
  });

  test('addToSet() of an expired member re-adds it as the newest, so the cap evicts the next oldest', async () => {
    await store.addToSet('s', 'm1', 1000, 2);
    await store.addToSet('s', 'm2', 60_000, 2);
    await clock.advance(1000);
    assert.equal(await store.addToSet('s', 'm1', 60_000, 2), true);
    await store.addToSet('s', 'm3', 60_000, 2);
    assert.deepEqual(await store.setMembers('s'), ['m1', 'm3']);
  });

  test('removeFromSet() of the last member removes the set key', async () => {
    await store.addToSet('s', 'm', 60_000, 10);
    await store.removeFromSet('s', 'm');
    assert.deepEqual(await store.setMembers('s'), []);
    assert.equal(await store.size(), 0);
  });

  test('setMembers() leaves out members whose TTL elapsed', async () => {
    await store.addToSet('s', 'short', 1000, 10);
    await store.addToSet('s', 'long', 5000, 10);
    await clock.advance(1000);
    assert.deepEqual(await store.setMembers('s'), ['long']);
  });

  test('remember() returns true once per member, false while remembered, true after the TTL from its last add', async () => {
    assert.equal(await store.remember('r', 'm', 1000, 10), true);
    await clock.advance(999);
    assert.equal(await store.remember('r', 'm', 1000, 10), false);
    await clock.advance(999);
    assert.equal(await store.remember('r', 'm', 1000, 10), false);
    await clock.advance(1000);
    assert.equal(await store.remember('r', 'm', 1000, 10), true);
  });

  test('remember() past maxMembers forgets the least recently added', async () => {
    for (const m of ['m1', 'm2', 'm3']) await store.remember('r', m, 60_000, 2);
    assert.equal(await store.remember('r', 'm3', 60_000, 2), false);
    assert.equal(await store.remember('r', 'm1', 60_000, 2), true);
  });

  test('forget() of the last remembered member removes the key; of an unknown key or member is a no-op', async () => {
    await store.remember('r', 'm', 60_000, 10);
    await store.forget('r', 'other');
    await store.forget('absent', 'm');
    assert.equal(await store.size(), 1);
    await store.forget('r', 'm');
    assert.equal(await store.size(), 0);
    assert.equal(await store.remember('r', 'm', 60_000, 10), true);
  });

  test('size() after every remembered member expired counts 0 (the sweep drops the key)', async () => {
    await store.remember('r', 'a', 1000, 10);
    await store.remember('r', 'b', 2000, 10);
    await clock.advance(1000);
    assert.equal(await store.size(), 1);
    await clock.advance(1000);
    assert.equal(await store.size(), 0);
  });

  test('hashSetIfCapacity() returns added, exists (updating the value) and full at maxFields', async () => {
    assert.equal(await store.hashSetIfCapacity('h', 'f1', 'v1', 2), 'added');
    assert.equal(await store.hashSetIfCapacity('h', 'f2', 'v2', 2), 'added');
    assert.equal(await store.hashSetIfCapacity('h', 'f3', 'v3', 2), 'full');
    assert.equal(await store.hashSetIfCapacity('h', 'f1', 'v1b', 2), 'exists');
    assert.deepEqual(
      await store.hashGetAll('h'),
      new Map([
        ['f1', 'v1b'],
        ['f2', 'v2'],
      ]),
    );
  });

  test('hashDelete() returns whether the field was there and removes the hash once empty', async () => {
    await store.hashSetIfCapacity('h', 'f', 1, 10);
    assert.equal(await store.hashDelete('h', 'f'), true);
    assert.equal(await store.hashDelete('h', 'f'), false);
    assert.equal(await store.size(), 0);
  });

  test('listPush() past maxLength returns false and listDrain() returns the accepted items in order', async () => {
    assert.equal(await store.listPush('l', 'a', 3, 60_000), true);
    assert.equal(await store.listPush('l', 'b', 3, 60_000), true);
    assert.equal(await store.listPush('l', 'c', 3, 60_000), true);
    assert.equal(await store.listPush('l', 'd', 3, 60_000), false);
    assert.deepEqual(await store.listDrain('l'), ['a', 'b', 'c']);
  });

  test('listDrain() deletes the list, so a second drain returns []', async () => {
    await store.listPush('l', 'a', 3, 60_000);
    await store.listDrain('l');
    assert.deepEqual(await store.listDrain('l'), []);
    assert.equal(await store.size(), 0);
  });

  test('listPush() refreshes the TTL so the list lives ttlMs after the last push', async () => {
    await store.listPush('l', 'a', 10, 1000);
    await clock.advance(800);
    await store.listPush('l', 'b', 10, 1000);
    await clock.advance(800);
    assert.deepEqual(await store.listDrain('l'), ['a', 'b']);
  });

  test('get() of a key that holds another kind throws instead of returning garbage', async () => {
    await store.listPush('l', 'a', 10, 1000);
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
