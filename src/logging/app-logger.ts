import { Injectable, LogLevel } from '@nestjs/common';
import { Logger } from 'nestjs-pino';

/** Nest's level names -> pino's. */
const PINO_LEVEL: Record<LogLevel, string> = { verbose: 'trace', debug: 'debug', log: 'info', warn: 'warn', error: 'error', fatal: 'fatal' };
const MOST_VERBOSE_FIRST: LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

/**
 * nestjs-pino's Logger (the app logger: every `new Logger('Context')` writes through it), which
 * also honours Nest's `app.useLogger(['error', …])`: the pino level becomes the most verbose level
 * listed ('silent' for none), as Nest's own console logger would filter.
 */
@Injectable()
export class AppLogger extends Logger {
  setLogLevels(levels: LogLevel[]): void {
    const mostVerbose = MOST_VERBOSE_FIRST.find((level) => levels.includes(level));
    this.logger.logger.level = mostVerbose ? PINO_LEVEL[mostVerbose] : 'silent';
  }
}
