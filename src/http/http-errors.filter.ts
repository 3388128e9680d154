import { ArgumentsHost, Catch, HttpException, HttpServer } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { MetricsService } from '../metrics/metrics.service';
import { StateStoreUnavailableError } from '../state-store/state-store';
import { errorBody } from './error-body';
import { bodyTooLarge, unsupportedMediaType } from './json-body';

/**
 * The one place that turns an error into an HTTP answer in the service's JSON error shape
 * (error-body.ts):
 * - Redis unreachable (or slower than REDIS_COMMAND_TIMEOUT_MS) on any route: 503, counted in
 *   state_server_redis_errors_total{operation="query"};
 * - errors Fastify raises itself before any handler runs (a body over the limit, a Content-Type it
 *   cannot parse, a Content-Length that lies, a malformed URL): Nest hands those over as
 *   `new HttpException(message, status)`, which its own filter would answer with a bare
 *   {"statusCode","message"};
 * - the service's own HttpExceptions (they already carry an ErrorBody) and anything else: Nest's.
 */
/** The 503 of a request that needed Redis while it was unreachable (or too slow). */
export const redisUnavailable = () => errorBody(503, 'state store (Redis) is unreachable; retry shortly');

@Catch()
export class HttpErrorsFilter extends BaseExceptionFilter {
  constructor(
    httpAdapter: HttpServer,
    private readonly bodyLimitBytes: number,
    private readonly metrics: MetricsService,
  ) {
    super(httpAdapter);
  }

  override catch(exception: unknown, host: ArgumentsHost): void {
    if (exception instanceof StateStoreUnavailableError) {
      this.metrics.redisErrors.inc({ operation: 'query' });
      super.catch(new HttpException(redisUnavailable(), 503), host);
      return;
    }
    const bare = exception instanceof HttpException && typeof exception.getResponse() === 'string';
    super.catch(bare ? this.withJsonShape(exception, host) : exception, host);
  }

  private withJsonShape(exception: HttpException, host: ArgumentsHost): HttpException {
    const status = exception.getStatus();
    if (status === 413) return bodyTooLarge(this.bodyLimitBytes);
    if (status === 415) return unsupportedMediaType(host.switchToHttp().getRequest<FastifyRequest>().headers['content-type']);
    return new HttpException(errorBody(status, exception.getResponse() as string), status);
  }
}
