import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyBaseLogger } from 'fastify';
import { apiTokenAuth } from './auth/api-token.hook';
import { AppConfig } from './config/app-config';
import { AppModule } from './app.module';
import { QueryValidationPipe } from './guild-states/query-validation.pipe';
import { setupApiDocs } from './docs/api-docs';
import { validationBadRequest } from './http/bad-request';
import { clientErrorHandler, MAX_PARAM_LENGTH, maxHeaderBytesFor, routingErrorHandler } from './http/client-errors';
import { HttpErrorsFilter } from './http/http-errors.filter';
import { httpMetrics } from './http/http-metrics.hook';
import { bodyLimitFor, registerLosslessJsonBody } from './http/json-body';
import { REQUEST_ID_HEADER, requestId } from './http/request-id';
import { parseQueryString } from './http/query-string';
import { recordRoutePatterns } from './http/route-pattern';
import { KafkaEventsServer } from './ingest/kafka-events.server';
import { AppLogger } from './logging/app-logger';
import { requestLogging } from './logging/request-logging';
import { MetricsService } from './metrics/metrics.service';
import { registerRateLimit } from './rate-limit/rate-limit';
import { rebuildingHeader } from './http/rebuilding-header';
import { StateRebuild } from './recovery/state-rebuild.service';

/** TRUST_PROXY as Fastify's trustProxy wants it: a boolean, a hop count, or the proxies' addresses. */
const trustProxySetting = (value: string): boolean | number | string =>
  value === 'true' ? true : value === 'false' ? false : /^\d+$/.test(value) ? Number(value) : value;

/**
 * Builds the hybrid app: HTTP on Fastify (guild states, health, metrics, API docs) and the Kafka
 * consumer (KafkaEventsServer -> EventRoutes -> sessions / voice services). Not yet listening.
 *
 * Every HTTP request passes, in order: Fastify's routing and request id; the x-request-id response
 * header and the API token check (onRequest, when API_TOKEN is set); the rate limit (the route's
 * onRequest, when RATE_LIMIT_PER_MINUTE is set: a refused request's body is never read); the
 * lossless JSON body parser; preHandlers given to routes as they are registered (the route pattern;
 * on the query routes, the X-State-Rebuilding header while a rebuild runs); then Nest: validation,
 * the handler. When the response is finished
 * it is counted in the HTTP metrics (onResponse) and, if HTTP_LOG picks it, logged (logController).
 */
export async function createApp(config: AppConfig): Promise<INestApplication> {
  const logging = requestLogging(config);
  const bodyLimit = bodyLimitFor(config);
  const maxHeaderBytes = maxHeaderBytesFor(config);
  const adapter = new FastifyAdapter({
    // Fastify logs through the one pino logger, its per-request lines as HTTP_LOG says, and makes
    // no child logger per request.
    loggerInstance: logging.logger,
    logController: logging.logController,
    childLoggerFactory: (logger: FastifyBaseLogger) => logger,
    genReqId: requestId,
    ...(config.TRUST_PROXY !== undefined && { trustProxy: trustProxySetting(config.TRUST_PROXY) }),
    bodyLimit,
    http: { maxHeaderSize: maxHeaderBytes },
    clientErrorHandler: clientErrorHandler(maxHeaderBytes, logging.logger),
    frameworkErrors: routingErrorHandler,
    // As Express routed: /guilds/1/states/ and /GUILDS/1/states are the same route, and an
    // over-long path parameter reaches its pipe (which names what is wrong with it).
    routerOptions: {
      ignoreTrailingSlash: true,
      caseSensitive: false,
      maxParamLength: MAX_PARAM_LENGTH,
      // Fastify's own parser's answers, faster on a query of many ids (see query-string.ts).
      querystringParser: parseQueryString,
    },
    // No Nest middleware is used (everything per request is a Fastify hook): no @fastify/middie pass per request.
    skipMiddie: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bodyParser: false,
    logger: new AppLogger(logging.logger),
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  if (config.API_TOKEN) fastify.addHook('onRequest', apiTokenAuth(config.API_TOKEN));
  await registerRateLimit(app, config);
  fastify.addHook('onRoute', recordRoutePatterns);
  fastify.addHook('onRoute', rebuildingHeader(app.get(StateRebuild)));
  fastify.addHook('onResponse', httpMetrics(app.get(MetricsService)));
  registerLosslessJsonBody(fastify, bodyLimit);
  app.useGlobalFilters(new HttpErrorsFilter(app.getHttpAdapter(), bodyLimit, app.get(MetricsService)));
  app.useGlobalPipes(
    new QueryValidationPipe({
      transform: true,
      forbidUnknownValues: false,
      stopAtFirstError: true,
      exceptionFactory: validationBadRequest,
    }),
  );
  setupApiDocs(app, config);
  app.connectMicroservice({ strategy: app.get(KafkaEventsServer) });
  // SIGTERM / SIGINT: close HTTP, then the consumer (finishes and commits in-flight batches), then
  // Redis (onApplicationShutdown), then exit 0. main.ts bounds how long that may take.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  return app;
}

/** Starts consuming, then serves HTTP. */
export async function startApp(config: AppConfig): Promise<INestApplication> {
  const app = await createApp(config);
  await app.startAllMicroservices();
  await app.listen(config.PORT, '0.0.0.0');
  return app;
}
