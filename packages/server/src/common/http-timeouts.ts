import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Timeouts of the public HTTP server. Node keeps a TCP connection that never sends a byte open
 * indefinitely (`headersTimeout` starts with the first byte), and one that trickles headers until a
 * check that runs every 30 s; the connection caps only see connections that reach the upgrade. An
 * idle timeout frees such file descriptors; `ws` clears it on an upgraded socket, and keep-alive
 * connections already close after 5 s idle.
 */
export function applyHttpTimeouts(server: Server): void {
  server.timeout = 10_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
}

let timerKey: symbol | undefined | null;

/**
 * Drops the cleared idle timer an upgraded socket still holds. `socket.setTimeout(0)` (what `ws`
 * calls on upgrade) clears the timer but keeps the `Timeout` and its bound callback on the socket for
 * the connection's life: about 200 bytes of every idle peer's heap, and a no-op `refresh()` on every
 * read and write. Node nulls the same property when the socket is destroyed.
 */
export function releaseClearedIdleTimer(socket: Socket | undefined): void {
  if (!socket || socket.timeout) return; // still timing out: not ours to drop
  if (timerKey === undefined)
    timerKey = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'timeout') ?? null;
  if (timerKey) (socket as unknown as Record<symbol, unknown>)[timerKey] = null;
}
