import { createHash } from 'node:crypto';
import fastifyRateLimit, { normalizeIP, RateLimitPluginOptions } from '@fastify/rate-limit';
import { HttpException, HttpStatus } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config';
import { bearerToken } from '../auth/api-token.hook';
import { errorBody } from '../http/error-body';
import { isProbeOrScrape } from '../http/route-pattern';

/** The 429 past the rate limit. */
export const rateLimited = (perMinute: number, retryInSeconds: number) =>
  errorBody(429, `rate limit of ${perMinute} requests per minute exceeded; retry in ${retryInSeconds} s`);

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url');

/**
 * Whose budget a request spends: with API_TOKEN set, the token it carries (the token check runs
 * first, so it is one of API_TOKEN's), named by its SHA-256 so no token is kept as a key; otherwise
 * the client address (with TRUST_PROXY, the one the proxy forwards; an IPv6 client by its /64).
 * Each route has its own budget: a burst of one client's queries cannot starve its other calls.
 */
function budgetKey(tokensInUse: boolean): (request: FastifyRequest) => string {
  return (request) => {
    const token = tokensInUse ? bearerToken(request) : undefined;
    const client = token !== undefined ? `token:${sha256(token)}` : `ip:${normalizeIP(request.ip)}`;
    return `${client} ${request.routeOptions.url ?? ''}`;
  };
}

/**
 * Off unless RATE_LIMIT_PER_MINUTE > 0. When on: @fastify/rate-limit at onRequest, so a refused
 * request is answered 429 before its body is read; at most RATE_LIMIT_PER_MINUTE requests per
 * minute per client and route, per instance, counted in memory. Health probes and metric scrapes
 * are never limited. Must be registered before Nest adds its routes (the plugin hooks each route as
 * it is added); it runs after the API token check, as an app-wide onRequest hook runs before a
 * route's own.
 */
export async function registerRateLimit(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  const perMinute = config.RATE_LIMIT_PER_MINUTE;
  if (perMinute === 0) return;
  const options: RateLimitPluginOptions = {
    max: perMinute,
    timeWindow: 60_000,
    hook: 'onRequest',
    keyGenerator: budgetKey(config.API_TOKEN !== undefined),
    allowList: (request) => isProbeOrScrape(request.routeOptions.url ?? ''),
    // Thrown by the plugin into Nest's error handling (HttpErrorsFilter), which answers it as is.
    errorResponseBuilder: (_request, context) =>
      new HttpException(rateLimited(perMinute, Math.ceil(context.ttl / 1000)), HttpStatus.TOO_MANY_REQUESTS),
  };
  await app.register(fastifyRateLimit, options);
}
