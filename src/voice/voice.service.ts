import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { drainSteps } from '../common/drain-steps';
import { AppConfig } from '../config/app-config';
import { ConsumedEvent } from '../common/consumed-event';
import { PeriodicSteps } from '../recovery/periodic-steps';
import { ApplyOutcome, StateStore } from '../state-store/state-store';
import { ChannelEvent, isNullLeave } from './channel-event';
import { coalesceVoiceChanges, VoiceChange } from './coalesce-voice-changes';

/** Seats a RESET or the grace sweeper ends per Redis script call: bounds how long Redis is busy. */
const STEP = 500;

/**
 * Voice-channel membership, owned by the signaling server (docs/rules.md): per user and scope the
 * newest JOIN, per channel the newest LEAVE; a user sits in c iff the newest JOIN of c's scope names
 * c and no LEAVE of c is at or after it. Record timestamps compared here all come from signaling
 * servers. Seats of a user with no live chat session end after VOICE_GRACE_SECONDS (swept here).
 */
@Injectable()
export class VoiceService implements OnModuleInit {
  private readonly log = new Logger('Voice');

  constructor(
    private readonly store: StateStore,
    private readonly config: AppConfig,
    private readonly periodic: PeriodicSteps,
  ) {}

  /** Applies one partition's events in order; returns one outcome per event. */
  async applyAll(events: readonly ConsumedEvent<ChannelEvent>[]): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = [];
    /** The run since the last flush, in order: a change, or null for an ignored null LEAVE. */
    let run: (VoiceChange | null)[] = [];
    const flush = async () => {
      const changes = run.filter((c): c is VoiceChange => c !== null);
      // Only the newest JOIN per user and scope and the newest LEAVE per user and channel can change anything.
      const { kept, dropped } = coalesceVoiceChanges(changes, this.config.VOICE_SCOPE);
      const applied = (await this.store.apply(kept)).map((r): ApplyOutcome => r.outcome);
      let i = 0;
      for (const slot of run) {
        if (slot === null) outcomes.push({ ignored: 'leave_without_ids' });
        else outcomes.push(dropped.get(i++) ?? applied.shift()!);
      }
      run = [];
    };
    for (const { event, timestampMs } of events) {
      if (event.type === 'RESET') {
        await flush(); // a RESET must not overtake the events before it
        outcomes.push(await this.resetServer(event.serverId!, Number(event.timestamp)));
      } else if (isNullLeave(event)) {
        run.push(null);
      } else {
        run.push(
          event.type === 'JOIN'
            ? {
                kind: 'join',
                userId: event.userId,
                guildId: event.guildId,
                channelId: event.channelId,
                atMs: timestampMs,
                serverId: event.serverId,
              }
            : { kind: 'leave', userId: event.userId, guildId: event.guildId, channelId: event.channelId, atMs: timestampMs },
        );
      }
    }
    await flush();
    return outcomes;
  }

  /** Ends every seat the signaling server's JOINs took before `resetAtMs`, in bounded steps. */
  async resetServer(serverId: string, resetAtMs: number): Promise<ApplyOutcome> {
    const ended = await drainSteps((cursor) => this.store.endServerSeatsStep(serverId, resetAtMs, cursor, STEP));
    if (ended > 0) this.log.log(`RESET of signaling server ${serverId} ended ${ended} voice seats`);
    return ended > 0 ? 'applied' : 'duplicate';
  }

  /** Ends the seats of users whose grace period ran out; returns how many seats ended. */
  async expireGrace(): Promise<number> {
    let seats = 0;
    for (;;) {
      const step = await this.store.expireVoiceGraceStep(STEP);
      seats += step.seats;
      if (step.users < STEP) return seats;
    }
  }

  /** The grace sweep, every second (PeriodicSteps); Redis down: the next sweep catches up. */
  onModuleInit(): void {
    if (this.config.VOICE_GRACE_SECONDS === 0) return;
    this.periodic.every('voice grace', async () => {
      const seats = await this.expireGrace();
      if (seats > 0) this.log.debug(`Grace period ended ${seats} voice seats of users with no live session`);
    });
  }
}
