import { Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import { drainSteps } from '../common/drain-steps';
import { AppConfig } from '../config/app-config';
import { ConsumedEvent } from '../common/consumed-event';
import { MetricsService } from '../metrics/metrics.service';
import { PeriodicSteps } from '../recovery/periodic-steps';
import { SwitchoverPoint } from '../recovery/switchover-point';
import { ApplyOutcome, ChangeResult, StateChange, StateStore } from '../state-store/state-store';
import { SessionEvent } from './session-event';

/** Sessions a RESET or the lease sweeper ends per Redis script call: bounds how long Redis is busy. */
const STEP = 500;
/** A user whose sessions the bound keeps ending is logged at most this often. */
const EVICTION_LOG_INTERVAL_MS = 60_000;

/**
 * The rules of presence (docs/rules.md): a session is (userId, sessionId); a user is online while
 * at least one of their sessions is live and shows the highest-ranked state among them. The
 * scripts enforce that atomically. Here: turning events into changes, RESET and lease expiry
 * (which end many sessions in bounded steps), and the session bound's bookkeeping.
 */
@Injectable()
export class SessionsService implements OnModuleInit {
  private readonly log = new Logger('Sessions');
  private readonly evictionLoggedAt = new Map<string, number>();

  constructor(
    private readonly store: StateStore,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly periodic: PeriodicSteps,
    @Optional() private readonly switchover?: SwitchoverPoint,
  ) {}

  /** Applies one partition's events in order; returns one outcome per event. */
  async applyAll(events: readonly ConsumedEvent<SessionEvent>[]): Promise<ApplyOutcome[]> {
    const outcomes = new Array<ApplyOutcome>(events.length);
    let pending: { index: number; change: StateChange }[] = [];
    const flush = async () => {
      const results = await this.store.apply(pending.map((p) => p.change));
      results.forEach((result, i) => {
        this.noteEvictions(pending[i].change, result);
        outcomes[pending[i].index] = result.outcome;
      });
      pending = [];
    };
    for (const [index, { event, timestampMs, partition, offset }] of events.entries()) {
      if (event.type === 'CONNECT' && this.switchover?.isBefore(partition, offset)) {
        // The original's era: it never logged its DISCONNECTs, so nothing would ever end this session.
        outcomes[index] = { ignored: 'before_switchover' };
      } else if (event.type === 'RESET') {
        await flush(); // a RESET must not overtake the events before it
        outcomes[index] = await this.resetServer(event.serverId!, Number(event.timestamp));
      } else {
        pending.push({ index, change: this.toChange(event, timestampMs) });
      }
    }
    await flush();
    return outcomes;
  }

  /**
   * Applies session events now (the HTTP route: CONNECT / DISCONNECT of different sessions, in one
   * round trip); one result each. Throws StateStoreUnavailableError when Redis is unreachable.
   */
  async applyNow(events: readonly ConsumedEvent<SessionEvent>[]): Promise<ChangeResult[]> {
    const changes = events.map(({ event, timestampMs }) => this.toChange(event, timestampMs));
    // Durable: if this process dies half-way (cluster steps), the outbox finishes them (see StateStore.apply).
    const results = await this.store.apply(changes, { durable: true });
    results.forEach((result, i) => this.noteEvictions(changes[i], result));
    return results;
  }

  /** Ends every session the chat-server instance started before `resetAtMs`, in bounded steps. */
  async resetServer(serverId: string, resetAtMs: number): Promise<ApplyOutcome> {
    const ended = await drainSteps((cursor) => this.store.endServerSessionsStep(serverId, resetAtMs, cursor, STEP));
    if (ended > 0) this.log.log(`RESET of chat server ${serverId} ended ${ended} sessions`);
    return ended > 0 ? 'applied' : 'duplicate';
  }

  /** Ends sessions whose lease ran out; returns how many. */
  async expireLeases(): Promise<number> {
    let total = 0;
    for (;;) {
      const ended = await this.store.expireSessionsStep(STEP);
      total += ended;
      if (ended < STEP) return total;
    }
  }

  /** The lease sweep, every second (PeriodicSteps); Redis down: the next sweep catches up. */
  onModuleInit(): void {
    // Also without leases where sessions adopted from the original may be held: they end when its keys would have expired.
    if (this.config.SESSION_TTL_SECONDS === 0 && !this.store.mayHoldAdoptedSessions) return;
    this.periodic.every('lease expiry', () => this.expireLeases().then(() => undefined));
  }

  /** MAX_SESSIONS_PER_USER ended some of the user's oldest sessions: counted, logged at most once a minute per user. */
  private noteEvictions(change: StateChange, result: ChangeResult): void {
    if (!result.sessionsEvicted || change.kind !== 'connect') return;
    this.metrics.sessionsEvicted.inc(result.sessionsEvicted);
    const now = Date.now();
    if (now - (this.evictionLoggedAt.get(change.userId) ?? 0) < EVICTION_LOG_INTERVAL_MS) return;
    if (this.evictionLoggedAt.size > 10_000) this.evictionLoggedAt.clear();
    this.evictionLoggedAt.set(change.userId, now);
    this.log.warn(
      `User ${change.userId} holds MAX_SESSIONS_PER_USER=${this.config.MAX_SESSIONS_PER_USER} live sessions: a new one ended their oldest (a chat server leaking sessions?)`,
    );
  }

  private toChange(event: SessionEvent, timestampMs: number): StateChange {
    switch (event.type) {
      case 'CONNECT':
        return {
          kind: 'connect',
          userId: event.userId!,
          sessionId: event.sessionId,
          state: event.state ?? 'online',
          atMs: Number(event.timestamp ?? timestampMs),
          serverId: event.serverId,
          guildIds: event.guildIds ?? [],
        };
      case 'DISCONNECT':
        return { kind: 'disconnect', sessionId: event.sessionId, userId: event.userId ?? undefined };
      case 'HEARTBEAT':
        return { kind: 'heartbeat', sessionId: event.sessionId, userId: event.userId ?? undefined };
      default:
        throw new Error(`unexpected session event type ${event.type}`);
    }
  }
}
