import { pino, type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type { Logger };

/** One JSON logger for the process; components take a child logger, never a global. */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { service: 'lazurite' } });
}
