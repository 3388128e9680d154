import { errorBody } from '../http/error-body';
import { ExecutionContext, HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail } from '@nestjs/throttler';

/**
 * @nestjs/throttler's guard, answering in the service's error shape:
 * {"statusCode":429,"error":"Too Many Requests","message":"…"}. HTTP only: Kafka batches are never
 * throttled, whatever Nest does with global guards in a hybrid app.
 */
@Injectable()
export class JsonThrottlerGuard extends ThrottlerGuard {
  protected override shouldSkip(context: ExecutionContext): Promise<boolean> {
    return Promise.resolve(context.getType() !== 'http');
  }

  protected override throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const message = `rate limit of ${detail.limit} requests per minute exceeded; retry in ${detail.timeToBlockExpire} s`;
    return Promise.reject(new HttpException(errorBody(HttpStatus.TOO_MANY_REQUESTS, message), HttpStatus.TOO_MANY_REQUESTS));
  }
}
