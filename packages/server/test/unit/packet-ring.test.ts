import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketRing } from '../../src/common/packet-ring';

describe('PacketRing', () => {
  test('append() then read() returns the text, from a string or from its UTF-8 bytes', () => {
    const ring = new PacketRing(1024);
    const a = ring.append('héllo')!;
    const b = ring.append('wörld', Buffer.from('wörld'))!;
    assert.deepEqual(a, { pos: 0, len: 6 });
    assert.deepEqual(b, { pos: 6, len: 6 });
    assert.equal(ring.read(a.pos, a.len), 'héllo');
    assert.equal(ring.read(b.pos, b.len), 'wörld');
  });

  test('a packet that does not fit at the end of a lap starts the next lap, and older ones are overwritten in order', () => {
    const ring = new PacketRing(100);
    const first = ring.append('a'.repeat(40))!;
    const second = ring.append('b'.repeat(40))!;
    // 80 + 40 > 100: written at the start of the next lap, over `first`.
    const third = ring.append('c'.repeat(40))!;
    assert.equal(third.pos, 100);
    assert.equal(ring.read(first.pos, first.len), undefined);
    assert.equal(ring.holds(first.pos), false);
    assert.equal(ring.read(second.pos, second.len), 'b'.repeat(40)); // not reached yet
    const fourth = ring.append('d'.repeat(40))!;
    assert.equal(ring.read(second.pos, second.len), undefined);
    assert.equal(ring.read(third.pos, third.len), 'c'.repeat(40));
    assert.equal(ring.read(fourth.pos, fourth.len), 'd'.repeat(40));
  });

  test('a packet larger than the ring is refused and leaves the ring as it was', () => {
    const ring = new PacketRing(16);
    const kept = ring.append('short')!;
    assert.equal(ring.append('x'.repeat(17)), undefined);
    assert.equal(ring.append('é'.repeat(9), Buffer.from('é'.repeat(9))), undefined); // 18 bytes
    assert.equal(ring.read(kept.pos, kept.len), 'short');
  });
});
