import { LoggerService, LogLevel } from '@nestjs/common';
import type { Level, Logger } from 'pino';

/** Nest's level names -> pino's. */
const PINO_LEVEL: Record<LogLevel, Level> = { verbose: 'trace', debug: 'debug', log: 'info', warn: 'warn', error: 'error', fatal: 'fatal' };
const MOST_VERBOSE_FIRST: LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

/**
 * The app logger (createApp hands it to Nest): every `new Logger('Context')` in the code, Nest's
 * own messages and the kafkajs logs routed through it become JSON lines of the one pino logger,
 * with the context as `context`. It also honours Nest's `app.useLogger(['error', …])`: the pino
 * level becomes the most verbose level listed ('silent' for none), as Nest's console logger would filter.
 */
export class AppLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  setLogLevels(levels: LogLevel[]): void {
    const mostVerbose = MOST_VERBOSE_FIRST.find((level) => levels.includes(level));
    this.logger.level = mostVerbose ? PINO_LEVEL[mostVerbose] : 'silent';
  }

  /** Nest passes the context last: `(message, context)`, or `(message, stack, context)` for errors. */
  private write(level: Level, message: unknown, rest: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const params = rest.slice();
    if (params.length > 0) fields.context = params.pop();
    if (message instanceof Error) {
      this.logger[level]({ ...fields, err: message }, ...(params as []));
    } else if (typeof message === 'object' && message !== null) {
      this.logger[level]({ ...fields, ...message }, ...(params as []));
    } else if (level === 'error' && params.length === 1 && typeof params[0] === 'string' && /\n\s*at /.test(params[0])) {
      // Nest's exception handlers call error(message, stack, context): keep the stack as an error's.
      const err = new Error(String(message));
      err.stack = params[0];
      this.logger.error({ ...fields, err });
    } else {
      this.logger[level](fields, String(message), ...(params as []));
    }
  }
}
