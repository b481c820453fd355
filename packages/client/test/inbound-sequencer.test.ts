import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { InboundSequencer } from '../src/inbound-sequencer.js';

/** Feeds `seqs` through a sequencer; returns what was delivered, in delivery order. */
function feed(sequencer: InboundSequencer, seqs: (number | undefined)[], out: (number | undefined)[] = []) {
  for (const seq of seqs) sequencer.accept(seq, () => out.push(seq));
  return out;
}

test('InboundSequencer.accept() of signals in order delivers each at once and tracks lastSeq', () => {
  const s = new InboundSequencer();
  assert.deepEqual(feed(s, [1, 2, 3]), [1, 2, 3]);
  assert.equal(s.lastSeq, 3);
});

test('InboundSequencer.accept() of a replay overlapping what arrived live delivers each seq once', () => {
  const s = new InboundSequencer();
  // Live 1-4, then a resume replays from lastSeq 2 (3 and 4 again) and goes on.
  assert.deepEqual(feed(s, [1, 2, 3, 4, 3, 4, 5, 6, 5]), [1, 2, 3, 4, 5, 6]);
  assert.equal(s.lastSeq, 6);
});

test('InboundSequencer.accept() of swapped neighbours holds the later one until the earlier arrives', () => {
  const s = new InboundSequencer();
  const out = feed(s, [1, 3, 4]);
  assert.deepEqual(out, [1]);
  assert.equal(s.lastSeq, 1, 'lastSeq stays below the gap, so a resume asks for 2 again');
  feed(s, [2], out);
  assert.deepEqual(out, [1, 2, 3, 4]);
  assert.equal(s.lastSeq, 4);
});

test('InboundSequencer with a gap that is never filled delivers what waits, in order, after gapWaitMs', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const skipped: [number, number][] = [];
    const s = new InboundSequencer(1000, 256, (from, to) => skipped.push([from, to]));
    const out = feed(s, [1, 2, 5, 4]);
    mock.timers.tick(999);
    assert.deepEqual(out, [1, 2]);
    mock.timers.tick(1);
    assert.deepEqual(out, [1, 2, 4, 5]);
    assert.deepEqual(skipped, [[3, 3]]);
    assert.equal(s.lastSeq, 5);
    feed(s, [3, 6], out);
    assert.deepEqual(out, [1, 2, 4, 5, 6], 'the late 3 is a repeat by now');
  } finally {
    mock.timers.reset();
  }
});

test('InboundSequencer holding maxWaiting signals behind a gap gives the gap up at the next one', () => {
  const s = new InboundSequencer(60_000, 3);
  const out = feed(s, [1, 3, 4, 5]);
  assert.deepEqual(out, [1]);
  feed(s, [6], out);
  assert.deepEqual(out, [1, 3, 4, 5, 6]);
});

test('InboundSequencer passes signals without seq straight through, and reset() starts again from 1', () => {
  const s = new InboundSequencer();
  assert.deepEqual(feed(s, [undefined, 1, undefined, 2]), [undefined, 1, undefined, 2]);
  s.reset();
  assert.equal(s.lastSeq, 0);
  assert.deepEqual(feed(s, [1]), [1]);
});
