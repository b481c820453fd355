import { Logger } from 'nestjs-pino';
import { existsSync } from 'node:fs';
import pino from 'pino';
import { createApp, type SwitchboardApp } from './bootstrap';
import { ConfigError, loadConfig, type AppConfig } from './config/config';

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config: AppConfig;
  let sb: SwitchboardApp;
  try {
    config = loadConfig(process.env);
    sb = await createApp(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const url = await sb.listen();
  const logger = sb.app.get(Logger);
  // Printed at info even when LOG_LEVEL is higher: operators and scripts look for this line.
  if (config.LOG_LEVEL !== 'silent')
    pino({ level: 'info' }).info({ context: 'Bootstrap', url }, `Switchboard listening on ${url}`);

  const stop = (signal: string) => {
    logger.log(`${signal} received: draining`, 'Bootstrap');
    // The drain has a hard bound: a stuck close must not keep a terminating pod alive.
    setTimeout(() => {
      logger.error(`shutdown took longer than ${config.SHUTDOWN_TIMEOUT_MS} ms; exiting`, 'Bootstrap');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS).unref();
    sb.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
