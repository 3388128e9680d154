import { errorBody } from '../http/error-body';
import { ExecutionContext, HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail } from '@nestjs/throttler';

/** The 429 past the rate limit. */
export const rateLimited = (perMinute: number, retryInSeconds: number) =>
  errorBody(429, `rate limit of ${perMinute} requests per minute exceeded; retry in ${retryInSeconds} s`);

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
    return Promise.reject(new HttpException(rateLimited(detail.limit, detail.timeToBlockExpire), HttpStatus.TOO_MANY_REQUESTS));
  }
}
