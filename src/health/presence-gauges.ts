import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { StateStore } from '../state-store/state-store';
import { MetricsService } from '../metrics/metrics.service';

type Counters = Awaited<ReturnType<StateStore['readCounters']>>;

/**
 * Presence gauges, read when Prometheus scrapes: one round trip per Redis node of O(1) commands
 * (HLEN and the counters the state scripts keep exact, per bucket on Redis Cluster, summed here),
 * whatever the number of users; and, per Redis node, whether it answers and how many keys it
 * holds. Every instance reports the same cluster-wide values: aggregate with max(), not sum().
 */
@Injectable()
export class PresenceGauges {
  /** The read in progress: the gauges of one scrape (collected concurrently) share it. */
  private pending?: Promise<Counters | undefined>;

  constructor(
    private readonly metrics: MetricsService,
    private readonly store: StateStore,
  ) {
    this.gauge('state_server_online_users', 'Users with at least one live session', (c) => c.onlineUsers);
    this.gauge(
      'state_server_voice_participants',
      "Voice seats taken (a user sitting in two guilds' channels holds two with VOICE_SCOPE=guild)",
      (c) => c.voiceSeats,
    );
    this.gauge('state_server_known_users', 'Users ever seen (entries of USER:STATE), online or not', (c) => c.knownUsers);
    const nodes = () => this.store.nodeStatuses();
    new Gauge({
      name: 'state_server_redis_node_up',
      help: 'Whether each Redis node (the single Redis, or each Redis Cluster master serving slots) answers PING: 1 or 0',
      labelNames: ['node'] as const,
      registers: [this.metrics.registry],
      async collect() {
        this.reset();
        for (const n of await nodes()) this.set({ node: n.node }, n.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'state_server_redis_node_keys',
      help: 'Keys held by each Redis node (DBSIZE): on Redis Cluster, how evenly the buckets spread the state',
      labelNames: ['node'] as const,
      registers: [this.metrics.registry],
      async collect() {
        this.reset();
        for (const n of await nodes()) if (n.keys !== undefined) this.set({ node: n.node }, n.keys);
      },
    });
  }

  /** A gauge set at scrape time; NaN while Redis is unreachable. */
  private gauge(name: string, help: string, read: (c: Counters) => number): void {
    const counters = () => this.counters();
    new Gauge({
      name,
      help,
      registers: [this.metrics.registry],
      async collect() {
        const c = await counters();
        this.set(c ? read(c) : Number.NaN);
      },
    });
  }

  private counters(): Promise<Counters | undefined> {
    this.pending ??= this.store
      .readCounters()
      .catch(() => {
        this.metrics.redisErrors.inc({ operation: 'gauges' });
        return undefined;
      })
      .finally(() => (this.pending = undefined));
    return this.pending;
  }
}
