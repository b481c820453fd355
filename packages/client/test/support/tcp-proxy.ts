import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Base URL of the proxied server, e.g. `http://127.0.0.1:PORT`. */
  url: string;
  /** Resets every open connection (TCP RST towards the browser, close towards the server). */
  cut(): void;
  /** While blocked, new connections are reset at once. */
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy in front of the server, so a test can cut one page's signaling for real
 * (its WebSocket dies with a TCP reset) while the other page keeps talking to the server directly.
 */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let blocked = false;
  const server = createServer((client) => {
    if (blocked) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ port: targetPort, host: '127.0.0.1' });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const cut = () => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      pair[0].resetAndDestroy();
      pair[1].destroy();
    }
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    cut,
    block() {
      blocked = true;
    },
    unblock() {
      blocked = false;
    },
    close() {
      blocked = true;
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
