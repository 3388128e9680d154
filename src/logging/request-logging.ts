import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import { stdTimeFunctions } from 'pino';
import { HttpLogger, Options, pinoHttp } from 'pino-http';
import { AppConfig } from '../config/app-config';
import { PROBE_OR_SCRAPE_PATH, routePattern } from '../http/route-pattern';
import { scrubbingStdout, secretsOf } from './secret-scrubber';

export const REQUEST_ID_HEADER = 'x-request-id';
/** An incoming request id is kept only if it is this tame: it is echoed in a header and written to the logs. */
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Honours the caller's x-request-id when it is sane, else makes one; either way it goes back in the response. */
function requestId(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  const id = typeof incoming === 'string' && ACCEPTED_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/**
 * The request-logging middleware, whose `.logger` is the process's one pino logger (JSON lines on
 * stdout, level from LOG_LEVEL, secrets redacted; created here so that it is the pino version
 * pino-http was built for).
 *
 * One line per HTTP request, when its response is finished: request id, method, URL, route
 * pattern, status and time taken. Logs written while serving the request carry its `reqId`.
 * Level: error for a 5xx other than 503 (a dependency outage is reported once, by the Redis
 * client, not per request), debug for successful probes and scrapes, info otherwise.
 */
export function requestLogging(config: AppConfig): HttpLogger & RequestHandler {
  const options: Options = {
    name: 'state-server',
    level: config.LOG_LEVEL,
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ['req.headers.authorization', 'req.headers["proxy-authorization"]', 'req.headers.cookie', 'res.headers["set-cookie"]'],
      censor: '[REDACTED]',
    },
    genReqId: requestId,
    quietReqLogger: true,
    customLogLevel: (_req, res, error) => {
      if (error || (res.statusCode >= 500 && res.statusCode !== 503)) return 'error';
      if (res.statusCode < 400 && PROBE_OR_SCRAPE_PATH.test(_req.url ?? '')) return 'debug';
      return 'info';
    },
    customProps: (req) => ((req as Request).route ? { route: routePattern(req as Request) } : {}),
    customSuccessMessage: (req, res) => `${req.method} ${req.url} ${res.statusCode}`,
    customErrorMessage: (req, res) => `${req.method} ${req.url} ${res.statusCode}`,
    serializers: {
      req: (req: { id: unknown; method: string; url: string; remoteAddress?: string; headers: Record<string, unknown> }) => ({
        id: req.id,
        method: req.method,
        url: req.url,
        remoteAddress: req.remoteAddress,
        userAgent: req.headers['user-agent'],
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
  return pinoHttp(options, scrubbingStdout(secretsOf(config))) as HttpLogger & RequestHandler;
}
