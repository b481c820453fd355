// Our protocol or the baseline's (bench/baseline-server.mjs), as the load workers speak them.

const ACK_TIMEOUT_MS = Number(process.env.BENCH_ACK_TIMEOUT_MS || 10000);

/** `join`, `leave`, `send` and `listen` for `target` (`ours` or the baseline). */
export function protocolOf(target) {
  if (target === 'ours') {
    return {
      join: (sock, roomId, displayName) =>
        sock.timeout(ACK_TIMEOUT_MS).emitWithAck('joinRoom', { roomId, displayName }),
      leave: (sock, roomId) => sock.timeout(ACK_TIMEOUT_MS).emitWithAck('leaveRoom', { roomId }),
      send: (sock, kind, payload, cb) => sock.emit(kind, payload, cb),
      listen(sock, fn) {
        sock.on('offer', (m) => fn('offer', m));
        sock.on('answer', (m) => fn('answer', m));
        sock.on('iceCandidate', (m) => fn('iceCandidate', m));
        sock.on('iceCandidates', (m) => fn('iceCandidates', m));
      },
    };
  }
  return {
    join: (sock, roomId, displayName) =>
      sock.timeout(ACK_TIMEOUT_MS).emitWithAck('join', { roomId, displayName }),
    // The baseline has no leave; its rooms are Socket.IO's and cost it next to nothing.
    leave: async () => ({ ok: true }),
    // Same payload as ours, wrapped: {to, data: {type, roomId, sdp|candidate, sequence?, messageId}}.
    send(sock, kind, payload, cb) {
      const { to, ...data } = payload;
      data.type = kind;
      sock.emit('signal', { to, data }, cb);
    },
    listen(sock, fn) {
      sock.on('signal', (m) => fn(m.data.type, m.data));
    },
  };
}
