import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { waitFor } from './wait.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Flags from shared/notes/browser-webrtc.md, plus autoplay with sound (remote `<video>` elements play unmuted). */
export const CHROMIUM_ARGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** The part of the SDK's `SwitchboardClient` the tests call on `window.switchboard`. */
export interface ClientInPage {
  peerId: string | null;
  state: string;
  getStats(peerId: string): Promise<RTCStatsReport>;
  getSelectedCandidatePair(
    peerId: string,
  ): Promise<{ local: { candidateType: string }; remote: { candidateType: string } } | null>;
  getPeer(
    peerId: string,
  ):
    | { diagnostics: Record<string, number | boolean>; connectionState: string; signalingState: string }
    | undefined;
  getPeers(): { peerId: string; userId?: string; connectionState: string }[];
  send(peerId: string, data: string): boolean;
  renegotiate(peerId?: string): Promise<void>;
  restartIce(peerId?: string): Promise<void>;
  on(event: string, listener: (payload: Record<string, unknown>) => void): () => void;
}

declare global {
  interface Window {
    switchboard?: ClientInPage;
  }
}

/** One participant: a browser context with camera and microphone allowed, on the demo page. */
export interface Peer {
  name: string;
  page: Page;
  context: BrowserContext;
  logs: string[];
  /** The last page log lines, for failure messages. */
  recentLogs(lines?: number): string;
}

export interface PeerOptions {
  room: string;
  name: string;
  relay?: boolean;
  /** Access token for a server with authentication on (`?token=`). */
  token?: string;
  viewport?: { width: number; height: number };
  /** Runs in the page before its own scripts (fault injection). */
  initScript?: () => void;
}

/** A new context with camera and microphone allowed, and a page whose console is kept for diagnostics. */
async function newPeerPage(
  browser: Browser,
  options: Pick<PeerOptions, 'name' | 'viewport' | 'initScript'>,
): Promise<Omit<Peer, 'name' | 'recentLogs'>> {
  const context = await browser.newContext({
    permissions: ['camera', 'microphone'],
    viewport: options.viewport ?? { width: 640, height: 400 },
  });
  if (options.initScript) await context.addInitScript(options.initScript);
  const page = await context.newPage();
  const logs: string[] = [];
  const t0 = Date.now();
  const log = (line: string) => {
    logs.push(`+${Date.now() - t0}ms [${options.name}] ${line}`);
    if (logs.length > 2000) logs.splice(0, 1000);
    if (process.env.SB_DEBUG) console.log(logs[logs.length - 1]);
  };
  page.on('console', (message) => log(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => log(`pageerror: ${error.message}`));
  return { page, context, logs };
}

/**
 * A page of the server's origin without a client: the test builds one itself with the served SDK
 * (`await import('/switchboard.js')`), for options the demo page does not offer.
 */
export async function openBlankPeer(browser: Browser, baseUrl: string, name: string): Promise<Peer> {
  const { page, context, logs } = await newPeerPage(browser, { name });
  // The join form (no room): the demo creates no client.
  await page.goto(`${baseUrl}/`);
  return { name, page, context, logs, recentLogs: (lines = 40) => logs.slice(-lines).join('\n') };
}

/** Opens the demo at `baseUrl/?room=...` in a new context and waits until the client exists. */
export async function openPeer(browser: Browser, baseUrl: string, options: PeerOptions): Promise<Peer> {
  const { page, context, logs } = await newPeerPage(browser, options);
  const params = new URLSearchParams({ room: options.room, name: options.name });
  if (options.relay) params.set('relay', '1');
  if (options.token) params.set('token', options.token);
  if (process.env.SB_DEBUG) params.set('debug', '1');
  await page.goto(`${baseUrl}/?${params}`);
  await page.waitForFunction(() => window.switchboard !== undefined, null, { timeout: 15_000 });
  return {
    name: options.name,
    page,
    context,
    logs,
    recentLogs: (lines = 40) => logs.slice(-lines).join('\n'),
  };
}

export interface TileState {
  peerId: string;
  state: string;
  /** The peer's authenticated user id, when the server requires authentication. */
  userId?: string;
}

/** The remote tiles as the demo shows them. */
export function tiles(peer: Peer): Promise<TileState[]> {
  return peer.page.$$eval('[data-testid="peer-tile"]', (elements) =>
    elements.map((e) => ({
      peerId: (e as HTMLElement).dataset.peerId ?? '',
      state: (e as HTMLElement).dataset.connectionState ?? '',
      userId: (e as HTMLElement).dataset.userId,
    })),
  );
}

/** True when the page shows exactly `count` remote tiles, all `connected`. */
export async function allConnected(peer: Peer, count: number): Promise<boolean> {
  const list = await tiles(peer);
  return list.length === count && list.every((t) => t.state === 'connected');
}

export function selfId(peer: Peer): Promise<string | null> {
  return peer.page.evaluate(() => window.switchboard?.peerId ?? null);
}

/** Video frames decoded from one remote peer so far (inbound-rtp video `framesDecoded`). */
export function framesDecoded(peer: Peer, remoteId: string): Promise<number> {
  return peer.page.evaluate(async (id) => {
    const report = await window.switchboard!.getStats(id);
    let frames = 0;
    report.forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
    });
    return frames;
  }, remoteId);
}

/** Records the client's events of the given names into a Node-side array (from now on). */
export async function recordEvents(
  peer: Peer,
  names: string[],
): Promise<{ event: string; payload: Record<string, unknown>; at: number }[]> {
  const events: { event: string; payload: Record<string, unknown>; at: number }[] = [];
  const binding = `sbRecord_${Math.random().toString(36).slice(2)}`;
  await peer.page.exposeFunction(binding, (event: string, payload: Record<string, unknown>) => {
    events.push({ event, payload, at: Date.now() });
  });
  await peer.page.evaluate(
    ({ names, binding }) => {
      const send = (window as unknown as Record<string, (e: string, p: unknown) => void>)[binding];
      for (const name of names) {
        window.switchboard!.on(name, (payload) => {
          // Errors and streams do not survive structured cloning; send what a test reads.
          const plain: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(payload ?? {})) {
            if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) plain[k] = v;
          }
          if (payload instanceof Error) {
            plain.message = payload.message;
            plain.reason = (payload as unknown as { reason: string }).reason;
            plain.peerId = (payload as unknown as { peerId?: string }).peerId;
          }
          send(name, plain);
        });
      }
    },
    { names, binding },
  );
  return events;
}

export async function closeAll(...closers: (Browser | Peer | undefined)[]): Promise<void> {
  for (const item of closers) {
    if (!item) continue;
    try {
      if ('context' in item) await item.context.close();
      else await item.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Waits until two pages are connected to each other and, unless `video` is false, each decodes the
 * other's video. Returns their peer ids.
 */
export async function waitForCall(
  a: Peer,
  b: Peer,
  {
    timeoutMs = 20_000,
    video = true,
    diagnose,
  }: { timeoutMs?: number; video?: boolean; diagnose?: () => string | Promise<string> } = {},
): Promise<{ aId: string; bId: string }> {
  await waitFor('call connected', async () => (await allConnected(a, 1)) && (await allConnected(b, 1)), {
    timeoutMs,
    diagnose,
  });
  const aId = (await selfId(a))!;
  const bId = (await selfId(b))!;
  if (video) {
    await waitFor(
      'video flowing',
      async () => (await framesDecoded(a, bId)) > 0 && (await framesDecoded(b, aId)) > 0,
      { diagnose },
    );
  }
  return { aId, bId };
}
