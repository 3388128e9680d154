import { INestApplication, ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppConfig } from './config/app-config';
import { AppModule } from './app.module';
import { validationBadRequest } from './http/bad-request';
import { losslessJsonBody } from './http/json-body.middleware';
import { KafkaEventsServer } from './ingest/kafka-events.server';

/** Largest HTTP body accepted: room for MAX_QUERY_USER_IDS ids of 20 digits with quotes and commas. */
const bodyLimitFor = (config: AppConfig) => Math.max(64 * 1024, config.MAX_QUERY_USER_IDS * 32);

/**
 * Builds the hybrid app: HTTP (guild states, health, metrics) and the Kafka consumer
 * (KafkaEventsServer -> sessions / voice controllers). Not yet listening.
 */
export async function createApp(config: AppConfig): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config), { bodyParser: false, bufferLogs: true });
  app.use(losslessJsonBody(bodyLimitFor(config)));
  app.useGlobalPipes(
    new ValidationPipe({ transform: true, forbidUnknownValues: false, stopAtFirstError: true, exceptionFactory: validationBadRequest }),
  );
  app.connectMicroservice({ strategy: app.get(KafkaEventsServer) });
  app.enableShutdownHooks();
  return app;
}

/** Starts consuming, then serves HTTP. */
export async function startApp(config: AppConfig): Promise<INestApplication> {
  const app = await createApp(config);
  await app.startAllMicroservices();
  await app.listen(config.PORT, '0.0.0.0');
  return app;
}
