import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { startApp } from './app';
import { InvalidConfigError, loadConfig } from './config/app-config';

/**
 * The path of an event: KafkaEventsServer (ingest/) decodes a batch -> SessionsController /
 * VoiceController -> SessionsService / VoiceService (the rules) -> StateStore (state-store/, Redis
 * scripts). The path of a query: GuildStatesController -> GuildStatesService -> StateStore.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof InvalidConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const app = await startApp(config);
  const logger = new Logger('Main');
  logger.log(`State server listening on port ${config.PORT}; consuming ${config.SESSION_EVENTS_TOPIC} and ${config.CHANNEL_EVENTS_TOPIC} from ${config.KAFKA_BROKERS.join(',')} as group ${config.KAFKA_GROUP_ID}`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        logger.error(`Shutdown took longer than ${config.SHUTDOWN_TIMEOUT_MS} ms; exiting`);
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS).unref();
    });
  }
  void app;
}

main().catch((error) => {
  process.stderr.write(`State server failed to start: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
