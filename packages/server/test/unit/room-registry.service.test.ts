import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { PeerInfo } from '@switchboard/protocol';
import { FakeClock } from '../../src/common/fake-clock';
import { RoomRegistryService } from '../../src/webrtc/services/room-registry.service';
import { MemoryStateStore } from '../../src/webrtc/store/memory-state-store';

const MAX_PEERS = 3;

function peer(peerId: string, displayName = `peer ${peerId}`): PeerInfo {
  return { peerId, displayName, joinedAt: 1_700_000_000_000 };
}

describe('RoomRegistryService', () => {
  let store: MemoryStateStore;
  let rooms: RoomRegistryService;

  beforeEach(() => {
    store = new MemoryStateStore(new FakeClock());
    rooms = new RoomRegistryService(store, { maxPeersPerRoom: MAX_PEERS });
  });

  afterEach(async () => {
    await store.close();
  });

  test('join() of a new peer returns added and records it in peers() and roomsOf()', async () => {
    assert.equal(await rooms.join('r1', peer('p1')), 'added');
    assert.deepEqual(await rooms.peers('r1'), [peer('p1')]);
    assert.deepEqual(await rooms.roomsOf('p1'), ['r1']);
    assert.equal(await rooms.isMember('r1', 'p1'), true);
  });

  test('join() when the room holds maxPeersPerRoom peers returns full and records nothing', async () => {
    for (const id of ['p1', 'p2', 'p3']) assert.equal(await rooms.join('r1', peer(id)), 'added');
    assert.equal(await rooms.join('r1', peer('p4')), 'full');
    assert.deepEqual((await rooms.peerIds('r1')).sort(), ['p1', 'p2', 'p3']);
    assert.equal(await rooms.isMember('r1', 'p4'), false);
    assert.deepEqual(await rooms.roomsOf('p4'), []);
  });

  test('join() twice returns exists, counts the peer once and updates its info', async () => {
    assert.equal(await rooms.join('r1', peer('p1', 'old')), 'added');
    assert.equal(await rooms.join('r1', peer('p1', 'new')), 'exists');
    assert.deepEqual(await rooms.peers('r1'), [peer('p1', 'new')]);
    assert.deepEqual(await rooms.roomsOf('p1'), ['r1']);
  });

  test('join() of a member of a full room returns exists, not full', async () => {
    for (const id of ['p1', 'p2', 'p3']) await rooms.join('r1', peer(id));
    assert.equal(await rooms.join('r1', peer('p2')), 'exists');
  });

  test('leave() removes the peer from the room and from roomsOf(); a second leave() returns false', async () => {
    await rooms.join('r1', peer('p1'));
    await rooms.join('r1', peer('p2'));
    assert.equal(await rooms.leave('r1', 'p1'), true);
    assert.deepEqual(await rooms.roomsOf('p1'), []);
    assert.deepEqual(await rooms.peerIds('r1'), ['p2']);
    assert.equal(await rooms.leave('r1', 'p1'), false);
  });

  test('leave() of one room keeps the peer’s other rooms', async () => {
    await rooms.join('r1', peer('p1'));
    await rooms.join('r2', peer('p1'));
    await rooms.leave('r1', 'p1');
    assert.deepEqual(await rooms.roomsOf('p1'), ['r2']);
    assert.equal(await rooms.isMember('r2', 'p1'), true);
  });

  test('leave() of every peer leaves no keys behind (store.size() 0)', async () => {
    await rooms.join('r1', peer('p1'));
    await rooms.join('r1', peer('p2'));
    await rooms.join('r2', peer('p1'));
    await rooms.leave('r1', 'p1');
    await rooms.leave('r1', 'p2');
    await rooms.leave('r2', 'p1');
    assert.equal(await store.size(), 0);
  });

  test('leave() frees a slot: join() into a room that was full returns added', async () => {
    for (const id of ['p1', 'p2', 'p3']) await rooms.join('r1', peer(id));
    await rooms.leave('r1', 'p2');
    assert.equal(await rooms.join('r1', peer('p4')), 'added');
  });
});
