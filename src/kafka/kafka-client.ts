import { Logger } from '@nestjs/common';
import { Kafka, KafkaConfig, logLevel, SASLOptions } from 'kafkajs';
import { AppConfig } from '../config/app-config';

const REBALANCE = /rebalancing|rejoin is needed|not the correct coordinator|coordinator is (loading|not available)/i;
/** OffsetFetch of a group that never committed, on brokers that answer GROUP_ID_NOT_FOUND: "no offsets", handled by the caller. */
const NO_OFFSETS_YET = /^Response OffsetFetch\b.*"error":"The group id was not found"/;

/** kafkajs logs, routed into the app's logger; warnings and errors only (nothing per message). */
function logCreator() {
  const logger = new Logger('Kafka');
  return ({ level, log }: { level: logLevel; log: { message: string; [k: string]: unknown } }) => {
    const { message, timestamp: _t, logger: _l, ...extra } = log;
    const line = Object.keys(extra).length > 0 ? `${message} ${JSON.stringify(extra)}` : message;
    // A rebalance is routine (an instance joined or left): kafkajs reports it as an ERROR response.
    if ((typeof extra.error === 'string' && REBALANCE.test(extra.error)) || NO_OFFSETS_YET.test(line)) logger.debug(line);
    else if (level <= logLevel.ERROR) logger.error(line);
    else if (level === logLevel.WARN) logger.warn(line);
    else logger.debug(line);
  };
}

/**
 * A kafkajs client from the validated config, SASL/SSL included when configured. `probe`: a client
 * that logs nothing and retries only `retries` times, quickly, for one attempt to reach Kafka whose
 * caller reports the outcome itself.
 */
export function createKafka(config: AppConfig, probe?: { retries: number }): Kafka {
  const options: KafkaConfig = {
    clientId: config.KAFKA_CLIENT_ID,
    brokers: config.KAFKA_BROKERS,
    logLevel: probe ? logLevel.NOTHING : logLevel.WARN,
    logCreator,
    ssl: config.KAFKA_SSL,
    ...(probe ? { retry: { retries: probe.retries, initialRetryTime: 100, maxRetryTime: 500 } } : {}),
  };
  if (config.KAFKA_SASL_MECHANISM) {
    options.sasl = {
      mechanism: config.KAFKA_SASL_MECHANISM,
      username: config.KAFKA_SASL_USERNAME!,
      password: config.KAFKA_SASL_PASSWORD!,
    } as SASLOptions;
  }
  return new Kafka(options);
}
