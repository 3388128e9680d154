import { ArgumentsHost, Catch, RpcExceptionFilter } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';

/**
 * Nest's default RPC filter logs every error and replaces it with "Internal server error". The
 * ingest loop needs the original error to tell "Redis is down, retry" from anything else, and it
 * logs once per outage itself, so event controllers hand errors through unchanged.
 */
@Catch()
export class RethrowRpcExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
