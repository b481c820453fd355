/**
 * A capped set of member digests with an expiry per member, kept in typed arrays: what the
 * de-duplication of message ids and candidates remembers.
 *
 * Why not a `Map` of the member strings: every remembered id or candidate line outlives the young
 * generation, so the GC copies it twice and then marks it at every major GC. Under the bench's
 * relay load that state held the heap at 135-353 MB after GC (a bare relay: 28 MB) and cost the
 * SDP phases that followed the candidate phases 10-20 % of their throughput. Here a member costs
 * 24 bytes (and at most three times that in free space) in typed arrays, whose contents the GC
 * never visits.
 *
 * A member is known by a 64-bit digest of its text, not by the text: a member never added is taken
 * for a remembered one when its digest equals one of the n remembered, with probability about
 * n / 2^64 (5.6e-17 for 1,024), far below that of two random message ids (UUID v4) being equal,
 * which the id de-duplication accepts anyway. The digest is not cryptographic; a sender who crafts
 * colliding members only loses its own signals, since every set belongs to one sending direction.
 *
 * Members sit in insertion order in an array (`a`, `b`: the digest's halves; `exp`: expiry or
 * `DEAD`), indexed by an open-addressing table; re-adding a member moves it to the end. When the
 * array is full, live members are compacted to its front, and it doubles while more than half of it
 * is live, so it never exceeds four times the largest `maxMembers` given.
 */
export class DigestSet {
  private a = new Int32Array(INITIAL);
  private b = new Int32Array(INITIAL);
  private exp = new Float64Array(INITIAL);
  /** Slots hold position + 1 (0: empty); twice the array's length, so at most half full. */
  private index = new Int32Array(INITIAL * 2);
  /** Next free position. */
  private tail = 0;
  /** Lowest position that may be live (eviction scans from here). */
  private oldest = 0;
  private live = 0;

  /** Number of members held, expired ones included until {@link sweep} or eviction drops them. */
  get size(): number {
    return this.live;
  }

  /**
   * Adds `member`, expiring at `expiresAt`; returns true when it was not held unexpired at `now`.
   * Either way it becomes the most recently added. When a new member makes more than
   * `maxMembers`, the least recently added are dropped.
   */
  add(member: string, now: number, expiresAt: number, maxMembers: number): boolean {
    digest(member);
    const pos = this.find(hashA, hashB);
    let fresh = true;
    if (pos >= 0) {
      fresh = this.exp[pos] <= now;
      this.kill(pos);
    }
    if (this.tail === this.exp.length) this.compact();
    const at = this.tail++;
    this.a[at] = hashA;
    this.b[at] = hashB;
    this.exp[at] = expiresAt;
    this.insert(at);
    this.live++;
    if (fresh) while (this.live > maxMembers) this.evictOldest();
    return fresh;
  }

  /** Whether `member` is held unexpired at `now` (it is not moved). */
  has(member: string, now: number): boolean {
    digest(member);
    const pos = this.find(hashA, hashB);
    return pos >= 0 && this.exp[pos] > now;
  }

  /** Drops `member` if held. */
  delete(member: string): void {
    digest(member);
    const pos = this.find(hashA, hashB);
    if (pos >= 0) this.kill(pos);
  }

  /**
   * Drops the members expired at `now` that precede, in insertion order, the first one that has
   * not: all expired ones when every member is added with the same TTL, as each caller does. It
   * stops there so that a periodic sweep costs what expired since the last one, not the whole set.
   */
  sweep(now: number): void {
    for (let p = this.oldest; p < this.tail; p++) {
      if (this.exp[p] === DEAD) continue;
      if (this.exp[p] > now) break;
      this.kill(p);
    }
  }

  private find(a: number, b: number): number {
    const mask = this.index.length - 1;
    for (let i = a & mask; ; i = (i + 1) & mask) {
      const v = this.index[i];
      if (v === 0) return -1;
      if (this.a[v - 1] === a && this.b[v - 1] === b) return v - 1;
    }
  }

  private insert(pos: number): void {
    const mask = this.index.length - 1;
    let i = this.a[pos] & mask;
    while (this.index[i] !== 0) i = (i + 1) & mask;
    this.index[i] = pos + 1;
  }

  private kill(pos: number): void {
    this.exp[pos] = DEAD;
    this.live--;
    // Backward-shift deletion keeps linear probing free of tombstones: entries after the hole
    // move into it unless their home slot lies cyclically after the hole.
    const index = this.index;
    const mask = index.length - 1;
    let hole = this.a[pos] & mask;
    while (index[hole] !== pos + 1) hole = (hole + 1) & mask;
    for (let j = (hole + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const home = this.a[index[j] - 1] & mask;
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!stays) {
        index[hole] = index[j];
        hole = j;
      }
    }
    index[hole] = 0;
  }

  private evictOldest(): void {
    while (this.exp[this.oldest] === DEAD) this.oldest++;
    this.kill(this.oldest);
  }

  /** Moves live members to the front in order (into arrays twice as long when over half are live). */
  private compact(): void {
    const length = this.live * 2 > this.exp.length ? this.exp.length * 2 : this.exp.length;
    const a = length === this.a.length ? this.a : new Int32Array(length);
    const b = length === this.b.length ? this.b : new Int32Array(length);
    const exp = length === this.exp.length ? this.exp : new Float64Array(length);
    let to = 0;
    for (let from = this.oldest; from < this.tail; from++) {
      if (this.exp[from] === DEAD) continue;
      a[to] = this.a[from];
      b[to] = this.b[from];
      exp[to] = this.exp[from];
      to++;
    }
    this.a = a;
    this.b = b;
    this.exp = exp;
    this.tail = to;
    this.oldest = 0;
    this.index = length * 2 === this.index.length ? this.index.fill(0) : new Int32Array(length * 2);
    for (let p = 0; p < to; p++) this.insert(p);
  }
}

const INITIAL = 8;
const DEAD = Number.NEGATIVE_INFINITY;

/**
 * The 64-bit digest of `text` (the one a {@link DigestSet} keeps) as text: its two halves as unsigned
 * base-36 numbers, joined by a dot (at most 15 characters). What the Redis store remembers instead
 * of a member: a JavaScript hash over scratch memory costs about a sixth of the instructions of a
 * native SHA-256 call, two of which were 5 % of the sending instance's work per cross-instance
 * candidate.
 */
export function digestText(text: string): string {
  digest(text);
  return `${(hashA >>> 0).toString(36)}.${(hashB >>> 0).toString(36)}`;
}

/** The last digest computed: two 32-bit halves (module state, so no pair is allocated per call). */
let hashA = 0;
let hashB = 0;

/**
 * Scratch memory for {@link digest}: the text's UTF-8 bytes, read back as 32-bit words. Its UTF-8
 * form is at most 3 bytes per UTF-16 unit, so texts of up to {@link MAX_SCRATCH_UNITS} units fit
 * (with 3 bytes to spare for the last word's padding); longer ones are hashed unit by unit.
 */
const scratchBytes = Buffer.alloc(4096);
const scratchWords = new Int32Array(scratchBytes.buffer, scratchBytes.byteOffset, 1024);
const MAX_SCRATCH_UNITS = 1364;

/**
 * A 64-bit digest of `text` into {@link hashA} and {@link hashB}: two MurmurHash3 (x86, 32-bit)
 * lanes with different seeds over the same input blocks, each finished with MurmurHash3's `fmix32`
 * and then mixed into each other (https://github.com/aappleby/smhasher, public domain). The text
 * is written as UTF-8 into scratch memory by `Buffer#write` (native) and read back four bytes at a
 * time: measured with callgrind over message ids and candidate lines in V8's various string
 * representations, a fraction of the instructions of feeding it one `charCodeAt` at a time — which
 * cost 4.0k instructions a digest, and 3-4 times that again when `text.charCodeAt` was looked up on
 * strings of too many representations for V8's inline cache (a sixth of the in-memory relay's
 * instructions per candidate). Each 32-bit block is mixed with rotations as well as multiplications:
 * multiplying alone (cyrb53's step, fine for 16-bit units) carries a block's high bytes only upward,
 * and 3,000 candidate lines differing in two numbers then had 6 digest collisions. The Redis store
 * keeps it too ({@link digestText}), so every instance of a cluster must compute the same: changing
 * it lets repeats through, while instances of both versions run, for as long as the remembered
 * sets live (message ids 30 s, candidates 2 min). The text's length in bytes seeds the
 * lanes, so zero padding never makes two texts equal. Texts that differ only in unpaired surrogates
 * (malformed UTF-16, each written as U+FFFD) share a digest: like a crafted collision, that only
 * makes the sender's own signal look like a repeat.
 */
function digest(text: string): void {
  if (text.length > MAX_SCRATCH_UNITS) {
    digestUnits(text);
    return;
  }
  const len = scratchBytes.write(text, 0, 'utf8');
  scratchBytes[len] = 0;
  scratchBytes[len + 1] = 0;
  scratchBytes[len + 2] = 0;
  const words = (len + 3) >> 2;
  let h1 = SEED_A ^ len;
  let h2 = SEED_B ^ len;
  for (let i = 0; i < words; i++) {
    const k = scramble(scratchWords[i]!);
    h1 = absorb(h1, k);
    h2 = absorb(h2, k);
  }
  finish(h1, h2);
}

const SEED_A = 0x9747b28c;
const SEED_B = 0x5bd1e995;

/** The same lanes fed one UTF-16 unit at a time, for texts too long for the scratch memory. */
function digestUnits(text: string): void {
  const n = text.length;
  let h1 = SEED_A ^ n;
  let h2 = SEED_B ^ n;
  for (let i = 0; i < n; i++) {
    const k = scramble(text.charCodeAt(i));
    h1 = absorb(h1, k);
    h2 = absorb(h2, k);
  }
  finish(h1, h2);
}

/** MurmurHash3's mixing of one input block before it enters the lanes. */
function scramble(block: number): number {
  const k = Math.imul(block, 0xcc9e2d51);
  return Math.imul((k << 15) | (k >>> 17), 0x1b873593);
}

/** MurmurHash3's step of one lane: the scrambled block `k` folded into the lane's state `h`. */
function absorb(h: number, k: number): number {
  h ^= k;
  return (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's `fmix32` on each lane, then each mixed into the other (as cyrb53 ends). */
function finish(h1: number, h2: number): void {
  h1 = fmix32(h1);
  h2 = fmix32(h2);
  h1 = (h1 + Math.imul(h2, 0x85ebca6b)) | 0;
  h2 = (h2 + Math.imul(h1, 0xc2b2ae35)) | 0;
  hashA = h1;
  hashB = h2;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
