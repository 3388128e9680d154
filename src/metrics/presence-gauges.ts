import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { StateStore } from '../state-store/state-store.repository';
import { MetricsService } from './metrics.service';

type Counters = Awaited<ReturnType<StateStore['readCounters']>>;

/**
 * Presence gauges, read when Prometheus scrapes: one round trip of O(1) commands (HLEN and the
 * counters the state scripts keep exact), whatever the number of users. Every instance reports the
 * same cluster-wide values: aggregate with max(), not sum().
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
    this.gauge('state_server_voice_participants', 'Voice seats taken (users in a voice channel, one seat each when VOICE_ONE_CHANNEL_PER_USER)', (c) => c.voiceSeats);
    this.gauge('state_server_known_users', 'Users ever seen (entries of USER:STATE), online or not', (c) => c.knownUsers);
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
