import { Controller, Get, HttpCode, HttpStatus, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { STORE_HEALTH, type StoreHealth } from '../common/store-health';
import { SignalingService } from '../webrtc/signaling.service';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    @Inject(SignalingService) private readonly core: SignalingService,
    @Inject(STORE_HEALTH) private readonly storeHealth: StoreHealth,
  ) {}

  /** Liveness: the process is up and serving HTTP. */
  @Get('health')
  @ApiOperation({ summary: 'Liveness' })
  @ApiResponse({ status: 200, description: '{ status: "ok", uptimeSeconds }' })
  @HttpCode(HttpStatus.OK)
  health(): { status: 'ok'; uptimeSeconds: number } {
    return { status: 'ok', uptimeSeconds: Math.round(process.uptime()) };
  }

  /**
   * Readiness: 503 while draining for shutdown, and while the shared state (Redis) is unreachable
   * (with the reason), so a load balancer stops sending new clients.
   */
  @Get('ready')
  @ApiOperation({ summary: 'Readiness (load balancers)' })
  @ApiResponse({ status: 200, description: '{ status: "ready" }' })
  @ApiResponse({ status: 503, description: '{ status: "draining" } or { status: "unavailable", reason }' })
  ready(@Res({ passthrough: true }) res: Response): {
    status: 'ready' | 'draining' | 'unavailable';
    reason?: string;
  } {
    if (this.core.isDraining) {
      res.status(HttpStatus.SERVICE_UNAVAILABLE);
      return { status: 'draining' };
    }
    const trouble = this.storeHealth.trouble();
    if (trouble) {
      res.status(HttpStatus.SERVICE_UNAVAILABLE);
      return { status: 'unavailable', reason: trouble };
    }
    return { status: 'ready' };
  }
}
