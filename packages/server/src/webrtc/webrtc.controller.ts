import { Controller, Get, Header, Inject } from '@nestjs/common';
import { NAMESPACE, type ClientConfigResponse, type IceServersResponse } from '@switchboard/protocol';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { IceServerManagerService } from './services/ice-server-manager.service';

@Controller('webrtc')
export class WebrtcController {
  constructor(
    @Inject(IceServerManagerService) private readonly iceServers: IceServerManagerService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** STUN/TURN servers for `RTCPeerConnection`; TURN credentials are minted per request. */
  @Get('ice-servers')
  @Header('Cache-Control', 'no-store')
  getIceServers(): IceServersResponse {
    return this.iceServers.getIceServers();
  }

  /** Settings an SDK needs to match this server (reconnection, limits). */
  @Get('config')
  getClientConfig(): ClientConfigResponse {
    const c = this.config;
    return {
      namespace: NAMESPACE,
      reconnectionDelay: c.RECONNECTION_DELAY,
      reconnectionDelayMax: c.RECONNECTION_DELAY_MAX,
      pingInterval: c.PING_INTERVAL,
      pingTimeout: c.PING_TIMEOUT,
      resumeWindowMs: c.RESUME_WINDOW_MS,
      maxSdpBytes: c.MAX_SDP_BYTES,
      maxPeersPerRoom: c.MAX_PEERS_PER_ROOM,
    };
  }
}
