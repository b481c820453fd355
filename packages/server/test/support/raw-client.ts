import { EventEmitter } from 'node:events';
import { NAMESPACE } from '@switchboard/protocol';
import { WebSocket, type RawData } from 'ws';

/** The Engine.IO open packet (`0{...}`). */
export interface EngineOpen {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}

export interface RawClientOptions {
  /** Local address to connect from (any of 127.0.0.0/8 reaches a server on 127.0.0.1): another client IP. */
  localAddress?: string;
  /** Extra headers of the WebSocket handshake, e.g. `{ Origin: 'https://app.example' }`. */
  headers?: Record<string, string>;
  /**
   * Namespace to connect after the open packet (for `/webrtc`, also waits for the `session` event);
   * `null` stops at the Engine.IO handshake. Default `/webrtc`.
   */
  namespace?: string | null;
  /** The `auth` object of the namespace connect packet. Default `{}`. */
  auth?: Record<string, unknown>;
  /** Answer the server's pings (`2` → `3`). Default true. */
  answerPings?: boolean;
  /** Longest wait for the open packet, the namespace connect and the `session` event, ms. Default 5000. */
  timeoutMs?: number;
}

/** A Socket.IO packet as {@link RawClient} decodes it (text frames only; binary attachments are not read). */
export interface SocketIoPacket {
  /** 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR. */
  type: number;
  nsp: string;
  id?: number;
  data?: unknown;
}

/**
 * A hostile or merely raw Socket.IO client: Engine.IO v4 / Socket.IO v5 spoken by hand over `ws`,
 * so a test can do what `socket.io-client` never would — stop reading while keeping the connection,
 * volunteer pongs, skip pings, send malformed or oversized frames.
 *
 * @example
 * const c = await RawClient.connect(server.url);
 * // sends 42/webrtc,0["joinRoom",{"roomId":"r"}], resolves with the body of 43/webrtc,0[{...}]
 * await c.request('joinRoom', { roomId: 'r' });
 * c.startPongs(200); // unsolicited `3` frames keep the heartbeat alive
 * c.stopReading(); // the TCP receive window fills; the server must cope
 */
export class RawClient {
  /** The Engine.IO open packet, once received. */
  open: EngineOpen | undefined;
  /** The peer id from the `session` event (empty until it arrives, or without a namespace). */
  peerId = '';
  /** Text frames received so far, and their total length. */
  framesReceived = 0;
  bytesReceived = 0;
  /** The last socket error (a write to a connection the server closed, typically). */
  error: Error | undefined;
  /** Resolves once the WebSocket has closed, with its close code. */
  readonly closed: Promise<number>;

  private readonly events = new EventEmitter();
  private readonly acks = new Map<number, (args: unknown[]) => void>();
  private nextAckId = 0;
  private pongTimer: NodeJS.Timeout | undefined;
  private readonly answerPings: boolean;
  /** `/nsp,` before a packet's id and data; nothing for the main namespace. */
  private readonly prefix: string;

  private constructor(
    /** The underlying WebSocket (for what this class does not cover). */
    readonly ws: WebSocket,
    /** The namespace events go to, e.g. `/webrtc`. */
    readonly nsp: string,
    opts: RawClientOptions,
  ) {
    this.answerPings = opts.answerPings ?? true;
    this.prefix = nsp === '/' ? '' : `${nsp},`;
    this.events.setMaxListeners(0);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) this.onFrame(data.toString());
    });
    ws.on('error', (err) => (this.error = err));
    this.closed = new Promise((resolve) =>
      ws.once('close', (code) => {
        this.stopPongs();
        resolve(code);
      }),
    );
  }

  /**
   * Opens `ws://…/socket.io/?EIO=4&transport=websocket` on the server at `url` (`http://host:port`),
   * reads the open packet, connects the namespace and waits for the peer id of its `session` event.
   */
  static async connect(url: string, opts: RawClientOptions = {}): Promise<RawClient> {
    const target = `${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    const ws = new WebSocket(target, {
      perMessageDeflate: false,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      ...(opts.headers ? { headers: opts.headers } : {}),
    });
    const nsp = opts.namespace === undefined ? NAMESPACE : opts.namespace;
    const client = new RawClient(ws, nsp ?? '/', opts);
    const ms = opts.timeoutMs ?? 5000;
    try {
      await withTimeout(client.frame('open'), ms, 'open packet');
      if (nsp !== null) {
        const session = nsp === NAMESPACE ? client.waitFor('session', ms) : undefined;
        session?.catch(() => undefined); // awaited below, once the connect is known to have succeeded
        client.sendRaw(`40${client.prefix}${JSON.stringify(opts.auth ?? {})}`);
        const connected = (await withTimeout(
          client.frame('connect'),
          ms,
          'namespace connect',
        )) as SocketIoPacket;
        if (connected.type === 4) throw new Error(`connect refused: ${JSON.stringify(connected.data)}`);
        if (session) client.peerId = ((await session) as { peerId: string }).peerId;
      }
      return client;
    } catch (err) {
      client.terminate();
      throw err;
    }
  }

  /** Sends one text frame as is (an Engine.IO packet: `4…` for a message, `3` for a pong, …). */
  sendRaw(text: string): void {
    this.ws.send(text);
  }

  /** Emits an event without an ack id: `42/nsp,["event",...args]`. */
  emit(event: string, ...args: unknown[]): void {
    this.sendRaw(`42${this.prefix}${JSON.stringify([event, ...args])}`);
  }

  /** Emits an event with an ack id and resolves with the ack's first argument (`43/nsp,<id>[result]`). */
  request(event: string, payload: unknown, ms = 3000): Promise<unknown> {
    const id = this.nextAckId++;
    const answered = new Promise<unknown>((resolve) => this.acks.set(id, (args) => resolve(args[0])));
    this.sendRaw(`42${this.prefix}${id}${JSON.stringify([event, payload])}`);
    return withTimeout(answered, ms, `ack of ${event}`).finally(() => this.acks.delete(id));
  }

  /**
   * Like {@link request}, with the event's arguments given as JSON text (`["event",payload]`): for
   * frames `JSON.stringify` cannot build (nested 100,000 deep) or that should reach the server as is.
   */
  requestRaw(argsJson: string, ms = 3000): Promise<unknown> {
    const id = this.nextAckId++;
    const answered = new Promise<unknown>((resolve) => this.acks.set(id, (args) => resolve(args[0])));
    this.sendRaw(`42${this.prefix}${id}${argsJson}`);
    return withTimeout(answered, ms, 'ack of a raw request').finally(() => this.acks.delete(id));
  }

  /** Resolves with the first argument of the next `event` from the server. */
  waitFor(event: string, ms = 3000): Promise<unknown> {
    return withTimeout(
      new Promise((resolve) => this.events.once(`event:${event}`, resolve)),
      ms,
      `${event} event`,
    );
  }

  /** Calls `listener` with the first argument of every `event` from the server. */
  on(event: string, listener: (payload: unknown) => void): void {
    this.events.on(`event:${event}`, listener);
  }

  /** Sends an unsolicited pong (`3`) every `intervalMs`: Engine.IO counts it as a live heartbeat. */
  startPongs(intervalMs: number): void {
    this.stopPongs();
    this.pongTimer = setInterval(() => {
      if (this.ws.readyState === WebSocket.OPEN) this.sendRaw('3');
    }, intervalMs);
  }

  stopPongs(): void {
    clearInterval(this.pongTimer);
    this.pongTimer = undefined;
  }

  /**
   * Stops reading the socket while keeping the connection (and writing) open: what arrives stays in
   * the kernel, the TCP receive window closes and the server's writes back up.
   */
  stopReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    this.ws.resume();
  }

  /** True while the WebSocket is open as far as this side knows (a paused reader learns late). */
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes with a WebSocket close frame. */
  close(): void {
    this.stopPongs();
    this.ws.close();
  }

  /** Destroys the TCP connection at once. */
  terminate(): void {
    this.stopPongs();
    this.ws.terminate();
  }

  /** Resolves with the next `open` packet, or `connect` (a CONNECT or CONNECT_ERROR packet). */
  private frame(kind: 'open' | 'connect'): Promise<unknown> {
    return new Promise((resolve) => this.events.once(`frame:${kind}`, resolve));
  }

  private onFrame(text: string): void {
    this.framesReceived++;
    this.bytesReceived += text.length;
    switch (text[0]) {
      case '0':
        this.open = JSON.parse(text.slice(1)) as EngineOpen;
        this.events.emit('frame:open', this.open);
        return;
      case '2':
        if (this.answerPings) this.sendRaw('3');
        return;
      case '4':
        this.onPacket(decodeSocketIo(text.slice(1)));
        return;
    }
  }

  private onPacket(packet: SocketIoPacket): void {
    if (packet.nsp !== this.nsp) return;
    switch (packet.type) {
      case 0:
      case 4:
        this.events.emit('frame:connect', packet);
        return;
      case 2: {
        const [event, ...args] = packet.data as [string, ...unknown[]];
        this.events.emit(`event:${event}`, args[0]);
        return;
      }
      case 3:
        if (packet.id !== undefined) this.acks.get(packet.id)?.(packet.data as unknown[]);
        return;
    }
  }
}

/** Decodes a Socket.IO v5 text packet: `<type>[/nsp,][id][json]`. */
export function decodeSocketIo(text: string): SocketIoPacket {
  let i = 1;
  let nsp = '/';
  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    nsp = comma === -1 ? text.slice(i) : text.slice(i, comma);
    i = comma === -1 ? text.length : comma + 1;
  }
  const digits = /^\d*/.exec(text.slice(i))?.[0] ?? '';
  i += digits.length;
  return {
    type: Number(text[0]),
    nsp,
    ...(digits ? { id: Number(digits) } : {}),
    ...(i < text.length ? { data: JSON.parse(text.slice(i)) as unknown } : {}),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
