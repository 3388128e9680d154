import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { startApp } from './app';
import { InvalidConfigError, loadConfig } from './config/app-config';

/**
 * The path of an event: KafkaEventsServer (ingest/) consumes -> BatchLoop takes a fetched batch
 * chunk by chunk -> BatchApplier decodes it -> the service EventRoutes names for its topic:
 * SessionsService / VoiceService.applyAll (the rules) -> StateStore (state-store/, Redis scripts).
 * The path of a query: GuildStatesController -> GuildStatesService -> StateStore.
 *
 * Stopping (SIGTERM / SIGINT): Nest's shutdown hooks (app.ts) close HTTP, then the consumer - it
 * stops fetching, lets the in-flight batches finish and commits their offsets - then Redis, and
 * exit 0. Anything not committed is redelivered to the next owner and applied idempotently.
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
  const logger = new Logger('Main');
  exitWithin(config.SHUTDOWN_TIMEOUT_MS, logger);
  await startApp(config);
  logger.log(
    `State server listening on port ${config.PORT}; consuming ${config.SESSION_EVENTS_TOPIC} and ${config.CHANNEL_EVENTS_TOPIC} from ${config.KAFKA_BROKERS.join(',')} as group ${config.KAFKA_GROUP_ID} (GET /health/ready says when it is ready, or why not)`,
  );
}

/**
 * Bounds a stop, even one that arrives while the app is still starting: exit 1 once `timeoutMs`
 * have passed since the first SIGTERM / SIGINT, or at once on a second one.
 */
function exitWithin(timeoutMs: number, logger: Logger): void {
  let signalsReceived = 0;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (++signalsReceived > 1) {
        logger.warn(`${signal} again: exiting without waiting for the shutdown to finish (uncommitted events will be redelivered)`);
        process.exit(1);
      }
      logger.log(`${signal}: stopping; finishing and committing in-flight batches (at most ${timeoutMs} ms)`);
      setTimeout(() => {
        logger.error(`Shutdown took longer than SHUTDOWN_TIMEOUT_MS=${timeoutMs} ms; exiting (uncommitted events will be redelivered)`);
        process.exit(1);
      }, timeoutMs).unref();
    });
  }
  process.once('exit', (code) => logger.log(`Stopped (exit code ${code})`));
}

main().catch((error) => {
  const { code, port } = error as NodeJS.ErrnoException & { port?: number };
  // A taken port is an operator's everyday mistake: one line that says what to change, no stack.
  const reason =
    code === 'EADDRINUSE'
      ? `port ${port} is already in use by another process (set PORT to a free one)`
      : ((error as Error).stack ?? String(error));
  process.stderr.write(`State server failed to start: ${reason}\n`);
  process.exit(1);
});
