import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Root logger. Components take a child: `log.child({ c: 'edge.uplink', site })`.
 * LOG_LEVEL sets the level (default info; tests default to warn to keep output readable).
 */
export function createLogger(name = 'cityedge'): Logger {
  const level = process.env.LOG_LEVEL ?? (process.env.VITEST ? 'warn' : 'info');
  return pino({ name, level, redact: ['password', '*.password', 'token', '*.token'] });
}

export const rootLogger: Logger = createLogger();
