/**
 * Switchboard browser SDK.
 * @example
 * import { SwitchboardClient } from '@switchboard/client';
 * const client = new SwitchboardClient({ room: 'demo', localStream });
 * client.on('remoteStream', ({ peerId, stream }) => attach(peerId, stream));
 * await client.connect();
 */
export {
  SwitchboardClient,
  type SwitchboardClientOptions,
  type SwitchboardEvents,
  type RemotePeer,
  type PeerSnapshot,
  type PeerLeaveReason,
  type JoinResult,
  type SelectedCandidatePair,
  type CandidateSummary,
} from './switchboard-client.js';
export { ConnectionState } from './connection-state.js';
export {
  SwitchboardError,
  ErrorReason,
  type CandidateErrorInfo,
  type SwitchboardErrorCode,
} from './errors.js';
export {
  DefaultReconnectPolicy,
  DEFAULT_RECONNECT_DELAYS_MS,
  type ReconnectPolicy,
  type ReconnectContext,
  type DefaultReconnectPolicyOptions,
} from './reconnect-policy.js';
export type { IceRestartReason, PeerLinkDiagnostics } from './peer-link.js';
export { DATA_CHANNEL_LABEL } from './peer-link.js';
export { createConsoleLogger, type Logger, type LogLevel } from './logger.js';
export type { Listener } from './typed-emitter.js';
