import assert from 'node:assert/strict';
import { iceRestartSide, isPolite } from '@switchboard/protocol';
import { waitFor, within } from './wait.js';

export type BrowserName = 'chromium' | 'firefox';

/**
 * One participant of a call, on the demo page (or a blank page of the server's origin) in either
 * browser. The scenarios and the helpers below use only this, so they run the same in Chromium
 * (Playwright) and Firefox (puppeteer-core over WebDriver BiDi).
 */
export interface Participant {
  name: string;
  browserName: BrowserName;
  /** The page's console and errors, newest last, each line stamped with ms since the page opened. */
  logs: string[];
  /** The last page log lines, for failure messages. */
  recentLogs(lines?: number): string;
  /**
   * Runs `fn` in the page with one JSON argument and returns its JSON result. Return plain data:
   * over BiDi an `RTCSessionDescription` or a `Map` comes back `undefined`.
   */
  evaluate<R>(fn: () => R | Promise<R>): Promise<R>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
  /** Makes `window[name](...)` call `fn` in the test process. */
  exposeFunction(name: string, fn: (...args: never[]) => unknown): Promise<void>;
  /** Closes the page and its browser context (a call ends for the others when the server notices). */
  close(): Promise<void>;
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
  close(): Promise<void>;
  on(event: string, listener: (payload: Record<string, unknown>) => void): () => void;
}

declare global {
  interface Window {
    switchboard?: ClientInPage;
  }
}

/**
 * Longest a single `evaluate` may take. Without a bound, a page promise that never settles (an SDK
 * call awaiting a browser operation that hangs) would hang the test until the runner's timeout,
 * without the page logs.
 */
export const EVALUATE_TIMEOUT_MS = 30_000;

/** Settles as `promise` does, or rejects after EVALUATE_TIMEOUT_MS with `what` and the page's recent logs. */
export function boundedEvaluate<R>(promise: Promise<R>, what: string, recentLogs: () => string): Promise<R> {
  return within(
    promise,
    EVALUATE_TIMEOUT_MS,
    () => `${what}: evaluate did not settle in ${EVALUATE_TIMEOUT_MS} ms\n${recentLogs()}`,
  );
}

/**
 * Longest closing a page (or a browser) may take. A close that never settles would otherwise hang
 * the test file in its `finally`; past this, the browser's own close (or kill) takes the page.
 */
export const CLOSE_TIMEOUT_MS = 10_000;

/** How a test opens the demo page. */
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

/** `baseUrl/?room=...&name=...` as the demo reads it; `debug=1` under `SB_DEBUG`. */
export function demoUrl(baseUrl: string, options: PeerOptions): string {
  const params = new URLSearchParams({ room: options.room, name: options.name });
  if (options.relay) params.set('relay', '1');
  if (options.token) params.set('token', options.token);
  if (process.env.SB_DEBUG) params.set('debug', '1');
  return `${baseUrl}/?${params}`;
}

/** A bounded log of a page's console; printed live under `SB_DEBUG`. */
export function pageLog(name: string): {
  logs: string[];
  log(line: string): void;
  recentLogs(lines?: number): string;
} {
  const logs: string[] = [];
  const t0 = Date.now();
  return {
    logs,
    log(line) {
      logs.push(`+${Date.now() - t0}ms [${name}] ${line}`);
      if (logs.length > 2000) logs.splice(0, 1000);
      if (process.env.SB_DEBUG) console.log(logs[logs.length - 1]);
    },
    recentLogs: (lines = 40) => logs.slice(-lines).join('\n'),
  };
}

/** Waits until the demo page has created its client (`window.switchboard`). */
export async function waitForClient(peer: Participant, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    `${peer.name} (${peer.browserName}): the demo's client`,
    () => peer.evaluate(() => window.switchboard !== undefined),
    {
      timeoutMs,
      // The demo logs nothing before its client exists: say how far the page got.
      diagnose: async () => {
        const page = await peer
          .evaluate(() => ({
            url: location.href,
            readyState: document.readyState,
            status: document.getElementById('status')?.textContent ?? null,
            notices: [...document.querySelectorAll('[data-testid="notice"]')].map((e) => e.textContent),
            localVideo: Boolean(
              (document.getElementById('local-video') as HTMLVideoElement | null)?.srcObject,
            ),
          }))
          .catch((error: unknown) => `page not readable: ${String(error)}`);
        return `${JSON.stringify(page)}\n${peer.recentLogs()}`;
      },
    },
  );
}

export interface TileState {
  peerId: string;
  state: string;
  /** The peer's authenticated user id, when the server requires authentication. */
  userId?: string;
}

/** The remote tiles as the demo shows them. */
export function tiles(peer: Participant): Promise<TileState[]> {
  return peer.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('[data-testid="peer-tile"]')].map((e) => {
      const tile: { peerId: string; state: string; userId?: string } = {
        peerId: e.dataset.peerId ?? '',
        state: e.dataset.connectionState ?? '',
      };
      // Absent, not `undefined`: an `undefined` member does not survive every transport.
      if (e.dataset.userId !== undefined) tile.userId = e.dataset.userId;
      return tile;
    }),
  );
}

/** True when the page shows exactly `count` remote tiles, all `connected`. */
export async function allConnected(peer: Participant, count: number): Promise<boolean> {
  const list = await tiles(peer);
  return list.length === count && list.every((t) => t.state === 'connected');
}

export function selfId(peer: Participant): Promise<string | null> {
  return peer.evaluate(() => window.switchboard?.peerId ?? null);
}

/** Video frames decoded from one remote peer so far (inbound-rtp video `framesDecoded`). */
export function framesDecoded(peer: Participant, remoteId: string): Promise<number> {
  return peer.evaluate(async (id) => {
    const report = await window.switchboard!.getStats(id);
    let frames = 0;
    report.forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
    });
    return frames;
  }, remoteId);
}

/** Waits until `peer` decodes video from `remoteId`, and checks that the count keeps rising. */
export async function assertVideoFlowing(
  peer: Participant,
  remoteId: string,
  diagnose?: () => string | Promise<string>,
): Promise<{ first: number; later: number }> {
  const first = await waitFor(
    `${peer.name} (${peer.browserName}) decoding video from ${remoteId}`,
    () => framesDecoded(peer, remoteId),
    { diagnose },
  );
  let later = first;
  await waitFor(
    `${peer.name} (${peer.browserName}): framesDecoded from ${remoteId} rising past ${first}`,
    async () => (later = await framesDecoded(peer, remoteId)) > first,
    { timeoutMs: 5000, diagnose },
  );
  return { first, later };
}

/** The video codec `peer` receives from `remoteId` (`video/VP8`, ...), from its inbound-rtp stat. */
export function inboundVideoCodec(peer: Participant, remoteId: string): Promise<string | null> {
  return peer.evaluate(async (id) => {
    const report = await window.switchboard!.getStats(id);
    let codec: string | null = null;
    report.forEach((s: { type: string; kind?: string; codecId?: string }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video' && s.codecId) {
        const c = report.get(s.codecId) as { mimeType?: string } | undefined;
        codec = c?.mimeType ?? null;
      }
    });
    return codec;
  }, remoteId);
}

/**
 * Makes `to` echo every data-channel message back as `echo:<text>`, sends `text` from `from` and
 * resolves with the round trip in ms.
 */
export async function dataChannelEcho(
  from: Participant,
  to: Participant,
  text: string,
  timeoutMs = 10_000,
): Promise<number> {
  const fromId = (await selfId(from))!;
  const toId = (await selfId(to))!;
  await to.evaluate((sender) => {
    window.switchboard!.on('dataChannelMessage', (m) => {
      if (m.peerId === sender && !String(m.data).startsWith('echo:'))
        window.switchboard!.send(sender, `echo:${String(m.data)}`);
    });
  }, fromId);
  return from.evaluate(
    ({ to, text, timeoutMs }) =>
      new Promise<number>((resolve, reject) => {
        const sb = window.switchboard!;
        const sentAt = performance.now();
        const off = sb.on('dataChannelMessage', (m) => {
          if (m.peerId === to && m.data === `echo:${text}`) {
            off();
            resolve(performance.now() - sentAt);
          }
        });
        if (!sb.send(to, text)) reject(new Error('data channel not open'));
        setTimeout(() => reject(new Error(`no echo within ${timeoutMs} ms`)), timeoutMs);
      }),
    { to: toId, text, timeoutMs },
  );
}

/** One recorded SDK event. */
export interface RecordedEvent {
  event: string;
  payload: Record<string, unknown>;
  at: number;
}

/** Records the client's events of the given names into a Node-side array (from now on). */
export async function recordEvents(peer: Participant, names: string[]): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  const binding = `sbRecord_${Math.random().toString(36).slice(2)}`;
  await peer.exposeFunction(binding, (event: string, payload: Record<string, unknown>) => {
    events.push({ event, payload, at: Date.now() });
  });
  await peer.evaluate(
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
          void send(name, plain);
        });
      }
    },
    { names, binding },
  );
  return events;
}

/** Closes pages and browsers in order, ignoring what is closed already. */
export async function closeAll(...closers: ({ close(): Promise<void> } | undefined)[]): Promise<void> {
  for (const item of closers) {
    try {
      await item?.close();
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
  a: Participant,
  b: Participant,
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

/**
 * After both pages lost their session (a server restarted, Redis emptied): waits until each has
 * rejoined on its own — a `reconnected` event with `resumed: false`, `via: 'rejoin'` among the
 * events recorded on it (`recordEvents` with `reconnected`) — under a new peer id, and until their
 * call is connected again between the new ids (each tile shows the other's). Returns the new ids
 * and when each rejoined.
 */
export async function waitForRejoinedCall(
  a: Participant,
  b: Participant,
  recorded: { a: RecordedEvent[]; b: RecordedEvent[] },
  old: { aId: string; bId: string },
  { timeoutMs = 30_000, diagnose }: { timeoutMs?: number; diagnose?: () => string | Promise<string> } = {},
): Promise<{ aId: string; bId: string; aRejoinedAt: number; bRejoinedAt: number }> {
  const [aBack, bBack] = await Promise.all(
    (
      [
        [a, recorded.a],
        [b, recorded.b],
      ] as const
    ).map(([peer, events]) =>
      waitFor(`${peer.name} reconnected`, () => events.find((e) => e.event === 'reconnected'), {
        timeoutMs,
        diagnose,
      }),
    ),
  );
  for (const back of [aBack!, bBack!]) {
    assert.equal(back.payload.resumed, false, 'a rejoin, not a resume');
    assert.equal(back.payload.via, 'rejoin');
  }
  const aId = (await selfId(a))!;
  const bId = (await selfId(b))!;
  assert.notEqual(aId, old.aId);
  assert.notEqual(bId, old.bId);
  await waitFor(
    'the call re-established between the new ids',
    async () =>
      (await allConnected(a, 1)) &&
      (await allConnected(b, 1)) &&
      (await tiles(a))[0]?.peerId === bId &&
      (await tiles(b))[0]?.peerId === aId,
    { timeoutMs, diagnose },
  );
  return { aId, bId, aRejoinedAt: aBack!.at, bRejoinedAt: bBack!.at };
}

/** A role of a pair, which the protocol derives from the two (random) peer ids. */
export type PairRole = 'polite' | 'impolite' | 'iceRestartSide' | 'notIceRestartSide';

export function hasRole(role: PairRole, self: string, remote: string): boolean {
  switch (role) {
    case 'polite':
      return isPolite(self, remote);
    case 'impolite':
      return !isPolite(self, remote);
    case 'iceRestartSide':
      return iceRestartSide(self, remote) === self;
    case 'notIceRestartSide':
      return iceRestartSide(self, remote) !== self;
  }
}

/**
 * Opens two participants, `openFirst` then `openSecond` (the newcomer, which offers), until the
 * second has `role` towards the first. Peer ids are random and a pair's roles follow from them;
 * after a miss both leave (cleanly, so no ghost stays in the room) and both are opened again: a
 * fresh draw for both ids, 1 in 2 per try, however the ids fell before (reopening only one side
 * can take dozens of tries when the other's id sorts near an end).
 */
export async function openPairWithRole<A extends Participant, B extends Participant>(
  openFirst: () => Promise<A>,
  openSecond: () => Promise<B>,
  role: PairRole,
  { attempts = 16 }: { attempts?: number } = {},
): Promise<[A, B]> {
  for (let attempt = 1; ; attempt++) {
    const first = await openFirst();
    let second: B | undefined;
    try {
      second = await openSecond();
      const [firstId, secondId] = await Promise.all(
        [first, second].map((peer) =>
          waitFor(`${peer.name}'s peer id`, () => selfId(peer), { diagnose: () => peer.recentLogs() }),
        ),
      );
      if (hasRole(role, secondId, firstId)) return [first, second];
      if (attempt >= attempts) {
        throw new Error(
          `${second.name} did not get the role ${role} towards ${first.name} in ${attempts} tries`,
        );
      }
      for (const peer of [second, first]) await peer.evaluate(() => window.switchboard!.close());
    } catch (error) {
      await closeAll(second, first);
      throw error;
    }
    await closeAll(second, first);
  }
}
