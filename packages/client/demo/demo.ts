// The demo page served at `/`: `/?room=NAME[&name=Ada][&token=JWT][&relay=1][&debug=1]`. It uses only
// the SDK's public API (loaded from ./switchboard.js, as any page would).
import { SwitchboardClient, type ConnectionState, type SwitchboardError } from '@switchboard/client';

declare global {
  interface Window {
    /** The demo's client, for automated tests that read stats. */
    switchboard?: SwitchboardClient;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const params = new URLSearchParams(location.search);
const room = params.get('room')?.trim() ?? '';
const displayName = params.get('name')?.trim() || undefined;
const relayOnly = params.get('relay') === '1';
const debug = params.get('debug') === '1';
const TOKEN_KEY = 'switchboard.token';
const token = takeToken();

if (room) void startCall(room);
else showJoinForm();

/**
 * The access token from `?token=`, for servers with authentication on. It is moved out of the
 * address bar (into this tab's sessionStorage, so that a reload or "Rejoin" still has it): the
 * address is what people share to invite others, and each of them needs a token of their own.
 */
function takeToken(): string | undefined {
  const fromUrl = params.get('token')?.trim();
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    const visible = new URLSearchParams(params);
    visible.delete('token');
    const query = visible.toString();
    history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  }
  return fromUrl || sessionStorage.getItem(TOKEN_KEY) || undefined;
}

function showJoinForm(): void {
  $('join').hidden = false;
  const roomInput = $<HTMLInputElement>('join-room');
  roomInput.value = `room-${Math.random().toString(36).slice(2, 7)}`;
  $<HTMLInputElement>('join-name').value = localStorage.getItem('switchboard.name') ?? '';
  const tokenInput = $<HTMLInputElement>('join-token');
  tokenInput.value = token ?? '';
  void fetch('webrtc/config')
    .then((response) => (response.ok ? response.json() : {}))
    .then((config: { authRequired?: boolean }) => {
      // Only servers with authentication on ask for a token.
      if (!config.authRequired) return;
      $('join-token-label').hidden = false;
      tokenInput.required = true;
    })
    .catch(() => undefined);
  $<HTMLFormElement>('join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = $<HTMLInputElement>('join-name').value.trim();
    localStorage.setItem('switchboard.name', name);
    const next = new URLSearchParams({ room: roomInput.value.trim() });
    if (name) next.set('name', name);
    const newToken = tokenInput.value.trim();
    if (newToken) next.set('token', newToken);
    location.search = next.toString();
  });
}

async function getLocalMedia(): Promise<MediaStream | null> {
  const attempts: MediaStreamConstraints[] = [
    { audio: true, video: { width: { ideal: 640 }, height: { ideal: 360 } } },
    { audio: true, video: false },
    { audio: false, video: true },
  ];
  for (const constraints of attempts) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch {
      // try with less
    }
  }
  notice('No camera or microphone available: you can watch and listen only.', 'error');
  return null;
}

async function startCall(roomId: string): Promise<void> {
  document.title = `${roomId} · Switchboard`;
  $('room-label').textContent = roomId;
  $('room-label').hidden = false;
  $('status').hidden = false;
  $('call').hidden = false;
  $('controls').hidden = false;
  $('local-name').textContent = displayName ? `${displayName} (you)` : 'You';

  const localStream = await getLocalMedia();
  const localVideo = $<HTMLVideoElement>('local-video');
  localVideo.srcObject = localStream;

  const client = new SwitchboardClient({
    room: roomId,
    displayName,
    localStream,
    iceTransportPolicy: relayOnly ? 'relay' : 'all',
    logLevel: debug ? 'debug' : 'info',
    token,
  });
  window.switchboard = client;

  client.on('stateChange', ({ state }) => showState(state));
  client.on('peerJoined', (peer) => {
    const tile = tileFor(peer.peerId, peer.displayName || peer.userId || `Guest ${peer.peerId.slice(0, 4)}`);
    if (peer.userId !== undefined) {
      tile.dataset.userId = peer.userId;
      tile.title = `user ${peer.userId}`;
    }
    updateEmpty();
  });
  client.on('peerLeft', ({ peerId }) => {
    document.querySelector(`[data-testid="peer-tile"][data-peer-id="${CSS.escape(peerId)}"]`)?.remove();
    updateEmpty();
  });
  client.on('remoteStream', ({ peerId, stream }) => {
    const tile = tileFor(peerId);
    const video = tile.querySelector('video') as HTMLVideoElement;
    if (video.srcObject !== stream) video.srcObject = stream;
    void playWithSound(video, tile);
  });
  client.on('connectionStateChange', ({ peerId, connectionState }) => {
    const tile = tileFor(peerId);
    tile.dataset.connectionState = connectionState;
    (tile.querySelector('.state') as HTMLElement).textContent = connectionState;
  });
  client.on('reconnecting', ({ attempt }) => {
    if (attempt === 1) notice('Connection to the server lost; reconnecting… (calls stay up)');
  });
  client.on('reconnected', ({ resumed }) =>
    notice(resumed ? 'Reconnected to the server.' : 'Reconnected: the room was joined again.'),
  );
  client.on('error', (error) => showError(error, roomId));
  let leaving = false;
  client.on('closed', () => {
    // The server ended the session (the Leave button shows its own screen).
    if (leaving) return;
    localStream?.getTracks().forEach((track) => track.stop());
    $('call').hidden = true;
    $('controls').hidden = true;
    $('left').hidden = false;
    $('left-title').textContent = 'The call ended';
  });

  $('mute').addEventListener('click', (event) => {
    const button = event.currentTarget as HTMLButtonElement;
    const muted = button.getAttribute('aria-pressed') !== 'true';
    if (!client.setTrackEnabled('audio', !muted)) return notice('No microphone to mute.');
    button.setAttribute('aria-pressed', String(muted));
    button.textContent = muted ? 'Unmute' : 'Mute';
  });
  $('camera').addEventListener('click', (event) => {
    const button = event.currentTarget as HTMLButtonElement;
    const off = button.getAttribute('aria-pressed') !== 'true';
    if (!client.setTrackEnabled('video', !off)) return notice('No camera to turn off.');
    button.setAttribute('aria-pressed', String(off));
    button.textContent = off ? 'Start video' : 'Stop video';
  });
  $('leave').addEventListener('click', async () => {
    leaving = true;
    await client.close();
    localStream?.getTracks().forEach((track) => track.stop());
    $('call').hidden = true;
    $('controls').hidden = true;
    $('left').hidden = false;
  });
  $('rejoin').addEventListener('click', () => location.reload());

  try {
    await client.connect();
  } catch {
    // Reported through the error event.
  }
}

function tileFor(peerId: string, name?: string): HTMLElement {
  let tile = document.querySelector<HTMLElement>(
    `[data-testid="peer-tile"][data-peer-id="${CSS.escape(peerId)}"]`,
  );
  if (!tile) {
    const template = $<HTMLTemplateElement>('peer-tile-template');
    tile = (template.content.firstElementChild as HTMLElement).cloneNode(true) as HTMLElement;
    tile.dataset.peerId = peerId;
    (tile.querySelector('.name') as HTMLElement).textContent = name ?? `Guest ${peerId.slice(0, 4)}`;
    $('grid').append(tile);
  } else if (name) {
    (tile.querySelector('.name') as HTMLElement).textContent = name;
  }
  return tile;
}

async function playWithSound(video: HTMLVideoElement, tile: HTMLElement): Promise<void> {
  try {
    await video.play();
  } catch {
    // Autoplay with sound needs a user gesture: play muted and offer a button.
    video.muted = true;
    await video.play().catch(() => undefined);
    const button = tile.querySelector('.unmute') as HTMLButtonElement;
    button.hidden = false;
    button.onclick = () => {
      video.muted = false;
      button.hidden = true;
    };
  }
}

function updateEmpty(): void {
  $('empty').hidden = document.querySelector('[data-testid="peer-tile"]') !== null;
}

function showState(state: ConnectionState): void {
  const status = $('status');
  status.dataset.state = state;
  status.textContent = state;
}

const MINT_HINT = 'A developer can mint one with: npm run token -- --sub NAME --room ROOM';

/** What to tell the person when the server refuses them; `null` for errors shown as the SDK words them. */
function explain(error: SwitchboardError, roomId: string): string | null {
  switch (error.code) {
    case 'UNAUTHORIZED':
      return token
        ? `The server did not accept your access token (it is invalid or has expired). Open the page with a new ?token=… ${MINT_HINT}`
        : `This server requires an access token. Open the page with ?token=… added to its address. ${MINT_HINT}`;
    case 'FORBIDDEN':
      return error.reason === 'join-rejected'
        ? `Your access token does not let you join the room "${roomId}". Ask for a token for this room.`
        : 'The renewed access token was refused: it is another user’s, or no longer grants this room.';
    case 'TOKEN_EXPIRED':
      return 'Your access token expired, so the server ended the call. Reload the page with a new ?token=….';
    case 'SESSION_REPLACED':
      return 'You joined this call from another tab or device, so this page left it.';
    default:
      return null;
  }
}

function showError(error: SwitchboardError, roomId: string): void {
  const text = explain(error, roomId);
  // Refusals stay on screen: nothing else will happen until the person acts.
  const item = notice(text ?? error.message, 'error', text === null);
  item.dataset.errorReason = error.reason;
  if (error.code) item.dataset.errorCode = error.code;
  if (error.peerId) item.dataset.peerId = error.peerId;
  if (text !== null) $('left-detail').textContent = text;
  // A refused or expired token is of no further use (the join form would offer it again).
  if (error.code === 'UNAUTHORIZED' || error.code === 'TOKEN_EXPIRED') sessionStorage.removeItem(TOKEN_KEY);
}

function notice(text: string, kind: 'info' | 'error' = 'info', expires = true): HTMLLIElement {
  const item = document.createElement('li');
  item.dataset.testid = 'notice';
  item.className = kind;
  item.textContent = text;
  $('notices').append(item);
  // Kept in the DOM (hidden) so the page's history stays inspectable.
  if (expires) setTimeout(() => item.classList.add('expired'), kind === 'error' ? 10_000 : 5_000);
  return item;
}
