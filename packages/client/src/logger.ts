/** Severity of a log line; `silent` turns logging off. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Where the SDK writes its diagnostics. Any `console`-like object fits. */
export interface Logger {
  debug(message: string, ...details: unknown[]): void;
  info(message: string, ...details: unknown[]): void;
  warn(message: string, ...details: unknown[]): void;
  error(message: string, ...details: unknown[]): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A logger that writes to `console` at or above `level`, each line prefixed with `prefix`. */
export function createConsoleLogger(level: LogLevel = 'warn', prefix = '[switchboard]'): Logger {
  const at = (lineLevel: Exclude<LogLevel, 'silent'>) =>
    RANK[lineLevel] >= RANK[level]
      ? (message: string, ...details: unknown[]) => console[lineLevel](`${prefix} ${message}`, ...details)
      : () => undefined;
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
