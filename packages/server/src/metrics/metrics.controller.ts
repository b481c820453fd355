import { Controller, Get, Header, Inject, NotFoundException, Res } from '@nestjs/common';
import type { Response } from 'express';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { MetricsService } from './metrics.service';

@Controller()
export class MetricsController {
  constructor(
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Prometheus text exposition. */
  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async scrape(@Res({ passthrough: true }) res: Response): Promise<string> {
    if (!this.config.METRICS_ENABLED) throw new NotFoundException();
    res.type(this.metrics.registry.contentType);
    return this.metrics.registry.metrics();
  }
}
