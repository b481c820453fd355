/**
 * The client's own state towards the signaling server and its room (the state of each
 * peer-to-peer link is the browser's `RTCPeerConnectionState`, reported per peer).
 *
 * ```
 * idle ──connect()──▶ connecting ──joined──▶ connected ◀──resumed / rejoined──┐
 *                         │                      │ socket lost                 │
 *                         │                      ▼                             │
 *                         └──policy gives up──▶ disconnected ◀── reconnecting ─┘
 * any state ──close() / session replaced / token expired──▶ closed
 * ```
 */
export const ConnectionState = {
  /** Created; `connect()` not called yet. */
  Idle: 'idle',
  /** Fetching the server's settings, opening the socket and joining the room. */
  Connecting: 'connecting',
  /** In the room: signaling works. */
  Connected: 'connected',
  /** The socket was lost; peer connections stay up while the client reconnects and resumes. */
  Reconnecting: 'reconnecting',
  /** The reconnect policy gave up, or the server refused the join or the access token for good. `connect()` may be called again. */
  Disconnected: 'disconnected',
  /** `close()` was called, or the server ended the session for good (`session-replaced`, or `TOKEN_EXPIRED` without `getToken`). Terminal. */
  Closed: 'closed',
} as const;

export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];
