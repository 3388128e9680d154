import { FastifyReply, FastifyRequest, LogController } from 'fastify';
import { Level, Logger, pino, stdTimeFunctions } from 'pino';
import { AppConfig } from '../config/app-config';
import { isProbeOrScrape, routeOf } from '../http/route-pattern';
import { scrubbingStdout, secretsOf } from './secret-scrubber';

/** The level of a request's line, or undefined for none (see HTTP_LOG in app-config.ts). */
export function requestLogLevel(
  mode: AppConfig['HTTP_LOG'],
  slowMs: number,
  statusCode: number,
  elapsedMs: number,
  probeOrScrape: boolean,
): Level | undefined {
  if (mode === 'off') return undefined;
  // A dependency outage (503) is reported once, by the Redis client, not per request.
  if (statusCode >= 500 && statusCode !== 503) return 'error';
  const ok = statusCode >= 200 && statusCode < 300;
  if (mode === 'all') return ok && probeOrScrape ? 'debug' : 'info';
  return !ok || elapsedMs > slowMs ? 'info' : 'debug';
}

/**
 * Fastify's per-request logging, replaced: it writes no "incoming request" line, and when a
 * response is finished, one line for the requests HTTP_LOG picks: request id, method, URL, route
 * pattern, status and time taken. It costs next to nothing for the others: the level is decided
 * from the status and the elapsed time first, and no object is built for a level that is off. (No
 * child logger is made per request either: see childLoggerFactory in app.ts.) Fastify's other
 * internal lines (stream errors and the like) are kept.
 */
export class RequestLogController extends LogController {
  constructor(
    private readonly logger: Logger,
    private readonly mode: AppConfig['HTTP_LOG'],
    private readonly slowMs: number,
  ) {
    super({ disableRequestLogging: false });
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const statusCode = reply.statusCode;
    const elapsedMs = reply.elapsedTime;
    const route = routeOf(request);
    const level = error
      ? 'error'
      : requestLogLevel(this.mode, this.slowMs, statusCode, elapsedMs, route !== undefined && isProbeOrScrape(route));
    if (level === undefined || !this.logger.isLevelEnabled(level)) return;
    const { method, url } = request.raw;
    this.logger[level](
      {
        reqId: request.id,
        req: { method, url, remoteAddress: request.ip, userAgent: request.headers['user-agent'] },
        ...(route !== undefined && { route }),
        res: { statusCode },
        responseTime: Math.round(elapsedMs * 1000) / 1000,
        ...(error && { err: error }),
      },
      `${method} ${url} ${statusCode}`,
    );
  }
}

export interface RequestLogging {
  /** The process's one pino logger: JSON lines on stdout, level from LOG_LEVEL, secrets scrubbed. */
  logger: Logger;
  /** Fastify's logController option: the per-request lines. */
  logController: RequestLogController;
}

/** The logger of the process and the per-request lines written through it. */
export function requestLogging(config: AppConfig): RequestLogging {
  const logger = pino(
    {
      name: 'state-server',
      level: config.LOG_LEVEL,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Request headers are never logged; should a line carry some anyway, these stay out.
      redact: {
        paths: ['req.headers.authorization', 'req.headers["proxy-authorization"]', 'req.headers.cookie', 'res.headers["set-cookie"]'],
        censor: '[REDACTED]',
      },
    },
    scrubbingStdout(secretsOf(config)),
  );
  return { logger, logController: new RequestLogController(logger, config.HTTP_LOG, config.HTTP_SLOW_MS) };
}
