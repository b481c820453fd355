import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * Sockets corked since the last flush. Each is uncorked once, right after the callback that wrote
 * to it returns (`process.nextTick`): a TCP read carrying a batch of frames from one client is
 * handled synchronously and all its answers leave together, without waiting for other sockets'
 * reads. (Flushing at `setImmediate`, after the whole poll phase, batched more but added a turn of
 * latency to every frame: measured 5k/s p50 0.51 vs 0.35 ms, and lower throughput.)
 */
const corked = new Set<Duplex>();
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  // Removed one by one rather than cleared at the end: a socket corked while this loop runs is still
  // visited (Set iteration sees additions), so none can be left corked.
  for (const socket of corked) {
    corked.delete(socket);
    // `end()` and `destroy()` already flushed or dropped what was buffered.
    if (!socket.destroyed && socket.writableCorked > 0) socket.uncork();
  }
}

/** `write` of an auto-corked socket: corks it on the first write before a flush, then writes as usual. */
function corkingWrite(this: Duplex, ...args: unknown[]): boolean {
  if (!corked.has(this)) {
    this.cork();
    corked.add(this);
    if (!flushScheduled) {
      flushScheduled = true;
      process.nextTick(flush);
    }
  }
  const write = (Object.getPrototypeOf(this) as Duplex).write as (...a: unknown[]) => boolean;
  return write.apply(this, args);
}

/**
 * Makes the writes to `socket` made by one callback leave in one `writev`. The first write corks
 * the socket; one `process.nextTick` uncorks all corked sockets. `ws` corks and uncorks around each
 * frame itself, and corking nests, so its frames join the batch. The function is shared by all
 * sockets (a closure each would be part of every idle peer's memory); a socket that closes while
 * corked leaves the set at the next flush.
 */
export function autoCork(socket: Duplex): void {
  socket.write = corkingWrite as Duplex['write'];
}

/**
 * The `ws` server Engine.IO uses (`wsEngine`), with {@link autoCork} on every upgraded connection.
 *
 * Why: a relayed signal is two small frames (the forward and the sender's ack), and without
 * corking each frame is its own `writev` syscall: 27 % of our server's CPU under relay load (41 % of
 * a bare Socket.IO relay's). Under load a socket usually has several frames going out from the same
 * callback (the acks of a batch of signals read at once), and with this they share one syscall.
 * `ws` does not do it itself: its maintainers keep writes uncorked by default for latency
 * (websockets/ws#1797, #2214); here a frame waits only for the rest of the callback that wrote it.
 * A socket destroyed while corked does not call its pending write callbacks — Engine.IO learns of
 * the loss from the `close` event either way.
 */
export class CorkingWebSocketServer extends WebSocketServer {
  override handleUpgrade(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    callback: (client: WebSocket, request: IncomingMessage) => void,
  ): void {
    autoCork(socket);
    super.handleUpgrade(request, socket, head, callback);
  }
}
