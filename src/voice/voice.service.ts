import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ConsumedEvent } from '../ingest/event-patterns';
import { ApplyOutcome, StateStore } from '../state-store/state-store.repository';
import { ChannelEvent } from './channel-event';

/**
 * Voice-channel membership. By default a user sits in one channel at a time (Discord's rule):
 * JOIN of another channel moves them; LEAVE of a channel they are not in changes nothing.
 * VOICE_ONE_CHANNEL_PER_USER=false lets them sit in several. A JOIN sent before the user's last
 * session ended (its record timestamp is older) is stale and ignored.
 */
@Injectable()
export class VoiceService {
  constructor(
    private readonly store: StateStore,
    private readonly config: AppConfig,
  ) {}

  applyAll(events: readonly ConsumedEvent<ChannelEvent>[]): Promise<ApplyOutcome[]> {
    const oneChannel = this.config.VOICE_ONE_CHANNEL_PER_USER;
    return this.store.apply(
      events.map(({ event, timestampMs }) => ({
        kind: 'channel',
        type: event.type,
        userId: event.userId,
        guildId: event.guildId,
        channelId: event.channelId,
        oneChannel,
        atMs: timestampMs,
      })),
    );
  }
}
