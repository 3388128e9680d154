import { createHash } from 'node:crypto';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { AppConfig } from '../config/app-config';
import { JsonThrottlerGuard } from './json-throttler.guard';

/**
 * Off unless RATE_LIMIT_PER_MINUTE > 0 (then not even the guard runs). When on: at most that many
 * requests per minute per route and client, per instance, counted in memory. The client is the API
 * token when API_TOKEN is set (every request that gets this far carries it: the token check runs
 * first), named by its SHA-256 so the token itself is never kept nor logged; otherwise the client IP
 * (behind a proxy set TRUST_PROXY so the IP is the caller's, not the proxy's). Health and metrics
 * are exempt (@SkipThrottle on their controllers).
 */
@Module({})
export class RateLimitModule {
  static forRoot(config: AppConfig): DynamicModule {
    if (config.RATE_LIMIT_PER_MINUTE === 0) return { module: RateLimitModule };
    const tokenKey = config.API_TOKEN ? `token:${createHash('sha256').update(config.API_TOKEN, 'utf8').digest('hex')}` : undefined;
    return {
      module: RateLimitModule,
      imports: [
        ThrottlerModule.forRoot({
          throttlers: [{ name: 'default', ttl: 60_000, limit: config.RATE_LIMIT_PER_MINUTE }],
          // Without a token, @nestjs/throttler's own tracker: the client IP (an IPv6 client by its /64).
          ...(tokenKey !== undefined && { getTracker: () => tokenKey }),
        }),
      ],
      providers: [{ provide: APP_GUARD, useClass: JsonThrottlerGuard }],
    };
  }
}
