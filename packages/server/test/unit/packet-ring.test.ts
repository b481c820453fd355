import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketRing } from '../../src/common/packet-ring';

describe('PacketRing', () => {
  test('append() then read() returns the text, from a string or from its UTF-8 bytes; lastLength is its byte length', () => {
    const ring = new PacketRing(1024, 256);
    const a = ring.append('héllo');
    assert.equal(ring.lastLength, 6);
    const b = ring.append('wörld', Buffer.from('wörld'));
    assert.equal(ring.lastLength, 6);
    assert.equal(b, a + 6);
    assert.equal(ring.read(a, 6), 'héllo');
    assert.equal(ring.read(b, 6), 'wörld');
  });

  test('a packet that does not fit in the rest of a chunk goes to the next chunk', () => {
    const ring = new PacketRing(1000, 100);
    const first = ring.append('a'.repeat(60));
    const second = ring.append('b'.repeat(60));
    assert.equal(second, first + 100);
    assert.equal(ring.allocatedBytes, 200);
    assert.equal(ring.read(first, 60), 'a'.repeat(60));
    assert.equal(ring.read(second, 60), 'b'.repeat(60));
  });

  test('1,000 packets appended and released as they go keep to 2 chunks: a chunk nobody references is reused', () => {
    const ring = new PacketRing(100 * 100, 100);
    let previous = -1;
    for (let i = 0; i < 1000; i++) {
      const pos = ring.append(`packet ${i}`.padEnd(40, '.'));
      if (previous >= 0) ring.release(previous);
      previous = pos;
      assert.equal(ring.read(pos, 40), `packet ${i}`.padEnd(40, '.'));
    }
    assert.equal(ring.allocatedBytes, 200);
  });

  test('referenced packets are never overwritten below the cap: chunks are added and every packet stays readable', () => {
    const ring = new PacketRing(10 * 100, 100);
    const kept = Array.from({ length: 20 }, (_, i) => ring.append(`${i}`.padEnd(50, '-')));
    assert.equal(ring.allocatedBytes, 1000);
    kept.forEach((pos, i) => assert.equal(ring.read(pos, 50), `${i}`.padEnd(50, '-')));
  });

  test('a packet with 2 references keeps its chunk until both are released', () => {
    const ring = new PacketRing(1000, 100);
    const shared = ring.append('s'.repeat(60), undefined, 2);
    ring.append('x'.repeat(60)); // second chunk, referenced
    ring.release(shared);
    ring.append('y'.repeat(60)); // needs a chunk: the first still has a reference, so a third is added
    assert.equal(ring.allocatedBytes, 300);
    assert.equal(ring.read(shared, 60), 's'.repeat(60));
    ring.release(shared);
    ring.append('z'.repeat(60)); // now the first chunk is free and is reused
    assert.equal(ring.allocatedBytes, 300);
    assert.equal(ring.holds(shared), false);
  });

  test('at the cap the chunk written longest ago is overwritten, referenced or not, and releasing its old packets changes nothing', () => {
    const ring = new PacketRing(300, 100);
    const [a, b, c] = ['a', 'b', 'c'].map((ch) => ring.append(ch.repeat(60)));
    const d = ring.append('d'.repeat(60)); // over a's chunk
    assert.equal(ring.holds(a!), false);
    assert.equal(ring.read(a!, 60), undefined);
    assert.equal(ring.read(b!, 60), 'b'.repeat(60));
    // a's reference is gone with its chunk: releasing it must not free the chunk d now lives in.
    ring.release(a!);
    ring.release(b!); // b's chunk is now free and is the one reused next, not d's
    const e = ring.append('e'.repeat(60));
    assert.equal(ring.read(d, 60), 'd'.repeat(60));
    assert.equal(ring.read(c!, 60), 'c'.repeat(60));
    assert.equal(ring.read(e, 60), 'e'.repeat(60));
    assert.equal(ring.holds(b!), false);
    assert.equal(ring.allocatedBytes, 300);
  });

  test('a packet larger than a chunk is refused and leaves the ring as it was', () => {
    const ring = new PacketRing(64, 16);
    const kept = ring.append('short');
    assert.equal(ring.append('x'.repeat(17)), -1);
    assert.equal(ring.append('é'.repeat(9), Buffer.from('é'.repeat(9))), -1); // 18 bytes
    assert.equal(ring.read(kept, 5), 'short');
    assert.equal(ring.allocatedBytes, 16);
  });
});
