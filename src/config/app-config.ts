import { plainToInstance, Transform } from 'class-transformer';
import { ArrayMinSize, IsArray, IsIn, IsNotEmpty, IsOptional, IsString, Matches, validateSync } from 'class-validator';
import { Flag, HostPortList, IntegerIn, RedisUrl, toBool, toInt, toList, TrustedProxies } from './setting-checks';

/**
 * Every setting of the service, read once from the environment at start-up.
 * Property names are the environment variable names so a validation error names the variable.
 * Nothing else in the code reads process.env.
 */
export class AppConfig {
  @Transform(toInt)
  @IntegerIn(0, 65535)
  PORT = 3000;

  @Transform(toList)
  @HostPortList('kafka-1:9092,kafka-2:9092')
  KAFKA_BROKERS: string[] = ['localhost:9092'];

  @IsString()
  @IsNotEmpty()
  KAFKA_GROUP_ID = 'state-server';

  @IsString()
  @IsNotEmpty()
  KAFKA_CLIENT_ID = 'state-server';

  /** Where a consumer group with no committed offset starts: true replays the retained history (safe: apply is idempotent). */
  @Transform(toBool)
  @Flag()
  KAFKA_FROM_BEGINNING = true;

  /** How many partitions are applied at the same time (per-partition order is always kept). */
  @Transform(toInt)
  @IntegerIn(1, 256)
  KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY = 4;

  /**
   * How long a silent instance (crashed, SIGKILLed, partitioned away) keeps its partitions: they
   * stand still that long, and the session route answers "stalled" for records behind them. 10 s
   * with heartbeats every 3 s: a partition waiting out a Redis outage heart-beats between retries
   * (at most ~5 s plus REDIS_COMMAND_TIMEOUT_MS apart). A graceful stop leaves the group at once.
   */
  @Transform(toInt)
  @IntegerIn(3000, 300000)
  KAFKA_SESSION_TIMEOUT_MS = 10000;

  @Transform(toInt)
  @IntegerIn(100, 60000)
  KAFKA_HEARTBEAT_INTERVAL_MS = 3000;

  @IsOptional()
  @IsIn(['plain', 'scram-sha-256', 'scram-sha-512'])
  KAFKA_SASL_MECHANISM?: 'plain' | 'scram-sha-256' | 'scram-sha-512';

  @IsOptional()
  @IsString()
  KAFKA_SASL_USERNAME?: string;

  @IsOptional()
  @IsString()
  KAFKA_SASL_PASSWORD?: string;

  @Transform(toBool)
  @Flag()
  KAFKA_SSL = false;

  /** A single Redis (with or without replicas). Not together with REDIS_CLUSTER_NODES. */
  @RedisUrl()
  REDIS_URL = 'redis://localhost:6379';

  /**
   * Redis Cluster: some of its nodes as host:port (the client learns the others). The state is then
   * spread over 128 hash-tagged buckets (docs/cluster.md). Not together with REDIS_URL.
   */
  @IsOptional()
  @Transform(toList)
  @HostPortList('redis-1:6379,redis-2:6379')
  REDIS_CLUSTER_NODES?: string[];

  /**
   * After a Redis failover (a replica promoted; replication is asynchronous, so the last writes
   * acknowledged by the old master may be gone) or a master restart, each instance rewinds the
   * partitions it consumes to this long before the old master was last seen healthy, and replays:
   * the rules are idempotent, so that only re-applies what may have been lost.
   */
  @Transform(toInt)
  @IntegerIn(0, 86400)
  REDIS_FAILOVER_REPLAY_SECONDS = 30;

  /** A Redis command (or pipeline) that takes longer than this fails, so HTTP answers 503 instead of hanging. */
  @Transform(toInt)
  @IntegerIn(50, 60000)
  REDIS_COMMAND_TIMEOUT_MS = 2000;

  /**
   * Read-your-writes on POST /api/state/update/session: how long (ms) a DISCONNECT may wait for
   * every session record already in Kafka when it arrived to be applied, before answering (docs/rules.md).
   * 0 answers at once (labelled X-Session-Wait: bound).
   */
  @Transform(toInt)
  @IntegerIn(0, 10000)
  SESSION_ROUTE_WAIT_MS = 250;

  @IsString()
  @Matches(/^[A-Za-z0-9._-]{1,249}$/, {
    message: 'SESSION_EVENTS_TOPIC must be a Kafka topic name: 1 to 249 letters, digits, dots, underscores or hyphens',
  })
  SESSION_EVENTS_TOPIC = 'sessionEvent';

  @IsString()
  @Matches(/^[A-Za-z0-9._-]{1,249}$/, {
    message: 'CHANNEL_EVENTS_TOPIC must be a Kafka topic name: 1 to 249 letters, digits, dots, underscores or hyphens',
  })
  CHANNEL_EVENTS_TOPIC = 'channelEvent';

  /** Compacted topic of ours holding the switch-over point from the original service (src/recovery/switchover-point.ts). */
  @IsString()
  @Matches(/^[A-Za-z0-9._-]{1,249}$/, {
    message: 'SWITCHOVER_TOPIC must be a Kafka topic name: 1 to 249 letters, digits, dots, underscores or hyphens',
  })
  SWITCHOVER_TOPIC = 'stateServer.switchover';

  /**
   * The change stream (docs/contracts.md): every change of a shown state or seat is published here
   * and served at GET /events. Empty (`CHANGE_TOPIC=`) turns it off.
   */
  @IsString()
  @Matches(/^[A-Za-z0-9._-]{0,249}$/, {
    message: 'CHANGE_TOPIC must be a Kafka topic name (1 to 249 letters, digits, dots, underscores or hyphens), or empty for off',
  })
  CHANGE_TOPIC = 'stateChanged';

  /** Change records kept in Redis while Kafka does not take them; past it only the latest per key, then a RESYNC record. */
  @Transform(toInt)
  @IntegerIn(1000, 100000000)
  CHANGE_OUTBOX_LIMIT = 100000;

  /** Dead letters of topic T go to T + this suffix (Spring Kafka's convention). */
  @IsString()
  @Matches(/^[A-Za-z0-9._-]{1,40}$/, { message: 'DEAD_LETTER_TOPIC_SUFFIX must be made of letters, digits, . _ -' })
  DEAD_LETTER_TOPIC_SUFFIX = '.DLT';

  /** Events larger than this are dead-lettered unread. */
  @Transform(toInt)
  @IntegerIn(256, 10485760)
  MAX_EVENT_BYTES = 65536;

  /**
   * Most userIds one HTTP query may ask about. The community server sends every member of a guild,
   * so this is sized for whole guilds; Redis is read in commands of at most 1,000 fields whatever it is.
   */
  @Transform(toInt)
  @IntegerIn(1, 1000000)
  MAX_QUERY_USER_IDS = 100000;

  /**
   * How many voice channels a user may sit in: `guild` one per guild (what the signaling server
   * means), `user` one in all (Discord's rule), `none` any number. A JOIN newer than the user's
   * seat of the same scope moves them.
   */
  @IsIn(['guild', 'user', 'none'], { message: 'VOICE_SCOPE must be one of guild, user, none' })
  VOICE_SCOPE: 'guild' | 'user' | 'none' = 'guild';

  /**
   * A user's voice seats end once they have had no live chat session for this long (the signaling
   * server sends no LEAVE when it crashes); restarted by a JOIN. 0 turns it off.
   */
  @Transform(toInt)
  @IntegerIn(0, 86400)
  VOICE_GRACE_SECONDS = 60;

  /**
   * A user with several live sessions shows the first of these states any of them has; states not
   * listed rank below all of them (the smaller string first).
   */
  @Transform(toList)
  @IsArray()
  @ArrayMinSize(1, { message: 'STATE_PRIORITY must name at least one state' })
  @Matches(/^[^\p{C},]{1,32}$/u, {
    each: true,
    message: 'STATE_PRIORITY must be a comma-separated list of states (1-32 printable characters each)',
  })
  STATE_PRIORITY: string[] = ['invisible', 'dnd', 'online', 'idle'];

  /** What queries show for a user whose shown state is `invisible`, so that it never leaks presence. */
  @Matches(/^[^\p{C}]{1,32}$/u, { message: 'INVISIBLE_SHOWN_AS must be a state of 1-32 printable characters' })
  INVISIBLE_SHOWN_AS = 'offline';

  /** Live sessions one user may hold; a CONNECT over the bound ends their oldest session. */
  @Transform(toInt)
  @IntegerIn(1, 10000)
  MAX_SESSIONS_PER_USER = 64;

  /**
   * The "too old to matter" memory: how long an ended session (and a pending DISCONNECT, and the
   * voice registers of a user who sits nowhere) is remembered, so that a redelivered or late record
   * cannot revive it. Size it to the longest consumer lag you tolerate (a deploy, a Redis outage).
   */
  @Transform(toInt)
  @IntegerIn(60, 31536000)
  ENDED_SESSION_TTL_SECONDS = 86400;

  /** Session leases: when > 0, a session not renewed (HEARTBEAT or any event of it) within this time ends. 0 = off. */
  @Transform(toInt)
  @IntegerIn(0, 31536000)
  SESSION_TTL_SECONDS = 0;

  /**
   * When Redis loses the state (restart without persistence, failover to an empty replica,
   * FLUSHALL): `auto` rebuilds it from the topics through a fresh consumer group while answering
   * queries; `off` reports not ready until an operator rebuilds it (docs/reliability.md).
   */
  @IsIn(['auto', 'off'], { message: 'STATE_REBUILD must be auto or off' })
  STATE_REBUILD: 'auto' | 'off' = 'auto';

  /**
   * When set, every route but health and metrics needs `Authorization: Bearer <token>`; several
   * tokens may be given separated by commas (one per calling service, each its own rate limit budget).
   */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  API_TOKEN?: string;

  /**
   * Rate limit, per instance: at most this many requests per minute per client and route, refused
   * before the body is read; the client is the API token used when API_TOKEN is set, else the
   * client IP. Health and metrics are exempt. 0 (the default) = off.
   */
  @Transform(toInt)
  @IntegerIn(0)
  RATE_LIMIT_PER_MINUTE = 0;

  /**
   * Fastify's `trustProxy`, for when the service sits behind a load balancer: the client IP (rate
   * limiting, logs) is then read from X-Forwarded-For. A hop count ("1"), "true", or
   * comma-separated addresses / subnets of the proxies ("10.0.0.0/8"). Unset: the socket's peer.
   */
  @IsOptional()
  @TrustedProxies()
  TRUST_PROXY?: string;

  /** On SIGTERM/SIGINT: longest wait for in-flight batches to finish and commit and for connections to close; past it the process exits 1. */
  @Transform(toInt)
  @IntegerIn(100, 600000)
  SHUTDOWN_TIMEOUT_MS = 10000;

  /** pino level of the JSON logs on stdout; nothing per event above debug. */
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' = 'info';

  /**
   * Which HTTP requests get their own log line at info: 'errors-and-slow' every answer that is not
   * a 2xx and every request slower than HTTP_SLOW_MS (the others at debug); 'all' every request
   * (successful probes and scrapes at debug); 'off' none. A 5xx other than 503 is logged at error.
   */
  @IsIn(['errors-and-slow', 'all', 'off'], { message: 'HTTP_LOG must be one of errors-and-slow, all, off' })
  HTTP_LOG: 'errors-and-slow' | 'all' | 'off' = 'errors-and-slow';

  /** With HTTP_LOG=errors-and-slow, a request taking longer than this (ms) is logged at info. */
  @Transform(toInt)
  @IntegerIn(0, 600000)
  HTTP_SLOW_MS = 100;
}

export class InvalidConfigError extends Error {}

/** The settings the environment left unset, per loaded config (so a default can be logged where it matters). */
const unsetSettings = new WeakMap<AppConfig, Set<string>>();

/** True when `name` was not in the environment and its default is in use (e.g. REDIS_URL, logged at warn). */
export function usesDefault(config: AppConfig, name: keyof AppConfig): boolean {
  return unsetSettings.get(config)?.has(name) ?? false;
}

/** "redis://user:secret@host" -> "redis://user:<hidden>@host": a bad URL is quoted in the error, its password never. */
function withoutCredentials(value: string | undefined): string | undefined {
  return value?.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:).*@/i, '$1<hidden>@');
}

/** Parses and validates the environment; throws one error listing every bad variable by name. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const known = Object.keys(new AppConfig());
  const given: Record<string, string> = {};
  for (const key of [
    ...known,
    'KAFKA_SASL_MECHANISM',
    'KAFKA_SASL_USERNAME',
    'KAFKA_SASL_PASSWORD',
    'API_TOKEN',
    'TRUST_PROXY',
    'REDIS_CLUSTER_NODES',
  ]) {
    const value = env[key];
    if (value !== undefined && value !== '') given[key] = value;
  }
  // The one setting where empty means something: the change stream off.
  if (env.CHANGE_TOPIC === '') given.CHANGE_TOPIC = '';
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
  if (given.REDIS_URL !== undefined && given.REDIS_CLUSTER_NODES !== undefined) {
    problems.push(
      'REDIS_URL and REDIS_CLUSTER_NODES are both set: set REDIS_URL for a single Redis or REDIS_CLUSTER_NODES for Redis Cluster, not both',
    );
  }
  if (problems.length > 0) throw new InvalidConfigError(`Invalid configuration: ${problems.join('; ')}`);
  unsetSettings.set(config, new Set(known.filter((key) => !(key in given))));
  return config;
}
