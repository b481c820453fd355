import { randomBytes } from 'node:crypto';
import {
  Adapter,
  type BroadcastOptions,
  type PrivateSessionId,
  type Room,
  type Session,
} from 'socket.io-adapter';
import type { Namespace } from 'socket.io';

export interface RecoveryAdapterOptions {
  /** How long a disconnected socket's session can be restored, ms (Socket.IO's maxDisconnectionDuration). */
  maxDisconnectionMs: number;
  /** How long a broadcast packet is kept for replay, ms: the disconnection window plus the time a dead connection takes to be noticed. */
  retentionMs: number;
  /** Packets kept per room for replay; older ones are dropped, and a session that missed one is not restored. Default 64. */
  maxPacketsPerRoom: number;
}

interface StoredPacket {
  seq: number;
  /**
   * The packet as Socket.IO encoded it for the wire (`2/nsp,[...]`): one flat string per packet
   * instead of its object graph, which the GC would otherwise mark on every major collection.
   * Binary packets (never sent here) keep their data as is.
   */
  encoded: string | unknown[];
  emittedAt: number;
  except: Set<Room> | undefined;
}

type Encode = (packet: unknown, opts: unknown) => unknown[];

interface RoomLog {
  packets: StoredPacket[];
  /** Highest seq dropped from this log; a session whose offset is below it missed something. */
  droppedUpTo: number;
}

// "Not restorable": Socket.IO's own adapter answers null, though its typings do not admit it.
const NO_SESSION = Promise.resolve(null) as unknown as Promise<Session>;

type PersistedSession = Omit<Session, 'missedPackets'> & { disconnectedAt: number };

/**
 * Socket.IO connection state recovery with bounded memory. Socket.IO's own `SessionAwareAdapter`
 * keeps every broadcast packet of the whole namespace in one array for the disconnection window
 * (pruned once a minute) and scans it linearly on each restore: under relay load that is most of
 * the heap and of the GC time. This adapter keeps a short log per room instead — each peer's signals
 * go to its own room — capped in count and age, and restores by reading only the session's rooms.
 * When a log dropped a packet the session needed, the restore is refused and the client falls back
 * to its resume token, whose held signals the server keeps separately.
 */
export function createRecoveryAdapter(options: RecoveryAdapterOptions): typeof Adapter {
  // Offsets embed a per-process epoch, so an offset from a previous process never matches.
  const epoch = randomBytes(4).toString('hex');

  return class RecoveryAdapter extends Adapter {
    private seq = 0;
    private readonly logs = new Map<Room, RoomLog>();
    private readonly sessions = new Map<PrivateSessionId, PersistedSession>();
    private readonly timer: NodeJS.Timeout;

    /** The last packet `broadcast` encoded, captured from the base class's encoder. */
    private lastEncoded: unknown[] | undefined;

    constructor(nsp: Namespace) {
      super(nsp);
      // Adapter#_encode is private in the typings; wrap it to reuse the string it builds.
      const self = this as unknown as { _encode: Encode };
      const encode = self._encode.bind(this);
      self._encode = (packet, opts) => (this.lastEncoded = encode(packet, opts));
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
      packet.data.push(`${epoch}.${seq}`);
      this.lastEncoded = undefined;
      super.broadcast(packet as never, opts);
      const wire = this.lastEncoded as unknown[] | undefined;
      const stored: StoredPacket = {
        seq,
        encoded: wire && wire.length === 1 && typeof wire[0] === 'string' ? wire[0] : packet.data,
        emittedAt: Date.now(),
        except: opts.except && opts.except.size > 0 ? opts.except : undefined,
      };
      for (const room of opts.rooms) {
        let log = this.logs.get(room);
        if (!log) {
          log = { packets: [], droppedUpTo: 0 };
          this.logs.set(room, log);
        }
        log.packets.push(stored);
        if (log.packets.length > options.maxPacketsPerRoom) log.droppedUpTo = log.packets.shift()!.seq;
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
      const after = Number(offset.slice(dot + 1));
      if (dot < 0 || offset.slice(0, dot) !== epoch || !Number.isSafeInteger(after)) return NO_SESSION;
      const missed = new Map<number, unknown[]>();
      for (const room of session.rooms) {
        const log = this.logs.get(room);
        if (!log) continue;
        if (log.droppedUpTo > after) return NO_SESSION;
        for (const p of log.packets) {
          if (p.seq <= after || missed.has(p.seq)) continue;
          if (!(p.except && session.rooms.some((r) => p.except!.has(r)))) missed.set(p.seq, decode(p));
        }
      }
      const missedPackets = [...missed.entries()].sort((x, y) => x[0] - y[0]).map(([, data]) => data);
      const { sid, rooms, data } = session;
      return Promise.resolve({ sid, pid, rooms, data, missedPackets });
    }

    /** Drops packets past their retention and sessions past the window. */
    private prune(): void {
      const now = Date.now();
      const oldest = now - options.retentionMs;
      for (const [room, log] of this.logs) {
        let n = 0;
        while (n < log.packets.length && log.packets[n]!.emittedAt < oldest) n++;
        if (n > 0) log.droppedUpTo = log.packets[n - 1]!.seq;
        if (n === log.packets.length) this.logs.delete(room);
        else if (n > 0) log.packets.splice(0, n);
      }
      for (const [pid, s] of this.sessions) {
        if (s.disconnectedAt + options.maxDisconnectionMs < now) this.sessions.delete(pid);
      }
    }

    /** Packets held for replay, over all rooms (for tests and metrics). */
    get retainedPackets(): number {
      let n = 0;
      for (const log of this.logs.values()) n += log.packets.length;
      return n;
    }
  };
}

// `2/webrtc,["event",{...},"offset"]` → the data array Socket.IO replays.
function decode(p: StoredPacket): unknown[] {
  if (typeof p.encoded !== 'string') return p.encoded;
  return JSON.parse(p.encoded.slice(p.encoded.indexOf('['))) as unknown[];
}
