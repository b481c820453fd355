/**
 * Baseline for the benchmark: a bare Socket.IO 4 relay with no validation, no room bookkeeping
 * beyond Socket.IO's own rooms, no de-duplication and no logging.
 *
 * - `join {roomId}` puts the socket in the room, tells the others (`peerJoined`) and acks
 *   `{ok, peerId, roomId, peers}`, the minimal equivalent of our `joinRoom`.
 * - `signal {to, data}` is relayed as `signal {from, data}` to the socket `to` and acked `{ok}`,
 *   the minimal equivalent of our `offer`/`answer`/`iceCandidate` (which are acked too).
 *
 * Same transport (WebSocket only), same namespace (`/webrtc`), same start-up contract as the server:
 * PORT (0 = any), HOST, prints `listening on http://HOST:PORT` on stdout.
 */
import http from 'node:http';
import { Server } from 'socket.io';

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 0);

const httpServer = http.createServer();
const io = new Server(httpServer, { transports: ['websocket'] });
const nsp = io.of('/webrtc');

nsp.on('connection', (socket) => {
  socket.on('join', (msg, ack) => {
    const roomId = msg && msg.roomId;
    if (typeof roomId !== 'string') return;
    const others = nsp.adapter.rooms.get(roomId);
    const peers = others ? [...others].map((peerId) => ({ peerId })) : [];
    socket.join(roomId);
    socket.to(roomId).emit('peerJoined', { roomId, peerId: socket.id });
    if (typeof ack === 'function') ack({ ok: true, peerId: socket.id, roomId, peers });
  });
  socket.on('signal', (msg, ack) => {
    if (!msg || typeof msg.to !== 'string') return;
    nsp.to(msg.to).emit('signal', { from: socket.id, data: msg.data });
    if (typeof ack === 'function') ack({ ok: true });
  });
});

httpServer.listen(port, host, () => {
  const addr = httpServer.address();
  process.stdout.write(JSON.stringify({ level: 30, msg: `listening on http://${host}:${addr.port}` }) + '\n');
});

const stop = () => {
  io.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
