import { Controller, Get, Header, Inject, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { NAMESPACE, type ClientConfigResponse, type IceServersResponse } from '@switchboard/protocol';
import type { Request } from 'express';
import { Authenticator } from '../auth/authenticator';
import { authenticatedUser, RequireToken } from '../auth/bearer-auth.guard';
import { IpRateLimit } from '../common/ip-rate-limit.guard';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { IceServerManagerService } from './services/ice-server-manager.service';

@ApiTags('webrtc')
@Controller('webrtc')
export class WebrtcController {
  constructor(
    @Inject(IceServerManagerService) private readonly iceServers: IceServerManagerService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(Authenticator) private readonly auth: Authenticator,
  ) {}

  /**
   * STUN/TURN servers for `RTCPeerConnection`; TURN credentials are minted per request, so requests are
   * limited per client IP (ICE_SERVERS_RATE_PER_IP): each answer is a relay grant someone pays for.
   * With authentication on, only for a bearer of a valid token, and the TURN username names its user.
   * The rate limit is checked before the token (decorators apply bottom-up): it costs less than a verification.
   */
  @Get('ice-servers')
  @ApiOperation({ summary: 'STUN/TURN servers with short-lived TURN REST credentials' })
  @ApiBearerAuth()
  @ApiResponse({ status: 200, description: '{ iceServers, expiresAt }' })
  @ApiResponse({ status: 401, description: 'Authentication on and no valid token' })
  @ApiResponse({ status: 429, description: 'ICE_SERVERS_RATE_PER_IP exceeded' })
  @Header('Cache-Control', 'no-store')
  @RequireToken()
  @IpRateLimit({ limit: 'ice_servers', perMinute: (c) => c.ICE_SERVERS_RATE_PER_IP })
  getIceServers(@Req() req: Request): IceServersResponse {
    return this.iceServers.getIceServers(authenticatedUser(req)?.sub);
  }

  /** Settings an SDK needs to match this server (reconnection, limits). */
  @Get('config')
  @ApiOperation({ summary: 'Settings an SDK matches (namespace, reconnection, limits, authRequired)' })
  @ApiResponse({ status: 200, description: 'ClientConfigResponse (docs/protocol.md)' })
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
      signalRate: { perSecond: c.SIGNAL_RATE_PER_SEC, burst: c.SIGNAL_BURST },
      authRequired: this.auth.required,
    };
  }
}
