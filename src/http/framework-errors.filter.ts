import { STATUS_CODES } from 'node:http';
import { ArgumentsHost, Catch, HttpException, HttpServer } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { bodyTooLarge, unsupportedMediaType } from './json-body';

/**
 * Nest's exception handling, plus the errors Fastify raises itself before any handler runs (a body
 * over the limit, a Content-Type header it cannot parse, a Content-Length that lies, a malformed
 * URL). Nest hands those over as `new HttpException(message, status)`, which its own filter would
 * answer with a bare {"statusCode","message"}; here they get the service's JSON error shape
 * {"statusCode","error","message"[,"field"]}. The service's own exceptions always carry an object.
 */
@Catch()
export class FrameworkErrorsFilter extends BaseExceptionFilter {
  constructor(
    httpAdapter: HttpServer,
    private readonly bodyLimitBytes: number,
  ) {
    super(httpAdapter);
  }

  override catch(exception: unknown, host: ArgumentsHost): void {
    const bare = exception instanceof HttpException && typeof exception.getResponse() === 'string';
    super.catch(bare ? this.withJsonShape(exception, host) : exception, host);
  }

  private withJsonShape(exception: HttpException, host: ArgumentsHost): HttpException {
    const status = exception.getStatus();
    if (status === 413) return bodyTooLarge(this.bodyLimitBytes);
    if (status === 415) return unsupportedMediaType(host.switchToHttp().getRequest<FastifyRequest>().headers['content-type']);
    return new HttpException({ statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: exception.getResponse() }, status);
  }
}
