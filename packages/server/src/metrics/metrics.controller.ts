import {
  Controller,
  Get,
  Header,
  Inject,
  NotFoundException,
  Req,
  Res,
  UnauthorizedException,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { scrapeAuthorized, UNAUTHORIZED_BODY } from './metrics-server';
import { MetricsService } from './metrics.service';

@ApiTags('metrics')
@Controller()
export class MetricsController {
  constructor(
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Prometheus text exposition. 404 when metrics are off or served on METRICS_PORT instead; with
   * METRICS_TOKEN, 401 unless the request carries `Authorization: Bearer <token>`.
   */
  @Get('metrics')
  @ApiOperation({ summary: 'Prometheus text exposition (docs/operations.md, "Metrics")' })
  @ApiBearerAuth()
  @ApiResponse({ status: 200, description: 'text/plain; version=0.0.4' })
  @ApiResponse({ status: 401, description: 'METRICS_TOKEN set and not presented' })
  @ApiResponse({ status: 404, description: 'Metrics off, or served on METRICS_PORT' })
  @Header('Cache-Control', 'no-store')
  async scrape(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<string> {
    if (!this.config.METRICS_ENABLED || this.config.METRICS_PORT !== undefined) throw new NotFoundException();
    if (!scrapeAuthorized(req.headers.authorization, this.config.METRICS_TOKEN)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedException(UNAUTHORIZED_BODY);
    }
    res.type(this.metrics.registry.contentType);
    return this.metrics.registry.metrics();
  }
}
