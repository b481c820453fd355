import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DigestSet, digestText } from '../../src/webrtc/store/digest-set';

/**
 * What DigestSet must behave like: the Map-of-strings set it replaced (MemoryStateStore.addToSet's
 * rules), minus listing, with a sweep that stops at the first unexpired member.
 */
class ReferenceSet {
  readonly members = new Map<string, number>();
  add(member: string, now: number, expiresAt: number, max: number): boolean {
    const exp = this.members.get(member);
    const fresh = exp === undefined || exp <= now;
    this.members.delete(member);
    this.members.set(member, expiresAt);
    if (fresh)
      while (this.members.size > max) this.members.delete(this.members.keys().next().value as string);
    return fresh;
  }
  sweep(now: number): void {
    for (const [m, exp] of this.members) {
      if (exp > now) break;
      this.members.delete(m);
    }
  }
}

/** mulberry32: a seeded generator, so a failure replays. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function arrays(set: DigestSet): { exp: Float64Array; index: Int32Array } {
  return set as unknown as { exp: Float64Array; index: Int32Array };
}

describe('DigestSet', () => {
  test('add() of a new member returns true, of a held one false, of an expired one true again', () => {
    const set = new DigestSet();
    assert.equal(set.add('m', 0, 1000, 10), true);
    assert.equal(set.add('m', 999, 1999, 10), false);
    // The second add moved the expiry: still held at 1500.
    assert.equal(set.add('m', 1500, 2500, 10), false);
    assert.equal(set.add('m', 2500, 3500, 10), true);
    assert.equal(set.size, 1);
  });

  test('add() of members differing in one character, or only in length, tells them apart', () => {
    const set = new DigestSet();
    const base = 'candidate:842163049 1 udp 1677729535 203.0.113.7 54321 typ srflx raddr 0.0.0.0 rport 0';
    const variants = [base, `${base} `, base.slice(0, -1), base.replace('54321', '54322'), '', '\u0000'];
    for (let i = 0; i < base.length; i++)
      variants.push(base.slice(0, i) + String.fromCharCode(base.charCodeAt(i) ^ 1) + base.slice(i + 1));
    for (const v of variants) assert.equal(set.add(v, 0, 1000, 1000), true, JSON.stringify(v));
    for (const v of variants) assert.equal(set.add(v, 0, 1000, 1000), false, JSON.stringify(v));
  });

  test('add() tells apart members that differ in a trailing NUL, in non-ASCII text, or past 1,364 units; equal text built differently is one member', () => {
    const set = new DigestSet();
    // Around the scratch memory's limits: hashed as UTF-8 words up to 1,364 UTF-16 units, unit by unit past it.
    const long = 'x'.repeat(1363);
    const variants = [
      'a',
      'a\u0000',
      'a\u0000\u0000',
      'a\u0000\u0000\u0000',
      'é',
      'e\u0301',
      '\u{1F600}',
      '€€€€',
    ];
    for (const n of [1362, 1363, 1364, 1365, 1366, 4000])
      variants.push('y'.repeat(n), 'y'.repeat(n - 1) + 'z');
    variants.push('€'.repeat(1364), '€'.repeat(1363) + '¢', long + 'é', long + 'e');
    for (const v of variants) assert.equal(set.add(v, 0, 1000, 1000), true, JSON.stringify(v.slice(-8)));
    // The same texts as other V8 string representations (concatenated, sliced, parsed): already held.
    for (const v of variants) {
      const cut = Math.floor(v.length / 2);
      const forms = [
        v.slice(0, cut) + v.slice(cut),
        `${v} `.slice(0, -1),
        JSON.parse(JSON.stringify(v)) as string,
      ];
      for (const f of forms) assert.equal(set.add(f, 0, 1000, 1000), false, JSON.stringify(v.slice(-8)));
    }
  });

  test('add() tells apart 200,000 candidate lines and 200,000 message ids that differ only in their numbers', () => {
    // Lines like a flood's (long, two numbers apart) and like ordinary ones: a digest that mixes a
    // 32-bit block's high bytes poorly collides here (6 of 3,000 lines did).
    const lines = (n: number) => [
      `flood\u00000\u0000candidate:${n} 1 udp 2122260223 192.0.2.1 ${1024 + (n % 60000)} typ host x ${'y'.repeat(900)}`,
      `abcd\u00000\u0000candidate:842163049 1 udp 1677729535 203.0.113.${n % 250} ${n % 65536} typ srflx`,
      `m${n}`,
    ];
    const sets = [new DigestSet(), new DigestSet(), new DigestSet()];
    for (let n = 0; n < 200_000; n++) {
      const members = lines(n);
      for (let k = 0; k < 3; k++)
        assert.equal(sets[k]!.add(members[k]!, 0, 1000, 1_000_000), true, members[k]);
    }
  });

  test('digestText() is the digest DigestSet keeps, as at most 15 characters: equal for equal text however built, distinct for 100,000 candidate lines', () => {
    const line = 'abcd\u00000\u0000candidate:842163049 1 udp 1677729535 203.0.113.7 54321 typ srflx';
    // A flat string, a rope of two halves and a slice of a longer one: the same text.
    const rope = line.slice(0, 20) + [line.slice(20)].join('');
    assert.equal(digestText(rope), digestText(line));
    assert.equal(digestText(`x${line}x`.slice(1, -1)), digestText(line));
    const seen = new Set<string>();
    for (let n = 0; n < 100_000; n++) {
      const text = digestText(
        `abcd\u00000\u0000candidate:${n} 1 udp 1677729535 203.0.113.${n % 250} ${n % 65536} typ srflx`,
      );
      assert.match(text, /^[0-9a-z]{1,7}\.[0-9a-z]{1,7}$/);
      seen.add(text);
    }
    assert.equal(seen.size, 100_000);
  });

  test('add() past maxMembers drops the least recently added; a re-added member counts as recent', () => {
    const set = new DigestSet();
    set.add('m1', 0, 1000, 2);
    set.add('m2', 0, 1000, 2);
    assert.equal(set.add('m1', 0, 1000, 2), false);
    set.add('m3', 0, 1000, 2);
    // m2 was the least recently added, so it went: adding it again is new, and drops m1.
    assert.equal(set.add('m2', 0, 1000, 2), true);
    assert.equal(set.add('m3', 0, 1000, 2), false);
    assert.equal(set.add('m1', 0, 1000, 2), true);
  });

  test('delete() forgets a member, so adding it again returns true; deleting an absent one is a no-op', () => {
    const set = new DigestSet();
    set.add('m', 0, 1000, 10);
    set.delete('absent');
    set.delete('m');
    assert.equal(set.size, 0);
    assert.equal(set.add('m', 0, 1000, 10), true);
  });

  test('sweep() drops the expired members added before the first unexpired one, and stops there', () => {
    const set = new DigestSet();
    set.add('a', 0, 1000, 10);
    set.add('b', 0, 5000, 10);
    set.add('c', 0, 1000, 10);
    set.sweep(1000);
    // 'c' expired too, but lies behind 'b': it goes at a later sweep (and is answered as new meanwhile).
    assert.equal(set.size, 2);
    assert.equal(set.add('c', 1000, 2000, 10), true);
    set.sweep(5000);
    assert.equal(set.size, 0);
  });

  test('sweep() drops only the members expired by then', () => {
    const set = new DigestSet();
    set.add('short', 0, 1000, 10);
    set.add('long', 0, 5000, 10);
    set.sweep(1000);
    assert.equal(set.size, 1);
    assert.equal(set.add('long', 1000, 5000, 10), false);
  });

  test('200,000 random add/delete/sweep calls answer exactly as a Map of the member strings does', () => {
    // Small member pools and caps make every path run often: duplicates, expiry, eviction,
    // compaction, growth and the index's backward-shift deletion.
    const next = random(42);
    const set = new DigestSet();
    const ref = new ReferenceSet();
    let now = 0;
    for (let i = 0; i < 200_000; i++) {
      const r = next();
      const member = `m${Math.floor(next() * 300)}`;
      const max = i < 100_000 ? 64 : 200;
      if (r < 0.8) {
        const expiresAt = now + 1 + Math.floor(next() * 2000);
        assert.equal(set.add(member, now, expiresAt, max), ref.add(member, now, expiresAt, max), `call ${i}`);
      } else if (r < 0.95) {
        set.delete(member);
        ref.members.delete(member);
      } else if (r < 0.99) {
        now += Math.floor(next() * 200);
      } else {
        set.sweep(now);
        ref.sweep(now);
      }
      assert.equal(set.size, ref.members.size, `size after call ${i}`);
    }
  });

  test('100,000 distinct members with maxMembers 1,024 keep the arrays within 4 × 1,024 entries', () => {
    const set = new DigestSet();
    for (let i = 0; i < 100_000; i++) set.add(`id-${i}`, 0, 60_000, 1024);
    assert.equal(set.size, 1024);
    assert.ok(arrays(set).exp.length <= 4 * 1024, `${arrays(set).exp.length} entries`);
    // The newest 1,024 are held, the one before them is not.
    assert.equal(set.add('id-98976', 0, 60_000, 1024), false);
    assert.equal(set.add('id-98975', 0, 60_000, 1024), true);
  });
});
