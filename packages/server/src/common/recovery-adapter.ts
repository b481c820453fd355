import { randomBytes } from 'node:crypto';
import {
  Adapter,
  type BroadcastOptions,
  type PrivateSessionId,
  type Room,
  type Session,
} from 'socket.io-adapter';
import type { Namespace } from 'socket.io';
import { PacketRing } from './packet-ring';

export interface RecoveryAdapterOptions {
  /** How long a disconnected socket's session can be restored, ms (Socket.IO's maxDisconnectionDuration). */
  maxDisconnectionMs: number;
  /** How long a broadcast packet is kept for replay, ms: the disconnection window plus the time a dead connection takes to be noticed. */
  retentionMs: number;
  /** Packets kept per room for replay; older ones are dropped, and a session that missed one is not restored. */
  maxPacketsPerRoom: number;
  /**
   * Most bytes of encoded packets kept over all rooms ({@link PacketRing}: allocated in chunks as
   * the logs need them); at the cap the oldest chunk is overwritten.
   */
  bufferBytes: number;
  /** Size of one chunk of that memory: the largest packet that can be kept. Default 1 MiB. */
  chunkBytes?: number;
  /**
   * Events that are never replayed, though they get an offset: ones that only make sense on the
   * connection they were sent on (the server sends a restored socket a fresh one). Default none.
   */
  unloggedEvents?: ReadonlySet<string>;
}

type Encode = (packet: unknown, opts: { wsPreEncodedFrame?: Buffer[] }) => unknown[];

/**
 * One room's replay log: parallel arrays of numbers rather than an object per packet, so a logged
 * packet allocates nothing that lives on the JavaScript heap (the bytes are in the {@link PacketRing}).
 */
interface RoomLog {
  seq: number[];
  /** Position of the encoded packet in the ring (one reference to it, released when dropped). */
  pos: number[];
  len: number[];
  emittedAt: number[];
  /** Rooms excluded from the broadcast, when there were any (rare: room-wide events). */
  except: (Set<Room> | undefined)[];
  /** Highest seq dropped from this log; a session whose offset is below it missed something. */
  droppedUpTo: number;
  /** When a packet young enough to be missed was last dropped (cap or ring); the log is kept while that matters. */
  droppedAt: number;
}

// "Not restorable": Socket.IO's own adapter answers null, though its typings do not admit it.
const NO_SESSION = Promise.resolve(null) as unknown as Promise<Session>;

type PersistedSession = Omit<Session, 'missedPackets'> & { disconnectedAt: number };

/**
 * Socket.IO connection state recovery with bounded memory. Socket.IO's own `SessionAwareAdapter`
 * keeps every broadcast packet of the whole namespace in one array for the disconnection window
 * (pruned once a minute) and scans it linearly on each restore: under relay load that is most of
 * the heap and of the GC time. This adapter keeps a short log per room instead — each peer's signals
 * go to its own room — capped in count and age, with the packets' bytes outside the heap in chunks
 * that follow what the logs hold ({@link PacketRing}), and restores by reading only the session's rooms. When a
 * log dropped a packet the session needed (cap, age or ring), the restore is refused and the client
 * falls back to its resume token, whose held signals the server keeps separately.
 */
export function createRecoveryAdapter(options: RecoveryAdapterOptions): typeof Adapter {
  // Offsets embed a per-process epoch, so an offset from a previous process never matches.
  const epoch = randomBytes(4).toString('hex');

  return class RecoveryAdapter extends Adapter {
    private seq = 0;
    private readonly logs = new Map<Room, RoomLog>();
    private readonly sessions = new Map<PrivateSessionId, PersistedSession>();
    private readonly ring = new PacketRing(options.bufferBytes, options.chunkBytes);
    private readonly unlogged = options.unloggedEvents ?? new Set<string>();
    private readonly timer: NodeJS.Timeout;

    /** The last packet `broadcast` encoded, captured from the base class's encoder. */
    private lastEncoded: unknown[] | undefined;
    /** Its WebSocket frame (`[header, "4" + packet as UTF-8]`), when the base class built one. */
    private lastFrame: Buffer[] | undefined;

    constructor(nsp: Namespace) {
      super(nsp);
      // Adapter#_encode is private in the typings; wrap it to reuse the string and bytes it builds.
      const self = this as unknown as { _encode: Encode };
      const encode = self._encode.bind(this);
      self._encode = (packet, opts) => {
        this.lastEncoded = encode(packet, opts);
        this.lastFrame = opts.wsPreEncodedFrame;
        return this.lastEncoded;
      };
      this.timer = setInterval(() => this.prune(), Math.min(options.retentionMs, 5000));
      this.timer.unref();
    }

    override close(): void {
      clearInterval(this.timer);
    }

    override broadcast(packet: { type: number; id?: number; data: unknown[] }, opts: BroadcastOptions): void {
      // Like SessionAwareAdapter: only events without ack (an ack cannot be replayed) and not volatile.
      // Namespace-wide broadcasts (no rooms) are not kept: nothing the server sends that way needs replay.
      if (packet.type !== 2 || packet.id !== undefined || opts.flags?.volatile || opts.rooms.size === 0) {
        super.broadcast(packet as never, opts);
        return;
      }
      const seq = ++this.seq;
      // The offset travels as the last argument; the client sends the last one it saw when it reconnects.
      // Base 36, not decimal: V8 keeps every decimal number-to-string result in its number-string
      // cache, an old-generation table, so one unique string per packet outlived the young generation
      // (30 MB more promoted over the bench's latency run, and more major GCs).
      packet.data.push(`${epoch}.${seq.toString(36)}`);
      this.lastEncoded = undefined;
      this.lastFrame = undefined;
      super.broadcast(packet as never, opts);
      if (this.unlogged.has(packet.data[0] as string)) return;
      // Set by _encode during super.broadcast (TypeScript cannot see that, hence the casts).
      const wire = this.lastEncoded as unknown[] | undefined;
      // Binary packets (the server sends none) are encoded in parts and cannot be kept as text.
      const text = wire && wire.length === 1 && typeof wire[0] === 'string' ? wire[0] : undefined;
      // The frame's payload is "4" (Engine.IO's message type) and then exactly `text` in UTF-8.
      const utf8 = (this.lastFrame as Buffer[] | undefined)?.[1]?.subarray(1);
      // One reference per room log the packet goes into; released as the logs drop it.
      const pos =
        text === undefined ? -1 : this.ring.append(text, utf8?.length ? utf8 : undefined, opts.rooms.size);
      const len = this.ring.lastLength;
      const except = opts.except && opts.except.size > 0 ? opts.except : undefined;
      const now = Date.now();
      for (const room of opts.rooms) {
        let log = this.logs.get(room);
        if (!log) {
          log = { seq: [], pos: [], len: [], emittedAt: [], except: [], droppedUpTo: 0, droppedAt: 0 };
          this.logs.set(room, log);
        }
        if (pos < 0) {
          // Not kept: a session that missed it must not be restored without it.
          log.droppedUpTo = seq;
          log.droppedAt = now;
          continue;
        }
        log.seq.push(seq);
        log.pos.push(pos);
        log.len.push(len);
        log.emittedAt.push(now);
        log.except.push(except);
        if (log.seq.length > options.maxPacketsPerRoom) dropOldest(log, 1, now, this.ring);
      }
    }

    override persistSession(session: Omit<Session, 'missedPackets'>): void {
      this.sessions.set(session.pid, { ...session, disconnectedAt: Date.now() });
    }

    override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session> {
      const session = this.sessions.get(pid);
      if (!session) return NO_SESSION;
      this.sessions.delete(pid);
      if (session.disconnectedAt + options.maxDisconnectionMs < Date.now()) return NO_SESSION;
      const dot = offset.indexOf('.');
      const digits = offset.slice(dot + 1);
      // At most 10 base-36 digits: below 2^53, so parseInt is exact.
      if (dot < 0 || offset.slice(0, dot) !== epoch || !/^[0-9a-z]{1,10}$/.test(digits)) return NO_SESSION;
      const after = parseInt(digits, 36);
      const missed = new Map<number, unknown[]>();
      for (const room of session.rooms) {
        const log = this.logs.get(room);
        if (!log) continue;
        if (log.droppedUpTo > after) return NO_SESSION;
        for (let i = 0; i < log.seq.length; i++) {
          const seq = log.seq[i]!;
          if (seq <= after || missed.has(seq)) continue;
          const except = log.except[i];
          if (except && session.rooms.some((r) => except.has(r))) continue;
          const text = this.ring.read(log.pos[i]!, log.len[i]!);
          if (text === undefined) return NO_SESSION; // overwritten: part of what was missed is gone
          missed.set(seq, decode(text));
        }
      }
      const missedPackets = [...missed.entries()].sort((x, y) => x[0] - y[0]).map(([, data]) => data);
      const { sid, rooms, data } = session;
      return Promise.resolve({ sid, pid, rooms, data, missedPackets });
    }

    /**
     * Drops sessions past the window, the logs of rooms nobody can need any more, and packets past
     * their retention or overwritten in the ring.
     */
    private prune(): void {
      const now = Date.now();
      const oldest = now - options.retentionMs;
      for (const [pid, s] of this.sessions) {
        if (s.disconnectedAt + options.maxDisconnectionMs < now) this.sessions.delete(pid);
      }
      // Only a socket in the room now, or a disconnected one that can still be restored into it, can
      // ever need a room's log. Without this, the logs of rooms whose peers all left would hold their
      // packets, and the replay memory under them, for the whole retention.
      const restorable = new Set<Room>();
      for (const s of this.sessions.values()) for (const room of s.rooms) restorable.add(room);
      for (const [room, log] of this.logs) {
        if (!this.rooms.has(room) && !restorable.has(room)) {
          if (log.seq.length > 0) dropOldest(log, log.seq.length, undefined, this.ring);
          this.logs.delete(room);
          continue;
        }
        // Past retention: no restorable session can have missed these (it was still receiving then).
        let aged = 0;
        while (aged < log.seq.length && log.emittedAt[aged]! < oldest) aged++;
        if (aged > 0) dropOldest(log, aged, undefined, this.ring);
        // Overwritten in the ring: young, so a session may have missed them.
        let overwritten = 0;
        while (overwritten < log.seq.length && !this.ring.holds(log.pos[overwritten]!)) overwritten++;
        if (overwritten > 0) dropOldest(log, overwritten, now, this.ring);
        if (log.seq.length === 0 && log.droppedAt < oldest) this.logs.delete(room);
      }
    }

    /** Bytes allocated for the packets' encoded text (chunks of the {@link PacketRing}). */
    get allocatedBytes(): number {
      return this.ring.allocatedBytes;
    }

    /** Rooms with a replay log (for leak tests and metrics). */
    get loggedRooms(): number {
      return this.logs.size;
    }

    /** Dropped sockets' sessions kept for recovery (for leak tests and metrics). */
    get persistedSessions(): number {
      return this.sessions.size;
    }

    /** Packets held for replay, over all rooms (for tests and metrics). */
    get retainedPackets(): number {
      let n = 0;
      for (const log of this.logs.values()) n += log.seq.length;
      return n;
    }
  };
}

/** Drops the `n` oldest packets; `now` when they were young enough to have been missed. */
function dropOldest(log: RoomLog, n: number, now: number | undefined, ring: PacketRing): void {
  log.droppedUpTo = log.seq[n - 1]!;
  if (now !== undefined) log.droppedAt = now;
  for (let i = 0; i < n; i++) ring.release(log.pos[i]!);
  // shift() for the common case (one packet over the cap): splice() allocates what it removes.
  if (n === 1) {
    log.seq.shift();
    log.pos.shift();
    log.len.shift();
    log.emittedAt.shift();
    log.except.shift();
    return;
  }
  log.seq.splice(0, n);
  log.pos.splice(0, n);
  log.len.splice(0, n);
  log.emittedAt.splice(0, n);
  log.except.splice(0, n);
}

// `2/webrtc,["event",{...},"offset"]` → the data array Socket.IO replays.
function decode(encoded: string): unknown[] {
  return JSON.parse(encoded.slice(encoded.indexOf('['))) as unknown[];
}
