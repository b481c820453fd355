import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import {
  boundedEvaluate,
  CLOSE_TIMEOUT_MS,
  demoUrl,
  pageLog,
  waitForClient,
  type Participant,
  type PeerOptions,
} from './participant.js';
import { within } from './wait.js';

export {
  allConnected,
  closeAll,
  framesDecoded,
  recordEvents,
  selfId,
  tiles,
  waitForCall,
  type ClientInPage,
  type PeerOptions,
  type TileState,
} from './participant.js';

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

/** A Chromium participant: a browser context with camera and microphone allowed, on the demo page. */
export interface Peer extends Participant {
  browserName: 'chromium';
  /** The Playwright page, for what only Chromium tests do (clicks, attributes). */
  page: Page;
  context: BrowserContext;
}

/** A new context with camera and microphone allowed, and a page whose console is kept for diagnostics. */
async function newPeerPage(
  browser: Browser,
  options: Pick<PeerOptions, 'name' | 'viewport' | 'initScript'>,
): Promise<Peer> {
  const context = await browser.newContext({
    permissions: ['camera', 'microphone'],
    viewport: options.viewport ?? { width: 640, height: 400 },
  });
  if (options.initScript) await context.addInitScript(options.initScript);
  const page = await context.newPage();
  const { logs, log, recentLogs } = pageLog(options.name);
  page.on('console', (message) => log(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => log(`pageerror: ${error.message}`));
  return {
    name: options.name,
    browserName: 'chromium',
    page,
    context,
    logs,
    recentLogs,
    evaluate: <R, A>(fn: (arg: A) => R | Promise<R>, arg?: A) =>
      boundedEvaluate(
        page.evaluate(fn as (arg: unknown) => R | Promise<R>, arg),
        `${options.name} (chromium)`,
        recentLogs,
      ),
    exposeFunction: async (name, fn) => {
      await page.exposeFunction(name, fn);
    },
    close: () =>
      within(context.close(), CLOSE_TIMEOUT_MS, () => `closing ${options.name} (chromium) timed out`),
  };
}

/**
 * A page of the server's origin without a client: the test builds one itself with the served SDK
 * (`await import('/switchboard.js')`), for options the demo page does not offer.
 */
export async function openBlankPeer(browser: Browser, baseUrl: string, name: string): Promise<Peer> {
  const peer = await newPeerPage(browser, { name });
  // The join form (no room): the demo creates no client.
  await peer.page.goto(`${baseUrl}/`);
  return peer;
}

/** Opens the demo at `baseUrl/?room=...` in a new context and waits until the client exists. */
export async function openPeer(browser: Browser, baseUrl: string, options: PeerOptions): Promise<Peer> {
  const peer = await newPeerPage(browser, options);
  await peer.page.goto(demoUrl(baseUrl, options));
  await waitForClient(peer);
  return peer;
}
