import { INestApplication, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { apiTokenAuth } from './auth/api-token.middleware';
import { AppConfig } from './config/app-config';
import { AppModule } from './app.module';
import { setupApiDocs } from './docs/api-docs';
import { validationBadRequest } from './http/bad-request';
import { losslessJsonBody } from './http/json-body.middleware';
import { KafkaEventsServer } from './ingest/kafka-events.server';
import { AppLogger } from './logging/app-logger';
import { REQUEST_LOGGING } from './logging/logging.module';
import { httpMetrics } from './metrics/http-metrics.middleware';
import { MetricsService } from './metrics/metrics.service';

/** Largest HTTP body accepted: room for MAX_QUERY_USER_IDS ids of 20 digits with quotes and commas. */
const bodyLimitFor = (config: AppConfig) => Math.max(64 * 1024, config.MAX_QUERY_USER_IDS * 32);

/** TRUST_PROXY as Express wants it: a boolean, a hop count, or the proxies' addresses. */
const trustProxySetting = (value: string): boolean | number | string =>
  value === 'true' ? true : value === 'false' ? false : /^\d+$/.test(value) ? Number(value) : value;

/**
 * Builds the hybrid app: HTTP (guild states, health, metrics, API docs) and the Kafka consumer
 * (KafkaEventsServer -> sessions / voice controllers). Not yet listening.
 *
 * Every HTTP request passes, in order: request log + id, HTTP metrics, the API token check (when
 * API_TOKEN is set), the lossless JSON body parser, then the route (rate limit guard, validation).
 */
export async function createApp(config: AppConfig): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { bodyParser: false, bufferLogs: true });
  app.useLogger(app.get(AppLogger));
  app.disable('x-powered-by');
  if (config.TRUST_PROXY !== undefined) app.set('trust proxy', trustProxySetting(config.TRUST_PROXY));
  app.use(app.get(REQUEST_LOGGING));
  app.use(httpMetrics(app.get(MetricsService)));
  if (config.API_TOKEN) app.use(apiTokenAuth(config.API_TOKEN));
  app.use(losslessJsonBody(bodyLimitFor(config)));
  app.useGlobalPipes(
    new ValidationPipe({ transform: true, forbidUnknownValues: false, stopAtFirstError: true, exceptionFactory: validationBadRequest }),
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
