/**
 * One instance for `cluster-adapters.mjs`, forked with IPC. MODE (env) says what it runs:
 *
 * - `sharded`: a bare Socket.IO relay on `@socket.io/redis-adapter` in sharded pub/sub mode with
 *   dynamic subscriptions (what Switchboard uses, without its wrapper);
 * - `streams`: the same relay on `@socket.io/redis-streams-adapter` (one stream, its defaults);
 * - `switchboard`: the real server (packages/server/dist) with REDIS_URL.
 *
 * The relay mirrors Switchboard's traffic shape: each socket joins the room `p:<id>` (its `auth.id`),
 * and `sig { to, ... }` is emitted to `p:<to>` and acked. Every channel and stream is named after
 * PREFIX, so runs never meet. The parent asks `{ cmd: 'stats' }` and gets the adapter's message
 * counts and the process's CPU time; `{ cmd: 'exit' }` ends it.
 */
/* global fetch */
import http from 'node:http';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const require = createRequire(import.meta.url);
const { MODE, REDIS_URL, PREFIX } = process.env;
const counts = { published: 0, self: 0, other: 0 };
let close = async () => undefined;
let url;

/** Counts what an adapter built by `factory` publishes and receives (the wrapper Switchboard uses does the same). */
function counted(factory) {
  return function (nsp) {
    const adapter = factory(nsp);
    const doPublish = adapter.doPublish.bind(adapter);
    adapter.doPublish = (message) => {
      counts.published++;
      return doPublish(message);
    };
    const onMessage = adapter.onMessage.bind(adapter);
    adapter.onMessage = (message, offset) => {
      if (message.uid === adapter.uid) counts.self++;
      else counts.other++;
      onMessage(message, offset);
    };
    return adapter;
  };
}

if (MODE === 'switchboard') {
  const { createApp } = require('../dist/src/bootstrap.js');
  const { loadConfig } = require('../dist/src/config/config.js');
  const sb = await createApp(
    loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'error',
      STUN_URLS: '',
      DEMO_ENABLED: 'false',
      MAX_CONNECTIONS_PER_IP: '0',
      CONNECTION_RATE_PER_IP: '0',
      SIGNAL_RATE_PER_SEC: '0',
      JOIN_RATE_PER_SEC: '0',
      REDIS_URL,
      REDIS_KEY_PREFIX: PREFIX,
    }),
  );
  url = await sb.listen();
  close = () => sb.shutdown();
} else {
  const pub = new Redis(REDIS_URL);
  const sub = pub.duplicate();
  let factory;
  if (MODE === 'sharded') {
    const { createShardedAdapter } = require('@socket.io/redis-adapter');
    factory = createShardedAdapter(pub, sub, { channelPrefix: `${PREFIX}sio`, subscriptionMode: 'dynamic' });
  } else if (MODE === 'streams') {
    const { createAdapter } = require('@socket.io/redis-streams-adapter');
    factory = createAdapter(pub, { streamName: `${PREFIX}stream`, channelPrefix: `${PREFIX}sio` });
  } else throw new Error(`unknown MODE ${MODE}`);
  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ['websocket'], adapter: counted(factory) });
  const nsp = io.of('/webrtc');
  nsp.on('connection', (socket) => {
    socket.join(`p:${socket.handshake.auth.id}`);
    socket.on('sig', (msg, ack) => {
      nsp.to(`p:${msg.to}`).emit('sig', msg);
      if (typeof ack === 'function') ack({ ok: true });
    });
  });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${httpServer.address().port}`;
  close = async () => {
    io.close();
    pub.disconnect();
    sub.disconnect();
  };
}

/** Switchboard's own counters, read from its /metrics. */
async function switchboardCounts() {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sample = (name) => {
    const line = text.split('\n').find((l) => l.startsWith(name + ' '));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  return {
    published: sample('switchboard_adapter_messages_published_total'),
    self: sample('switchboard_adapter_messages_received_total{origin="self"}'),
    other: sample('switchboard_adapter_messages_received_total{origin="other"}'),
  };
}

process.on('message', async (msg) => {
  if (msg.cmd === 'stats') {
    const c = MODE === 'switchboard' ? await switchboardCounts() : { ...counts };
    const cpu = process.cpuUsage();
    process.send({ stats: { ...c, cpuMs: (cpu.user + cpu.system) / 1000 } });
  } else if (msg.cmd === 'exit') {
    await close();
    process.exit(0);
  }
});
process.send({ url });
