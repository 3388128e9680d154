import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ConsumedEvent } from '../ingest/event-patterns';
import { ApplyOutcome, StateChange, StateStore } from '../state-store/state-store.repository';
import { SessionEvent } from './session-event';

/** Sessions a RESET or the lease sweeper ends per Redis script call: bounds how long Redis is busy. */
const STEP = 500;
const LEASE_SWEEP_MS = 1000;

/**
 * The rules of presence. A user is online while at least one of their sessions is live; the
 * scripts enforce that atomically. Here: the defaults the chat server leaves out, and RESET / lease
 * expiry, which end many sessions in bounded steps.
 */
@Injectable()
export class SessionsService implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger('Sessions');
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly store: StateStore,
    private readonly config: AppConfig,
  ) {}

  /** Applies one partition's events in order; returns one outcome per event. */
  async applyAll(events: readonly ConsumedEvent<SessionEvent>[]): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = [];
    let pending: StateChange[] = [];
    const flush = async () => {
      outcomes.push(...(await this.store.apply(pending)));
      pending = [];
    };
    for (const { event, timestampMs } of events) {
      if (event.type === 'RESET') {
        await flush(); // a RESET must not overtake the events before it
        outcomes.push(await this.resetServer(event.serverId!, Number(event.timestamp ?? timestampMs)));
      } else {
        pending.push(this.toChange(event, timestampMs));
      }
    }
    await flush();
    return outcomes;
  }

  /** Ends every session the chat-server instance started before `resetAtMs`, in bounded steps. */
  async resetServer(serverId: string, resetAtMs: number): Promise<ApplyOutcome> {
    let cursor = '0';
    let ended = 0;
    do {
      const step = await this.store.endServerSessionsStep(serverId, resetAtMs, 'offline', this.config.ENDED_SESSION_TTL_SECONDS, cursor, STEP);
      cursor = step.cursor;
      ended += step.ended;
    } while (cursor !== '0');
    if (ended > 0) this.log.log(`RESET of chat server ${serverId} ended ${ended} sessions`);
    return ended > 0 ? 'applied' : 'unchanged';
  }

  /** Ends sessions whose lease ran out; returns how many. */
  async expireLeases(): Promise<number> {
    let total = 0;
    for (;;) {
      const ended = await this.store.expireSessionsStep('offline', this.config.ENDED_SESSION_TTL_SECONDS, STEP);
      total += ended;
      if (ended < STEP) return total;
    }
  }

  onModuleInit(): void {
    if (this.config.SESSION_TTL_SECONDS === 0) return;
    this.sweeper = setInterval(() => {
      this.expireLeases().catch(() => undefined); // Redis down: the next sweep catches up
    }, LEASE_SWEEP_MS);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  private toChange(event: SessionEvent, timestampMs: number): StateChange {
    const leaseSeconds = this.config.SESSION_TTL_SECONDS;
    switch (event.type) {
      case 'CONNECT':
        return {
          kind: 'connect',
          sessionId: event.sessionId,
          userId: event.userId!,
          state: event.state ?? 'online',
          serverId: event.serverId,
          startedAtMs: Number(event.timestamp ?? timestampMs),
          leaseSeconds,
          guildIds: event.guildIds ?? [],
          endedTtlSeconds: this.config.ENDED_SESSION_TTL_SECONDS,
        };
      case 'DISCONNECT':
        return {
          kind: 'disconnect',
          sessionId: event.sessionId,
          userId: event.userId,
          state: event.state ?? 'offline',
          endedTtlSeconds: this.config.ENDED_SESSION_TTL_SECONDS,
          endedAtMs: Number(event.timestamp ?? timestampMs),
        };
      case 'HEARTBEAT':
        return { kind: 'heartbeat', sessionId: event.sessionId, leaseSeconds };
      default:
        throw new Error(`unexpected session event type ${event.type}`);
    }
  }
}
