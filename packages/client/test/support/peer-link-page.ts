// A Chromium page holding two PeerLinks, each with its own RTCPeerConnection, whose signals are
// wired to each other inside the page: no server, no fake peer connection. The SDK's PeerLink is
// bundled from source at test time (esbuild, as build.mjs does), so nothing of this reaches the
// published bundle.
import { build } from 'esbuild';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type {
  IceRestartReason,
  PeerLink,
  PeerLinkDiagnostics,
  PeerLinkHooks,
  PeerLinkOptions,
} from '../../src/peer-link.js';
import type { createConsoleLogger } from '../../src/logger.js';
import { pageLog } from './participant.js';
import { REPO_ROOT } from './paths.js';
import { within } from './wait.js';

const CLIENT_DIR = join(REPO_ROOT, 'packages', 'client');
/** Any origin of localhost is a secure context (getUserMedia); the page is served by Playwright's router. */
const PAGE_URL = 'http://localhost:9/peer-link.html';

/** What the page bundle exposes as `window.SwitchboardPeerLink`. */
interface PeerLinkBundle {
  PeerLink: new (options: PeerLinkOptions, hooks: PeerLinkHooks) => PeerLink;
  createConsoleLogger: typeof createConsoleLogger;
}

/** One side of the pair: `a` is polite and offers first (the newcomer), `b` impolite and waits. */
export type Side = 'a' | 'b';
/** A signal between the two links, named `<sender>:<kind>`. */
export type SignalKey = `${Side}:${'offer' | 'answer' | 'candidate'}`;

export interface PairOptions {
  /** PeerLinkOptions.stuckTimeoutMs of both links. */
  stuckTimeoutMs: number;
  /** Send camera and microphone tracks (fake devices) from both sides. */
  media: boolean;
  /** Signals to drop: the first N of each key never reach the other side. */
  drop?: Partial<Record<SignalKey, number>>;
  /** Signals whose SDP is replaced by garbage: the first N of each key. */
  garble?: Partial<Record<SignalKey, number>>;
  /**
   * This side's fetchIceServers() (the first step of restartIce()) waits until the other side's
   * next offer has been handed to it, so that its restart goes on while that offer is being applied.
   */
  holdIceServersUntilOffer?: Side;
  /** Both sides make the first offer (a glare on the first negotiation; `a`, polite, rolls back). */
  bothOffer?: boolean;
  /**
   * This side's first RTCPeerConnection shows the signature of Chromium's glare stall: it gathers
   * no candidate and reports `gathering` for good (relay-only with no TURN server, and a getter).
   */
  stallGatheringOf?: Side;
  /** Extra delay of every delivery, in ms (0: the next task). */
  latencyMs?: number;
  logLevel?: 'debug' | 'info';
}

/** What a side recorded through its hooks, and its link's state. */
export interface SideState {
  connectionState: RTCPeerConnectionState;
  iceConnectionState: RTCIceConnectionState;
  signalingState: RTCSignalingState;
  dataChannelOpen: boolean;
  diagnostics: PeerLinkDiagnostics;
  /** `a=ice-ufrag` of the current local description. */
  localUfrag: string | null;
  trackKinds: string[];
  messages: string[];
  errors: { reason: string; message: string }[];
  iceRestarts: IceRestartReason[];
  /** Signals this side sent that the page dropped or garbled, by key. */
  faults: string[];
}

export type PairState = Record<Side, SideState>;

interface PairInPage {
  links: Record<Side, PeerLink>;
  snapshot(): PairState;
}

declare global {
  interface Window {
    SwitchboardPeerLink?: PeerLinkBundle;
    peerLinkPair?: PairInPage;
  }
}

let bundle: Promise<string> | undefined;

/** PeerLink and the console logger as one script defining `window.SwitchboardPeerLink`. */
export function peerLinkBundle(): Promise<string> {
  bundle ??= build({
    stdin: {
      contents:
        "export { PeerLink } from './src/peer-link.ts';\nexport { createConsoleLogger } from './src/logger.ts';",
      resolveDir: CLIENT_DIR,
      loader: 'ts',
    },
    bundle: true,
    format: 'iife',
    globalName: 'SwitchboardPeerLink',
    platform: 'browser',
    target: ['chrome100'],
    alias: { '@switchboard/protocol': join(REPO_ROOT, 'packages', 'protocol', 'src', 'index.ts') },
    write: false,
    logLevel: 'warning',
  }).then((result) => result.outputFiles[0]!.text);
  return bundle;
}

export interface PairPage {
  page: Page;
  context: BrowserContext;
  recentLogs(lines?: number): string;
  state(): Promise<PairState>;
  /** Runs `fn` in the page (bounded), e.g. `() => window.peerLinkPair!.links.a.renegotiate()`. */
  evaluate<R>(fn: () => R | Promise<R>): Promise<R>;
  close(): Promise<void>;
}

/** A page (camera and microphone allowed, so host candidates carry real addresses) with a wired pair. */
export async function openPairPage(browser: Browser, name: string, options: PairOptions): Promise<PairPage> {
  const script = await peerLinkBundle();
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  const page = await context.newPage();
  const { log, recentLogs } = pageLog(name);
  page.on('console', (message) => log(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => log(`pageerror: ${error.message}`));
  await page.route(PAGE_URL, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>PeerLink pair</title>' }),
  );
  await page.goto(PAGE_URL);
  await page.addScriptTag({ content: script });
  await page.evaluate(installPair, {
    ...options,
    logLevel: options.logLevel ?? (process.env.SB_DEBUG ? 'debug' : 'info'),
  });
  const evaluate = <R>(promise: Promise<R>) =>
    within(promise, 30_000, () => `${name}: evaluate did not settle in 30 s\n${recentLogs()}`);
  return {
    page,
    context,
    recentLogs,
    state: () => evaluate(page.evaluate(() => window.peerLinkPair!.snapshot())),
    evaluate: <R>(fn: () => R | Promise<R>) => evaluate(page.evaluate(fn)),
    close: () => within(context.close(), 10_000, () => `closing ${name} timed out`),
  };
}

/** Runs in the page: builds the two links and wires each one's signals to the other. */
async function installPair(options: PairOptions): Promise<void> {
  const { PeerLink, createConsoleLogger } = window.SwitchboardPeerLink!;
  const stream = options.media
    ? await navigator.mediaDevices.getUserMedia({ audio: true, video: true })
    : null;
  const drop: Record<string, number> = { ...options.drop };
  const garble: Record<string, number> = { ...options.garble };
  const records: Record<
    Side,
    Omit<
      SideState,
      | 'connectionState'
      | 'iceConnectionState'
      | 'signalingState'
      | 'dataChannelOpen'
      | 'diagnostics'
      | 'localUfrag'
    >
  > = {
    a: { trackKinds: [], messages: [], errors: [], iceRestarts: [], faults: [] },
    b: { trackKinds: [], messages: [], errors: [], iceRestarts: [], faults: [] },
  };
  const links = {} as Record<Side, PeerLink>;
  const heldFetch: Partial<Record<Side, () => void>> = {};
  const releaseFetch = (side: Side) => {
    heldFetch[side]?.();
    delete heldFetch[side];
  };
  /** Delivers one signal from `from` to the other side, in order, unless a fault says otherwise. */
  const deliver = (from: Side, kind: 'offer' | 'answer' | 'candidate', apply: (garbled: boolean) => void) => {
    const key = `${from}:${kind}`;
    if ((drop[key] ?? 0) > 0) {
      drop[key]! -= 1;
      records[from].faults.push(`dropped ${key}`);
      return;
    }
    let garbled = false;
    if ((garble[key] ?? 0) > 0) {
      garble[key]! -= 1;
      garbled = true;
      records[from].faults.push(`garbled ${key}`);
    }
    setTimeout(() => apply(garbled), options.latencyMs ?? 0);
  };
  const make = (self: Side, remote: Side): PeerLink => {
    const record = records[self];
    return new PeerLink(
      {
        selfId: self,
        remoteId: remote,
        initiator: self === 'a' || options.bothOffer === true,
        polite: self === 'a',
        iceRestartSide: self === 'a',
        rtcConfiguration: { iceServers: [], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' },
        localStream: stream,
        dataChannel: true,
        stuckTimeoutMs: options.stuckTimeoutMs,
        maxRecreations: 3,
        iceRestartMinIntervalMs: 5000,
        logger: createConsoleLogger(options.logLevel, `[${self}]`),
      },
      {
        sendOffer: (sdp) =>
          deliver(self, 'offer', (garbled) => {
            void links[remote].handleDescription('offer', garbled ? 'v=0\r\ngarbled\r\n' : sdp);
            // Synchronously after the remote's setRemoteDescription() has started (see holdIceServersUntilOffer).
            releaseFetch(remote);
          }),
        sendAnswer: (sdp) =>
          deliver(
            self,
            'answer',
            (garbled) => void links[remote].handleDescription('answer', garbled ? 'v=0\r\ngarbled\r\n' : sdp),
          ),
        sendCandidate: (candidate) =>
          deliver(self, 'candidate', () => void links[remote].handleCandidate(candidate)),
        onTrack: (track) => record.trackKinds.push(track.kind),
        onStateChange: () => undefined,
        onDataChannelOpen: () => undefined,
        onDataChannelClose: () => undefined,
        onDataChannelMessage: (data) => record.messages.push(String(data)),
        onIceRestart: (reason) => record.iceRestarts.push(reason),
        onError: (error) => record.errors.push({ reason: error.reason, message: error.message }),
        fetchIceServers: () =>
          options.holdIceServersUntilOffer === self
            ? new Promise<null>((resolve) => (heldFetch[self] = () => resolve(null)))
            : Promise.resolve(null),
        signalingUp: () => true,
      },
    );
  };
  const Native = window.RTCPeerConnection;
  class StalledGathering extends Native {
    constructor(configuration?: RTCConfiguration) {
      super({ ...configuration, iceTransportPolicy: 'relay', iceServers: [] });
    }
    override get iceGatheringState(): RTCIceGatheringState {
      return this.localDescription ? 'gathering' : 'new';
    }
  }
  const build = (self: Side, remote: Side): PeerLink => {
    // Only the link's first connection: a rebuilt one is a real one.
    if (options.stallGatheringOf === self) window.RTCPeerConnection = StalledGathering;
    try {
      return make(self, remote);
    } finally {
      window.RTCPeerConnection = Native;
    }
  };
  links.b = build('b', 'a');
  links.a = build('a', 'b');
  const ufrag = (link: PeerLink) =>
    /a=ice-ufrag:(\S+)/.exec(link.pc.localDescription?.sdp ?? '')?.[1] ?? null;
  window.peerLinkPair = {
    links,
    snapshot: () => {
      const side = (s: Side): SideState => {
        const link = links[s];
        return {
          connectionState: link.connectionState,
          iceConnectionState: link.iceConnectionState,
          signalingState: link.signalingState,
          dataChannelOpen: link.dataChannelOpen,
          diagnostics: { ...link.diagnostics },
          localUfrag: ufrag(link),
          ...structuredClone(records[s]),
        };
      };
      return { a: side('a'), b: side('b') };
    },
  };
}
