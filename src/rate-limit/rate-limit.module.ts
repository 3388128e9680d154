import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { AppConfig } from '../config/app-config';
import { JsonThrottlerGuard } from './json-throttler.guard';

/**
 * At most RATE_LIMIT_PER_MINUTE requests per client (its IP; behind a proxy set TRUST_PROXY so the
 * IP is the caller's, not the proxy's) per instance, counted in memory. Health and metrics are
 * exempt (@SkipThrottle on their controllers).
 */
@Module({})
export class RateLimitModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: RateLimitModule,
      imports: [ThrottlerModule.forRoot({ throttlers: [{ name: 'default', ttl: 60_000, limit: config.RATE_LIMIT_PER_MINUTE }] })],
      providers: [{ provide: APP_GUARD, useClass: JsonThrottlerGuard }],
    };
  }
}
