import { after, before } from 'node:test';
import type { Browser as ChromiumBrowser } from 'playwright-core';
import type { Browser as FirefoxBrowser } from 'puppeteer-core';
import { launchBrowser, openPeer } from './browser.js';
import { closeFirefox, launchFirefox, openFirefoxPeer } from './firefox.js';
import type { BrowserName, Participant, PeerOptions } from './participant.js';
import { startServer, type ServerHandle } from './server.js';

/** One Chromium and one Firefox, for calls between the two engines. */
export interface Browsers {
  chromium: ChromiumBrowser;
  firefox: FirefoxBrowser;
  /** Opens the demo page in a new context of the named browser. */
  open(browser: BrowserName, baseUrl: string, options: PeerOptions): Promise<Participant>;
  close(): Promise<void>;
}

/**
 * Launches both browsers at once. `origins` are the server addresses Firefox pages will open
 * (see {@link launchFirefox}).
 */
export async function launchBrowsers({ origins = [] }: { origins?: string[] } = {}): Promise<Browsers> {
  const [chromium, firefox] = await Promise.allSettled([launchBrowser(), launchFirefox({ origins })]);
  if (chromium.status === 'rejected' || firefox.status === 'rejected') {
    if (chromium.status === 'fulfilled') await chromium.value.close();
    if (firefox.status === 'fulfilled') await closeFirefox(firefox.value);
    throw chromium.status === 'rejected' ? chromium.reason : (firefox as PromiseRejectedResult).reason;
  }
  return {
    chromium: chromium.value,
    firefox: firefox.value,
    open: (browser, baseUrl, options) =>
      browser === 'chromium'
        ? openPeer(chromium.value, baseUrl, options)
        : openFirefoxPeer(firefox.value, baseUrl, options),
    close: async () => {
      await Promise.allSettled([chromium.value.close(), closeFirefox(firefox.value)]);
    },
  };
}

/**
 * A server and both browsers shared by every test of a file: started in a `before` hook, closed in
 * an `after` hook. Read `server` and `browsers` from the returned object inside the tests.
 */
export function useServerAndBrowsers(): { readonly server: ServerHandle; readonly browsers: Browsers } {
  let server: ServerHandle | undefined;
  let browsers: Browsers | undefined;
  before(async () => {
    server = await startServer();
    browsers = await launchBrowsers({ origins: [server.url] });
  });
  after(async () => {
    await browsers?.close();
    await server?.stop();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} used before the file's before() hook ran`);
    return value;
  };
  return {
    get server() {
      return ready(server, 'server');
    },
    get browsers() {
      return ready(browsers, 'browsers');
    },
  };
}
