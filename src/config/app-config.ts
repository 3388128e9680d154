import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  validateSync,
} from 'class-validator';

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
const toBool = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  return value;
};
const toList = ({ value }: { value: unknown }) =>
  typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;

/**
 * Every setting of the service, read once from the environment at start-up.
 * Property names are the environment variable names so a validation error names the variable.
 * Nothing else in the code reads process.env.
 */
export class AppConfig {
  @Transform(toInt) @IsInt() @Min(0) @Max(65535)
  PORT = 3000;

  @Transform(toList) @Matches(/^[^\s:,]+:\d{1,5}$/, { each: true, message: 'KAFKA_BROKERS must be a comma-separated list of host:port' })
  KAFKA_BROKERS: string[] = ['localhost:9092'];

  @IsString() @IsNotEmpty()
  KAFKA_GROUP_ID = 'state-server';

  @IsString() @IsNotEmpty()
  KAFKA_CLIENT_ID = 'state-server';

  /** Where a consumer group with no committed offset starts: true replays the retained history (safe: apply is idempotent). */
  @Transform(toBool) @IsBoolean()
  KAFKA_FROM_BEGINNING = true;

  /** How many partitions are applied at the same time (per-partition order is always kept). */
  @Transform(toInt) @IsInt() @Min(1) @Max(256)
  KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY = 4;

  @Transform(toInt) @IsInt() @Min(3000) @Max(300000)
  KAFKA_SESSION_TIMEOUT_MS = 30000;

  @Transform(toInt) @IsInt() @Min(100) @Max(60000)
  KAFKA_HEARTBEAT_INTERVAL_MS = 3000;

  @IsOptional() @IsIn(['plain', 'scram-sha-256', 'scram-sha-512'])
  KAFKA_SASL_MECHANISM?: 'plain' | 'scram-sha-256' | 'scram-sha-512';

  @IsOptional() @IsString()
  KAFKA_SASL_USERNAME?: string;

  @IsOptional() @IsString()
  KAFKA_SASL_PASSWORD?: string;

  @Transform(toBool) @IsBoolean()
  KAFKA_SSL = false;

  @Matches(/^rediss?:\/\//, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL = 'redis://localhost:6379';

  /** A Redis command (or pipeline) that takes longer than this fails, so HTTP answers 503 instead of hanging. */
  @Transform(toInt) @IsInt() @Min(50) @Max(60000)
  REDIS_COMMAND_TIMEOUT_MS = 2000;

  @IsString() @Matches(/^[A-Za-z0-9._-]{1,249}$/, { message: 'SESSION_EVENTS_TOPIC must be a valid Kafka topic name' })
  SESSION_EVENTS_TOPIC = 'sessionEvent';

  @IsString() @Matches(/^[A-Za-z0-9._-]{1,249}$/, { message: 'CHANNEL_EVENTS_TOPIC must be a valid Kafka topic name' })
  CHANNEL_EVENTS_TOPIC = 'channelEvent';

  /** Dead letters of topic T go to T + this suffix (Spring Kafka's convention). */
  @IsString() @Matches(/^[A-Za-z0-9._-]{1,40}$/, { message: 'DEAD_LETTER_TOPIC_SUFFIX must be made of letters, digits, . _ -' })
  DEAD_LETTER_TOPIC_SUFFIX = '.DLT';

  /** Events larger than this are dead-lettered unread. */
  @Transform(toInt) @IsInt() @Min(256) @Max(10485760)
  MAX_EVENT_BYTES = 65536;

  /** Most userIds one HTTP query may ask about. */
  @Transform(toInt) @IsInt() @Min(1) @Max(100000)
  MAX_QUERY_USER_IDS = 1000;

  /** Discord's rule: a user is in at most one voice channel; JOIN elsewhere moves them. false allows several. */
  @Transform(toBool) @IsBoolean()
  VOICE_ONE_CHANNEL_PER_USER = true;

  /** How long an ended session is remembered, so a redelivered or late CONNECT cannot revive it. */
  @Transform(toInt) @IsInt() @Min(60) @Max(31536000)
  ENDED_SESSION_TTL_SECONDS = 86400;

  /** Session leases: when > 0, a session not renewed (HEARTBEAT or any event of it) within this time ends. 0 = off. */
  @Transform(toInt) @IsInt() @Min(0) @Max(31536000)
  SESSION_TTL_SECONDS = 0;

  /** When set, every route but health and metrics needs `Authorization: Bearer <API_TOKEN>`. */
  @IsOptional() @IsString() @IsNotEmpty()
  API_TOKEN?: string;

  /**
   * Rate limit of the query routes, per instance: at most this many requests per minute per client,
   * the client being the API token when API_TOKEN is set (its SHA-256, never the token), else the
   * client IP. Health and metrics are exempt. 0 (the default) = off.
   */
  @Transform(toInt) @IsInt() @Min(0)
  RATE_LIMIT_PER_MINUTE = 0;

  /**
   * Fastify's `trustProxy`, for when the service sits behind a load balancer: the client IP (rate
   * limiting, logs) is then read from X-Forwarded-For. A hop count ("1"), "true", or
   * comma-separated addresses / subnets of the proxies ("10.0.0.0/8"). Unset: the socket's peer.
   */
  @IsOptional() @IsString() @Matches(/^(true|false|\d{1,2}|[0-9A-Fa-f.:/, a-z]+)$/, { message: 'TRUST_PROXY must be true, false, a hop count or a list of proxy addresses/subnets' })
  TRUST_PROXY?: string;

  /** On SIGTERM/SIGINT: longest wait for in-flight batches to finish and commit and for connections to close; past it the process exits 1. */
  @Transform(toInt) @IsInt() @Min(100) @Max(600000)
  SHUTDOWN_TIMEOUT_MS = 10000;

  /** pino level of the JSON logs on stdout; nothing per event above debug. */
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' = 'info';

  /**
   * Which HTTP requests get their own log line at info: 'errors-and-slow' every answer that is not
   * a 2xx and every request slower than HTTP_SLOW_MS (the others at debug); 'all' every request
   * (successful probes and scrapes at debug); 'off' none. A 5xx other than 503 is logged at error.
   */
  @IsIn(['errors-and-slow', 'all', 'off'])
  HTTP_LOG: 'errors-and-slow' | 'all' | 'off' = 'errors-and-slow';

  /** With HTTP_LOG=errors-and-slow, a request taking longer than this (ms) is logged at info. */
  @Transform(toInt) @IsInt() @Min(0) @Max(600000)
  HTTP_SLOW_MS = 100;
}

export class InvalidConfigError extends Error {}

/** "redis://user:secret@host" -> "redis://user:<hidden>@host": a bad URL is quoted in the error, its password never. */
function withoutCredentials(value: string | undefined): string | undefined {
  return value?.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:).*@/i, '$1<hidden>@');
}

/** Parses and validates the environment; throws one error listing every bad variable by name. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const known = Object.keys(new AppConfig());
  const given: Record<string, string> = {};
  for (const key of [...known, 'KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'API_TOKEN', 'TRUST_PROXY']) {
    const value = env[key];
    if (value !== undefined && value !== '') given[key] = value;
  }
  const config = plainToInstance(AppConfig, given, { exposeDefaultValues: true });
  const errors = validateSync(config, { forbidUnknownValues: false });
  const problems = errors.map((e) => {
    const constraint = Object.values(e.constraints ?? {})[0] ?? 'is invalid';
    const shown = /PASSWORD|TOKEN/.test(e.property) ? '<hidden>' : JSON.stringify(withoutCredentials(given[e.property]));
    return constraint.startsWith(e.property) ? `${constraint} (got ${shown})` : `${e.property}: ${constraint} (got ${shown})`;
  });
  if (config.KAFKA_SASL_MECHANISM && (!config.KAFKA_SASL_USERNAME || !config.KAFKA_SASL_PASSWORD)) {
    problems.push('KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required when KAFKA_SASL_MECHANISM is set');
  }
  if (problems.length > 0) throw new InvalidConfigError(`Invalid configuration: ${problems.join('; ')}`);
  return config;
}
