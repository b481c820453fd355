/**
 * Rooms of several peers and the call setups between them (commands registered by
 * bench/lib/worker.mjs), to measure what a typical call leaves in Redis per peer. Ours only: the
 * answering peer reads the offer's `from`, which the bare relay does not add.
 *
 *   meshSetup {urls, target, peers, roomSize, prefix, concurrency}
 *       connect `peers` peers in rooms of `roomSize` and join them; the k-th peer of a room connects
 *       to urls[k % urls.length], so a room's members are split across the instances given
 *   meshCalls {candidates, concurrency, timeoutMs}
 *       in every room each pair of peers sets up a call (a full mesh): the first sends an offer and
 *       `candidates` candidates, the second answers when the offer arrives and sends as many; a room
 *       is done when every signal was delivered and acknowledged; `concurrency` rooms at a time
 *   meshClose
 *       disconnect every socket
 */
import { io } from 'socket.io-client';
import { protocolOf } from './protocol-adapter.mjs';
import { SDP, makeCandidate } from './payloads.mjs';

const WORKER = process.env.BENCH_WORKER_ID || '0';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const inc = (o, k) => {
  o[k] = (o[k] || 0) + 1;
};

let adapter = null;
/** @type {Array<{roomId: string, peers: any[], expected: number, delivered: number, acked: number, check: () => void}>} */
let rooms = [];
const sockets = [];
let n = 0;
let counters = null;

const newCounters = () => ({
  sent: 0,
  acked: 0,
  delivered: 0,
  ackErrors: {},
  connectErrors: {},
  joinErrors: {},
  disconnects: {},
});

function connect(url, timeoutMs) {
  return new Promise((resolve) => {
    const sock = io(url + '/webrtc', {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
    });
    sock.once('connect', () => {
      sockets.push(sock);
      sock.on('disconnect', (reason) => {
        if (counters) inc(counters.disconnects, reason);
      });
      resolve(sock);
    });
    sock.once('connect_error', (err) => {
      inc(counters.connectErrors, (err && err.message) || 'connect_error');
      sock.close();
      resolve(null);
    });
  });
}

/** Sends one signal from `peer` to `to` in `room`; SDPs carry the direction's next sequence. */
function send(room, peer, to, kind) {
  const payload = { roomId: room.roomId, to, messageId: `mesh.${WORKER}.${++n}` };
  if (kind === 'iceCandidate') payload.candidate = makeCandidate(n);
  else {
    const seq = (peer.sequences.get(to) || 0) + 1;
    peer.sequences.set(to, seq);
    payload.sdp = SDP;
    payload.sequence = seq;
  }
  counters.sent++;
  adapter.send(peer.sock, kind, payload, (res) => {
    if (res && res.ok === true) counters.acked++;
    else inc(counters.ackErrors, (res && res.error && res.error.code) || 'BAD_ACK');
    room.acked++;
    room.check();
  });
}

async function setupRoom(idx, urls, roomSize, prefix, timeoutMs) {
  const room = { roomId: `${prefix}-w${WORKER}-m${idx}`, peers: [], expected: 0, delivered: 0, acked: 0 };
  room.check = () => undefined;
  for (let k = 0; k < roomSize; k++) {
    const sock = await connect(urls[k % urls.length], timeoutMs);
    if (!sock) continue;
    let res;
    try {
      res = await adapter.join(sock, room.roomId, `m${k}`);
    } catch {
      res = null;
    }
    if (!res || res.ok !== true) {
      inc(counters.joinErrors, (res && res.error && res.error.code) || 'timeout');
      continue;
    }
    const peer = { sock, peerId: res.peerId, sequences: new Map() };
    adapter.listen(sock, (kind, msg) => {
      counters.delivered++;
      room.delivered++;
      if (kind === 'offer') {
        // The callee answers and trickles its own candidates once the offer is there.
        send(room, peer, msg.from, 'answer');
        for (let c = 0; c < room.candidates; c++) send(room, peer, msg.from, 'iceCandidate');
      }
      room.check();
    });
    room.peers.push(peer);
  }
  return room;
}

async function meshSetup({
  urls,
  target,
  peers,
  roomSize = 4,
  prefix = 'mesh',
  concurrency = 25,
  timeoutMs = 20000,
}) {
  if (target !== 'ours') throw new Error('meshSetup: ours only');
  adapter = protocolOf(target);
  counters = newCounters();
  const count = Math.ceil(peers / roomSize);
  const t0 = performance.now();
  let next = 0;
  const made = [];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const idx = next++;
        made.push(await setupRoom(idx, urls, Math.min(roomSize, peers - idx * roomSize), prefix, timeoutMs));
      }
    }),
  );
  rooms = made;
  return {
    rooms: rooms.length,
    peers: rooms.reduce((s, r) => s + r.peers.length, 0),
    ms: performance.now() - t0,
    connectErrors: counters.connectErrors,
    joinErrors: counters.joinErrors,
  };
}

/** Every pair of the room sets up a call; resolves true when all its signals arrived and were acked. */
function roomCalls(room, candidates, timeoutMs) {
  const ps = room.peers;
  const pairs = [];
  for (let i = 0; i < ps.length; i++) for (let j = i + 1; j < ps.length; j++) pairs.push([ps[i], ps[j]]);
  room.candidates = candidates;
  room.expected = pairs.length * 2 * (1 + candidates);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    room.check = () => {
      if (room.delivered >= room.expected && room.acked >= room.expected) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    for (const [a, b] of pairs) {
      send(room, a, b.peerId, 'offer');
      for (let c = 0; c < candidates; c++) send(room, a, b.peerId, 'iceCandidate');
    }
  });
}

async function meshCalls({ candidates = 10, concurrency = 25, timeoutMs = 30000 }) {
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, rooms.length) }, async () => {
      while (next < rooms.length) {
        const room = rooms[next++];
        if (!(await roomCalls(room, candidates, timeoutMs))) failed++;
      }
    }),
  );
  // Late acks of the last rooms' answers.
  await sleep(200);
  return {
    ms: performance.now() - t0,
    roomsFailed: failed,
    sent: counters.sent,
    acked: counters.acked,
    delivered: counters.delivered,
    expected: rooms.reduce((s, r) => s + r.expected, 0),
    ackErrors: counters.ackErrors,
    disconnects: counters.disconnects,
  };
}

export async function closeMesh() {
  counters = null;
  for (const s of sockets) s.close();
  sockets.length = 0;
  rooms = [];
}

export const meshHandlers = {
  meshSetup,
  meshCalls,
  meshClose: async () => {
    await closeMesh();
    return { closed: true };
  },
};
