import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every Prometheus metric of the service, on one registry served at GET /metrics. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly eventsTotal = new Counter({
    name: 'state_server_events_total',
    help: 'Events consumed, by topic, event type and outcome (applied, duplicate, stale, ignored, dead_lettered); reason says why one was ignored',
    labelNames: ['topic', 'type', 'outcome', 'reason'] as const,
    registers: [this.registry],
  });

  readonly applySeconds = new Histogram({
    name: 'state_server_apply_duration_seconds',
    help: 'Time to apply one chunk of a partition batch to Redis (one pipelined round trip)',
    labelNames: ['topic'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'state_server_batch_size',
    help: 'Records per applied chunk',
    labelNames: ['topic'] as const,
    buckets: [1, 5, 10, 50, 100, 250, 500, 1000, 2500],
    registers: [this.registry],
  });

  readonly consumerLag = new Gauge({
    name: 'state_server_consumer_lag',
    help: 'Records behind the high watermark, per partition, after the last applied batch',
    labelNames: ['topic', 'partition'] as const,
    registers: [this.registry],
  });

  readonly sessionsEvicted = new Counter({
    name: 'state_server_sessions_evicted_total',
    help: 'Live sessions ended because their user opened more than MAX_SESSIONS_PER_USER',
    registers: [this.registry],
  });

  readonly unreadableValues = new Counter({
    name: 'state_server_unreadable_values_total',
    help: "Redis values skipped in answers because another writer left them unreadable (e.g. the original service's JDK-serialized bytes)",
    registers: [this.registry],
  });

  readonly sessionRouteEvents = new Counter({
    name: 'state_server_session_route_events_total',
    help: 'Session events received over HTTP (POST /api/state/update/session), by type and result',
    labelNames: ['type', 'result'] as const,
    registers: [this.registry],
  });

  readonly sessionRouteEarlyAnswers = new Counter({
    name: 'state_server_session_route_early_answers_total',
    help: 'Session route answers given before every session record already in Kafka was applied, by reason (bound, stalled, rebuilding, unavailable)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly rebuildsStarted = new Counter({
    name: 'state_server_rebuilds_total',
    help: 'Rebuilds of the state from the topics this instance took part in (Redis lost the state)',
    registers: [this.registry],
  });

  readonly rebuildProgress = new Gauge({
    name: 'state_server_rebuild_progress_ratio',
    help: 'Progress of the rebuild in course (0..1; 1 when none is running)',
    registers: [this.registry],
  });

  readonly redisErrors = new Counter({
    name: 'state_server_redis_errors_total',
    help: 'Redis round trips that failed (unreachable or timed out)',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  readonly redisReplays = new Counter({
    name: 'state_server_redis_replays_total',
    help: 'Times this instance rewound its partitions and replayed because a Redis master failed over or restarted (its last writes may be lost)',
    registers: [this.registry],
  });

  readonly httpRequests = new Counter({
    name: 'state_server_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpSeconds = new Histogram({
    name: 'state_server_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  // The change stream (src/change-stream): relay to CHANGE_TOPIC and GET /events.
  readonly changeRecordsRelayed = new Counter({
    name: 'state_server_change_records_relayed_total',
    help: 'Change records this instance published to CHANGE_TOPIC',
    registers: [this.registry],
  });

  readonly changeRelayLag = new Gauge({
    name: 'state_server_change_relay_lag_seconds',
    help: 'Age of the oldest change record waiting in the outboxes this instance relays (0 when none)',
    registers: [this.registry],
  });

  readonly changeOutboxRecords = new Gauge({
    name: 'state_server_change_outbox_records',
    help: 'Change records waiting in the outboxes this instance relays',
    registers: [this.registry],
  });

  readonly changeOutboxOverflows = new Counter({
    name: 'state_server_change_outbox_overflows_total',
    help: 'Outboxes that overflowed (CHANGE_OUTBOX_LIMIT): only the latest change per key was kept, after a RESYNC record',
    registers: [this.registry],
  });

  readonly changeRelayErrors = new Counter({
    name: 'state_server_change_relay_errors_total',
    help: 'Failed attempts to publish change records (Kafka unreachable, the topic missing or not writable)',
    registers: [this.registry],
  });

  readonly eventStreamClients = new Gauge({
    name: 'state_server_event_stream_clients',
    help: 'Clients connected to GET /events',
    registers: [this.registry],
  });

  readonly eventStreamDrops = new Counter({
    name: 'state_server_event_stream_dropped_total',
    help: 'GET /events clients disconnected by the server, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    this.rebuildProgress.set(1);
    // Under their standard names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds, …), which
    // off-the-shelf Node.js dashboards and alerts expect; Prometheus's instance label tells whose.
    collectDefaultMetrics({ register: this.registry });
  }
}
