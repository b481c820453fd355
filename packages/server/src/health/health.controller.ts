import { Controller, Get, HttpCode, HttpStatus, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { SignalingService } from '../webrtc/signaling.service';

@Controller()
export class HealthController {
  constructor(@Inject(SignalingService) private readonly core: SignalingService) {}

  /** Liveness: the process is up and serving HTTP. */
  @Get('health')
  @HttpCode(HttpStatus.OK)
  health(): { status: 'ok'; uptimeSeconds: number } {
    return { status: 'ok', uptimeSeconds: Math.round(process.uptime()) };
  }

  /** Readiness: 503 while draining for shutdown, so a load balancer stops sending new clients. */
  @Get('ready')
  ready(@Res({ passthrough: true }) res: Response): { status: 'ready' | 'draining' } {
    if (this.core.isDraining) {
      res.status(HttpStatus.SERVICE_UNAVAILABLE);
      return { status: 'draining' };
    }
    return { status: 'ready' };
  }
}
