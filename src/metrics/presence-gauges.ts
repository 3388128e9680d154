import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { StateStore } from '../state-store/state-store.repository';
import { MetricsService } from './metrics.service';

/** Users sampled per scrape: about ±3 percentage points of the online share at 95 % confidence, for ~1 ms of Redis time. */
const SAMPLE_SIZE = 1000;
/** The three gauges of one scrape share one sample. */
const SAMPLE_REUSE_MS = 1000;

type Sample = Awaited<ReturnType<StateStore['sampleUsers']>>;

/**
 * Presence gauges, computed when Prometheus scrapes, at a cost independent of the number of users.
 * The Redis layout holds no running total of online users or voice participants, and counting them
 * exactly means visiting every user; so they are estimated from a random sample of the users ever
 * seen (exact while there are at most SAMPLE_SIZE of them). Every instance reports the same
 * cluster-wide values: aggregate with max(), not sum(). docs/operations.md says what exact
 * counters would need.
 */
@Injectable()
export class PresenceGauges {
  private last?: { at: number; sample: Promise<Sample | undefined> };

  constructor(
    private readonly metrics: MetricsService,
    private readonly store: StateStore,
  ) {
    const estimate = (count: number, s: Sample) => (s.sampled === 0 ? 0 : Math.round((count / s.sampled) * s.knownUsers));
    this.gauge('state_server_known_users', 'Users ever seen (entries of USER:STATE), online or not', (s) => s.knownUsers);
    this.gauge('state_server_online_users', 'Users with at least one live session; estimated from a random sample of known users (exact up to 1000 users)', (s) =>
      estimate(s.online, s),
    );
    this.gauge('state_server_voice_participants', 'Users sitting in a voice channel; estimated from a random sample of known users (exact up to 1000 users)', (s) =>
      estimate(s.inVoice, s),
    );
  }

  /** A gauge set at scrape time from the shared sample; NaN while Redis is unreachable. */
  private gauge(name: string, help: string, read: (s: Sample) => number): void {
    const sample = () => this.sample();
    new Gauge({
      name,
      help,
      registers: [this.metrics.registry],
      async collect() {
        const s = await sample();
        this.set(s ? read(s) : Number.NaN);
      },
    });
  }

  private sample(): Promise<Sample | undefined> {
    const now = Date.now();
    if (!this.last || now - this.last.at > SAMPLE_REUSE_MS) {
      this.last = {
        at: now,
        sample: this.store.sampleUsers(SAMPLE_SIZE).catch(() => {
          this.metrics.redisErrors.inc({ operation: 'gauges' });
          return undefined;
        }),
      };
    }
    return this.last.sample;
  }
}
