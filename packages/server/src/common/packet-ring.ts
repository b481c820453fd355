/**
 * Encoded packets outside the JavaScript heap, in fixed-size chunks that are allocated as the
 * packets still referenced need them and reused once nothing references them.
 *
 * Why bytes and not strings in the logs: every logged packet outlives the young generation, so the
 * GC copies it twice and then marks and compacts it in the old generation. With strings, the GC
 * took 23 % of the server's CPU under relay load and the heap grew by 144 MB over the quick bench's
 * relay phases; with bytes here, 17 % and 4.6 MB.
 *
 * Why chunks allocated on demand rather than one ring of the full size: a 32 MiB buffer allocated up
 * front, even untouched, made V8 promote about 300 KB of short-lived objects at every scavenge
 * under the bench's latency load (346 MB over the run vs 52-55 MB with 1, 8 or 16 MiB; measured with
 * `--trace-gc-nvp`), and the major GCs that followed put 5-20 ms pauses into the latency tail at
 * 10k signals/s. Callers say how many references a packet has (`append`) and drop them (`release`);
 * a chunk with no referenced packet is written again before another is allocated, so the memory
 * follows what the replay logs hold (a few MiB for hundreds of busy peers), up to `maxBytes`. At
 * that cap the chunk written longest ago is overwritten, referenced or not, and its packets are no
 * longer {@link holds held}.
 */
export class PacketRing {
  private readonly chunks: Buffer[] = [];
  /** Per chunk: references to its packets not yet released. */
  private readonly refs: number[] = [];
  /** Per chunk: the segment it holds (see `segmentChunk`). */
  private readonly segmentOf: number[] = [];
  /**
   * Segment → chunk index, for the segments still in a chunk. A segment is one filling of one
   * chunk; positions are `segment * chunkBytes + offset`, so they grow monotonically and a position
   * whose segment was overwritten is recognised as gone.
   */
  private readonly segmentChunk = new Map<number, number>();
  private segment = -1;
  private current = -1;
  private offset = 0;
  /** Bytes per chunk: `chunkBytes`, or `maxBytes` when smaller. */
  readonly chunkBytes: number;
  private readonly maxChunks: number;

  /**
   * @param maxBytes most bytes ever allocated (rounded down to whole chunks, at least one).
   * @param chunkBytes size of one chunk; the largest packet kept. Default 1 MiB.
   */
  constructor(
    readonly maxBytes: number,
    chunkBytes = 1024 * 1024,
  ) {
    this.chunkBytes = Math.min(chunkBytes, maxBytes);
    this.maxChunks = Math.max(1, Math.floor(maxBytes / this.chunkBytes));
  }

  /** Bytes allocated now. */
  get allocatedBytes(): number {
    return this.chunks.length * this.chunkBytes;
  }

  /**
   * Writes `text` with `refs` references to it; returns its position, or -1 when it is larger than
   * a chunk (nothing is written then). `utf8`, when given, is `text` already encoded (copied
   * instead of encoding again). Its length in bytes is {@link lastLength} afterwards.
   */
  append(text: string, utf8?: Uint8Array, refs = 1): number {
    // Without the bytes: UTF-16 code units → at most 3 UTF-8 bytes each.
    let len = utf8 ? utf8.length : text.length * 3;
    if (this.current < 0 || this.offset + len > this.chunkBytes) {
      if (!utf8) len = Buffer.byteLength(text);
      if (len > this.chunkBytes) return -1;
      if (this.current < 0 || this.offset + len > this.chunkBytes) this.nextChunk();
    }
    const chunk = this.chunks[this.current]!;
    if (utf8) chunk.set(utf8, this.offset);
    else len = chunk.write(text, this.offset, 'utf8');
    const pos = this.segment * this.chunkBytes + this.offset;
    this.offset += len;
    this.refs[this.current]! += refs;
    this.lastLength = len;
    return pos;
  }

  /** Bytes the last successful {@link append} wrote. */
  lastLength = 0;

  /** Drops one reference to the packet at `pos` (no-op when it was overwritten). */
  release(pos: number): void {
    const chunk = this.segmentChunk.get(Math.floor(pos / this.chunkBytes));
    if (chunk !== undefined) this.refs[chunk]!--;
  }

  /** The packet at `pos`, or undefined when it was overwritten. */
  read(pos: number, len: number): string | undefined {
    const chunk = this.segmentChunk.get(Math.floor(pos / this.chunkBytes));
    if (chunk === undefined) return undefined;
    const offset = pos % this.chunkBytes;
    return this.chunks[chunk]!.toString('utf8', offset, offset + len);
  }

  /** Whether the packet at `pos` is still intact. */
  holds(pos: number): boolean {
    return this.segmentChunk.has(Math.floor(pos / this.chunkBytes));
  }

  /** Moves writing to a chunk nothing references, a new one, or at the cap the one written longest ago. */
  private nextChunk(): void {
    let next = -1;
    let oldest = -1;
    for (let i = 0; i < this.chunks.length; i++) {
      if (i === this.current) continue;
      if (this.refs[i] === 0 && (next < 0 || this.segmentOf[i]! < this.segmentOf[next]!)) next = i;
      if (oldest < 0 || this.segmentOf[i]! < this.segmentOf[oldest]!) oldest = i;
    }
    if (next < 0 && this.chunks.length < this.maxChunks) {
      next = this.chunks.length;
      this.chunks.push(Buffer.allocUnsafeSlow(this.chunkBytes));
      this.refs.push(0);
      this.segmentOf.push(-1);
    }
    // At the cap with every other chunk referenced: overwrite the oldest (the current one when it
    // is the only chunk).
    if (next < 0) next = oldest >= 0 ? oldest : this.current;
    this.segmentChunk.delete(this.segmentOf[next]!);
    this.segment++;
    this.segmentOf[next] = this.segment;
    this.segmentChunk.set(this.segment, next);
    this.refs[next] = 0;
    this.current = next;
    this.offset = 0;
  }
}
