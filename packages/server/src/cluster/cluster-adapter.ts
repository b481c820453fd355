import { createShardedAdapter } from '@socket.io/redis-adapter';
import type { Redis } from 'ioredis';
import type { Namespace } from 'socket.io';
import { MessageType, type Adapter, type ClusterMessage, type ClusterResponse } from 'socket.io-adapter';
import type { SignalPublication } from '../webrtc/store/state-store';

/** Where a {@link createClusterAdapter} adapter reports the messages it exchanges through Redis. */
export interface AdapterTraffic {
  /** One message (a broadcast, a room change, a response) published to Redis. */
  adapterPublished(): void;
  /**
   * One message Redis delivered to this instance: `other` from another instance (it was acted on),
   * `self` this instance's own, echoed back because it has sockets in the room it went to (dropped).
   */
  adapterReceived(origin: 'self' | 'other'): void;
}

export interface ClusterAdapterOptions {
  /** Connection the adapter publishes on (SPUBLISH); may be shared with other commands. */
  pubClient: Redis;
  /** Connection the adapter subscribes on (SSUBSCRIBE); it is in subscriber mode from then on. */
  subClient: Redis;
  /** Prefix of every pub/sub channel: instances with the same prefix form one cluster. Default `socket.io`. */
  channelPrefix?: string;
  /** Counts the messages exchanged. Default none. */
  traffic?: AdapterTraffic;
}

/**
 * Resolves once this instance's adapter receives what other instances publish to `room`: the
 * sharded adapter subscribes to a room's channel when its first local socket joins, but does not
 * wait for Redis to confirm, so an emit from another instance in the next moment could be missed.
 * The core awaits this before it lets anyone address the room or peer (a repeated `SSUBSCRIBE` of a
 * channel is a no-op). Resolves at once for any other adapter.
 */
export async function subscribed(adapter: Adapter, room: string): Promise<void> {
  const sharded = adapter as Partial<ShardedInternals> & { subClient?: Redis };
  if (!sharded.dynamicChannel || !sharded.subClient) return;
  await sharded.subClient.ssubscribe(sharded.dynamicChannel(room));
}

/**
 * The message `adapter` would publish for an emit of `event` to Socket.IO room `room`, for the state
 * store to publish in the script that logs the signal (`SignalStep.publish`): one command to Redis
 * per relayed signal instead of the script and then the adapter's `SPUBLISH`, and the payload
 * encoded once. The text is the adapter's own: its `encode()` of the message its `broadcast()`
 * builds, with placeholders where the payload and the room go, split around them once per event.
 * The receiving instances' adapters take it as any broadcast. Undefined for an adapter that is
 * not {@link createClusterAdapter}'s (one instance).
 */
export function publicationFor(
  adapter: Adapter,
): ((room: string, event: string) => Omit<SignalPublication, 'from'>) | undefined {
  const sharded = adapter as Partial<ShardedInternals> & Adapter;
  if (!sharded.dynamicChannel || !sharded.encode || sharded.uid === undefined) return undefined;
  const templates = new Map<string, [head: string, middle: string, end: string]>();
  const template = (event: string): [string, string, string] => {
    let t = templates.get(event);
    if (!t) {
      const message = {
        type: MessageType.BROADCAST,
        data: {
          packet: { type: EVENT_PACKET, data: [event, PAYLOAD] },
          opts: { rooms: [ROOM], except: [], flags: {} },
        },
        uid: sharded.uid,
        nsp: adapter.nsp.name,
      } as unknown as ClusterMessage;
      const text = sharded.encode!(message);
      if (typeof text !== 'string') throw new Error('cluster adapter: a broadcast encoded as binary');
      const [head, rest] = split(text, JSON.stringify(PAYLOAD));
      const [middle, end] = split(rest, JSON.stringify(ROOM));
      t = [head, middle, end];
      templates.set(event, t);
    }
    return t;
  };
  return (room, event) => {
    const [head, middle, end] = template(event);
    return { channel: sharded.dynamicChannel!(room), head, tail: middle + JSON.stringify(room) + end };
  };
}

// Placeholders that no encoding of an event name or a room changes.
const PAYLOAD = '\u0000payload\u0000';
const ROOM = '\u0000room\u0000';
// socket.io-parser's PacketType.EVENT.
const EVENT_PACKET = 2;

function split(text: string, at: string): [string, string] {
  const i = text.indexOf(at);
  if (i < 0 || text.indexOf(at, i + 1) >= 0)
    throw new Error('cluster adapter: unexpected broadcast encoding');
  return [text.slice(0, i), text.slice(i + at.length)];
}

/** What Socket.IO's `adapter` option takes: called with `new` for each namespace. */
export type AdapterFactory = (nsp: Namespace) => Adapter;

/** The members of the sharded adapter this module wraps (the package types them private). */
interface ShardedInternals {
  uid: string;
  computeChannel(message: ClusterMessage): string;
  dynamicChannel(room: string): string;
  doPublish(message: ClusterMessage): Promise<string>;
  doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void>;
  onMessage(message: ClusterMessage, offset?: string): void;
  onResponse(response: ClusterResponse): void;
  encode(message: ClusterMessage | ClusterResponse): string | Uint8Array;
}

// Socket.IO's socket ids (base64id) are 20 characters; the sharded adapter never gives them a channel.
const SOCKET_ID_LENGTH = 20;

/**
 * Socket.IO's Redis adapter in sharded pub/sub mode (`SSUBSCRIBE`/`SPUBLISH`, Redis 7.0+) with
 * dynamic subscriptions: besides one namespace-wide channel and its own response channel, each
 * instance subscribes to one channel per Socket.IO room it has sockets in, and an emit to one room
 * is published to that room's channel. Every signal goes to a peer's own room (`p:<peerId>`) and
 * every room event to the room's (`r:<roomId>`), so an instance only hears about the peers and rooms
 * it serves: its work grows with its own peers' traffic, not with the cluster's (docs/operations.md,
 * "Scaling", has the measurement behind the choice over the Redis Streams adapter).
 *
 * Two changes to the adapter, both on the instance it builds:
 * - a room's sockets leaving another room (`socketsLeave`, sent when a peer leaves a signaling
 *   room) goes to that one room's channel too, as a broadcast does, instead of the namespace-wide
 *   channel every instance reads;
 * - what it publishes and receives is counted ({@link AdapterTraffic}).
 *
 * What crosses instances unchanged, on the namespace-wide channel: emits to a socket id and
 * `disconnectSockets` (a resumed peer's previous connection), and namespace-wide emits (none: a
 * draining instance tells only its own clients, with `nsp.local`).
 *
 * @example
 * const adapter = createClusterAdapter({ pubClient, subClient: pubClient.duplicate(), channelPrefix: 'switchboard:socket.io' });
 * new Server(httpServer, { adapter });
 */
export function createClusterAdapter(options: ClusterAdapterOptions): AdapterFactory {
  const make = createShardedAdapter(options.pubClient, options.subClient, {
    channelPrefix: options.channelPrefix ?? 'socket.io',
    subscriptionMode: 'dynamic',
  }) as unknown as (nsp: Namespace) => Adapter & ShardedInternals;
  const traffic = options.traffic;
  // Socket.IO calls the adapter option with `new`; a constructor returning an object yields that object.
  return function ClusterAdapter(nsp: Namespace): Adapter {
    const adapter = make(nsp);
    const computeChannel = adapter.computeChannel.bind(adapter);
    adapter.computeChannel = (message) => {
      if (message.type === MessageType.SOCKETS_LEAVE) {
        const rooms = (message.data as { opts: { rooms: string[] } }).opts.rooms;
        if (rooms.length === 1 && rooms[0]!.length !== SOCKET_ID_LENGTH)
          return adapter.dynamicChannel(rooms[0]!);
      }
      return computeChannel(message);
    };
    if (traffic) {
      const doPublish = adapter.doPublish.bind(adapter);
      adapter.doPublish = (message) => {
        traffic.adapterPublished();
        return doPublish(message);
      };
      const doPublishResponse = adapter.doPublishResponse.bind(adapter);
      adapter.doPublishResponse = (requesterUid, response) => {
        traffic.adapterPublished();
        return doPublishResponse(requesterUid, response);
      };
      const onMessage = adapter.onMessage.bind(adapter);
      adapter.onMessage = (message, offset) => {
        traffic.adapterReceived(message.uid === adapter.uid ? 'self' : 'other');
        onMessage(message, offset);
      };
      const onResponse = adapter.onResponse.bind(adapter);
      adapter.onResponse = (response) => {
        traffic.adapterReceived('other');
        onResponse(response);
      };
    }
    return adapter;
  } as unknown as AdapterFactory;
}
