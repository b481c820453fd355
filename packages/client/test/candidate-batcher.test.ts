import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { MAX_CANDIDATES_PER_BATCH as PROTOCOL_MAX } from '@switchboard/protocol';
import { CandidateBatcher, MAX_CANDIDATES_PER_BATCH } from '../src/candidate-batcher.js';

/** A candidate as the tests write it: a name, or `null` for end-of-candidates ('' is Firefox's end). */
type Candidate = string | null;

interface Sent {
  to: string;
  candidates: Candidate[];
  at: number;
}

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
});

afterEach(() => {
  mock.timers.reset();
});

/** Moves the fake clock 1 ms at a time, so that `Date.now()` in a timer is its due time. */
function advance(ms: number): void {
  for (let i = 0; i < ms; i++) mock.timers.tick(1);
}

function batcher(windowMs: number, maxBatch = MAX_CANDIDATES_PER_BATCH) {
  const sent: Sent[] = [];
  const b = new CandidateBatcher<Candidate>({
    windowMs,
    maxBatch,
    isEnd: (c) => c === null || c === '',
    send: (to, candidates) => sent.push({ to, candidates, at: Date.now() }),
  });
  return { b, sent };
}

test('CandidateBatcher.add() of candidates within the window sends them as one batch when the window ends', () => {
  const { b, sent } = batcher(5);
  b.add('p1', 'host-udp');
  advance(2);
  b.add('p1', 'host-tcp');
  advance(2);
  b.add('p1', 'srflx');
  assert.deepEqual(sent, []);
  advance(1);
  assert.deepEqual(sent, [{ to: 'p1', candidates: ['host-udp', 'host-tcp', 'srflx'], at: 5 }]);
});

test('CandidateBatcher.add() never delays the first candidate of a batch beyond the window, however many follow', () => {
  const { b, sent } = batcher(5);
  // A candidate every ms: a window restarted by each candidate would never end.
  for (let i = 0; i < 12; i++) {
    b.add('p1', `c${i}`);
    advance(1);
  }
  assert.deepEqual(
    sent.map((s) => [s.at, s.candidates.length]),
    [
      [5, 5],
      [10, 5],
    ],
  );
  advance(5);
  assert.deepEqual(sent[2], { to: 'p1', candidates: ['c10', 'c11'], at: 15 });
});

test('CandidateBatcher.add() after a batch went out starts a new window at that candidate', () => {
  const { b, sent } = batcher(5);
  b.add('p1', 'a');
  advance(5);
  advance(40); // a later gathering phase (e.g. a relay candidate after the TURN allocation)
  b.add('p1', 'relay');
  advance(4);
  assert.equal(sent.length, 1);
  advance(1);
  assert.deepEqual(sent[1], { to: 'p1', candidates: ['relay'], at: 50 });
});

test('CandidateBatcher.add() sends a batch at once when it reaches maxBatch', () => {
  const { b, sent } = batcher(5, 3);
  b.add('p1', 'a');
  b.add('p1', 'b');
  assert.equal(sent.length, 0);
  b.add('p1', 'c');
  assert.deepEqual(sent, [{ to: 'p1', candidates: ['a', 'b', 'c'], at: 0 }]);
  b.add('p1', 'd');
  advance(5);
  assert.deepEqual(sent[1], { to: 'p1', candidates: ['d'], at: 5 });
});

test('CandidateBatcher.add() of MAX_CANDIDATES_PER_BATCH + 1 candidates sends a full batch at once and the rest after the window', () => {
  const { b, sent } = batcher(5);
  for (let i = 0; i <= MAX_CANDIDATES_PER_BATCH; i++) b.add('p1', `c${i}`);
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.candidates.length, MAX_CANDIDATES_PER_BATCH);
  advance(5);
  assert.deepEqual(sent[1]!.candidates, [`c${MAX_CANDIDATES_PER_BATCH}`]);
});

test('CandidateBatcher.add() of end-of-candidates sends its batch at once with the end last', () => {
  const { b, sent } = batcher(5);
  b.add('p1', 'a');
  advance(1);
  b.add('p1', 'b');
  b.add('p1', null);
  assert.deepEqual(sent, [{ to: 'p1', candidates: ['a', 'b', null], at: 1 }]);
  advance(10);
  assert.equal(sent.length, 1, 'the window timer of the sent batch must not send again');
});

test("CandidateBatcher.add() of Firefox's empty end-of-candidates alone sends it at once", () => {
  const { b, sent } = batcher(5);
  b.add('p1', '');
  assert.deepEqual(sent, [{ to: 'p1', candidates: [''], at: 0 }]);
});

test('CandidateBatcher.add() keeps one batch per peer, each with its own window', () => {
  const { b, sent } = batcher(5);
  b.add('p1', 'a1');
  advance(3);
  b.add('p2', 'b1');
  b.add('p1', 'a2');
  advance(2);
  assert.deepEqual(sent, [{ to: 'p1', candidates: ['a1', 'a2'], at: 5 }]);
  advance(3);
  assert.deepEqual(sent[1], { to: 'p2', candidates: ['b1'], at: 8 });
});

test('CandidateBatcher with windowMs 0 sends every candidate alone at once', () => {
  const { b, sent } = batcher(0);
  b.add('p1', 'a');
  b.add('p1', 'b');
  b.add('p1', null);
  assert.deepEqual(
    sent.map((s) => s.candidates),
    [['a'], ['b'], [null]],
  );
  assert.ok(sent.every((s) => s.at === 0));
});

test('CandidateBatcher.flush() sends what waits for that peer at once and only that', () => {
  const { b, sent } = batcher(5);
  b.add('p1', 'a');
  b.add('p2', 'x');
  b.flush('p1');
  assert.deepEqual(sent, [{ to: 'p1', candidates: ['a'], at: 0 }]);
  b.flush('p1'); // nothing waiting: nothing sent
  assert.equal(sent.length, 1);
  advance(5);
  assert.deepEqual(sent[1], { to: 'p2', candidates: ['x'], at: 5 });
});

test('CandidateBatcher.drop() forgets what waits for that peer without sending it', () => {
  const { b, sent } = batcher(5);
  b.add('p1', 'a');
  b.add('p2', 'x');
  b.drop('p1');
  assert.equal(b.pendingFor('p1'), 0);
  advance(5);
  assert.deepEqual(sent, [{ to: 'p2', candidates: ['x'], at: 5 }]);
});

test('CandidateBatcher.close() drops what waits, ignores later candidates and is safe twice', () => {
  const { b, sent } = batcher(5);
  b.add('p1', 'a');
  b.close();
  b.close();
  b.add('p1', 'b');
  b.add('p1', null);
  advance(10);
  assert.deepEqual(sent, []);
});

test("MAX_CANDIDATES_PER_BATCH of the SDK equals the protocol's", () => {
  assert.equal(MAX_CANDIDATES_PER_BATCH, PROTOCOL_MAX);
});
