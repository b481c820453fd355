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
} from './switchboard-client';
export { ConnectionState } from './connection-state';
export { SwitchboardError, ErrorReason, type CandidateErrorInfo } from './errors';
export {
  DefaultReconnectPolicy,
  DEFAULT_RECONNECT_DELAYS_MS,
  type ReconnectPolicy,
  type ReconnectContext,
  type DefaultReconnectPolicyOptions,
} from './reconnect-policy';
export type { IceRestartReason, PeerLinkDiagnostics } from './peer-link';
export { DATA_CHANNEL_LABEL } from './peer-link';
export { createConsoleLogger, type Logger, type LogLevel } from './logger';
export type { Listener } from './typed-emitter';
