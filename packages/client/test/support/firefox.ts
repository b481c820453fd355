import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launch, type Browser } from 'puppeteer-core';
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

export const FIREFOX = '/usr/bin/firefox-esr';

/** Prefs from shared/notes/browser-webrtc.md, plus autoplay with sound (as Chromium's flag). */
export const FIREFOX_PREFS: Record<string, unknown> = {
  // A fake camera and microphone, without the permission prompt that headless cannot answer
  // (getUserMedia would wait forever on it).
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // Host candidates on loopback, and as addresses rather than mDNS `.local` names (no mDNS here).
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
};

/** Closes Firefox, or kills its process group (puppeteer starts it detached) if that takes too long. */
export async function closeFirefox(browser: Browser): Promise<void> {
  try {
    await within(browser.close(), CLOSE_TIMEOUT_MS, () => 'closing Firefox timed out');
  } catch {
    const pid = browser.process()?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** A Firefox participant: its own browser context (user context) on the demo page. */
export interface FirefoxPeer extends Participant {
  browserName: 'firefox';
}

/**
 * Launches the Debian `firefox-esr` headless through puppeteer-core over WebDriver BiDi (it
 * downloads nothing). `origins` (`http://127.0.0.1:PORT`) get a stored camera and microphone
 * permission: without one (a fake stream does not count as capturing), Firefox gathers host
 * candidates only on the default-route interface, and where only loopback exists nothing connects.
 */
export async function launchFirefox({ origins = [] }: { origins?: string[] } = {}): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-firefox-'));
  const prefs = { ...FIREFOX_PREFS };
  if (origins.length > 0) {
    // Firefox's default-permissions file: one `origin<TAB>type<TAB>capability<TAB>origin` a line
    // (capability 1 = allow); BiDi's setPermission refuses `camera`.
    const lines = origins.flatMap((o) => ['camera', 'microphone'].map((type) => `origin\t${type}\t1\t${o}`));
    const file = join(dir, 'permissions.txt');
    writeFileSync(file, `${lines.join('\n')}\n`);
    prefs['permissions.manager.defaultsUrl'] = pathToFileURL(file).href;
    // Each page has its own BiDi user context; Firefox ESR keeps permissions per user context, so
    // the default ones (which have none) would reach only the default context.
    prefs['permissions.isolateBy.userContext'] = false;
  }
  try {
    const browser = await launch({
      browser: 'firefox',
      protocol: 'webDriverBiDi',
      executablePath: FIREFOX,
      headless: true,
      extraPrefsFirefox: prefs,
      timeout: 60_000,
    });
    browser.once('disconnected', () => rmSync(dir, { recursive: true, force: true }));
    return browser;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * A Firefox page of the server's origin without a client: the test builds one itself with the
 * served SDK (`await import('/switchboard.js')`), for options the demo page does not offer.
 */
export function openFirefoxBlankPeer(browser: Browser, baseUrl: string, name: string): Promise<FirefoxPeer> {
  return openFirefoxPeer(browser, baseUrl, { room: '', name });
}

/** Opens the demo at `baseUrl/?room=...` in a new user context and waits until the client exists. */
export async function openFirefoxPeer(
  browser: Browser,
  baseUrl: string,
  options: PeerOptions,
): Promise<FirefoxPeer> {
  const context = await browser.createBrowserContext();
  try {
    const page = await context.newPage();
    if (options.viewport) await page.setViewport(options.viewport);
    if (options.initScript) await page.evaluateOnNewDocument(options.initScript);
    const { logs, log, recentLogs } = pageLog(options.name);
    page.on('console', (message) => log(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (error) =>
      log(`pageerror: ${error instanceof Error ? error.message : String(error)}`),
    );
    const peer: FirefoxPeer = {
      name: options.name,
      browserName: 'firefox',
      logs,
      recentLogs,
      evaluate: <R, A>(fn: (arg: A) => R | Promise<R>, arg?: A) =>
        boundedEvaluate(
          page.evaluate(fn as (arg: unknown) => R | Promise<R>, arg) as Promise<R>,
          `${options.name} (firefox)`,
          recentLogs,
        ),
      exposeFunction: (name, fn) => page.exposeFunction(name, fn),
      close: () =>
        within(context.close(), CLOSE_TIMEOUT_MS, () => `closing ${options.name} (firefox) timed out`),
    };
    // No room: the join form, and no client (see openFirefoxBlankPeer).
    await page.goto(options.room ? demoUrl(baseUrl, options) : `${baseUrl}/`);
    if (options.room) await waitForClient(peer);
    return peer;
  } catch (error) {
    await context.close().catch(() => undefined);
    throw error;
  }
}
