import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { SessionEvent } from '../sessions/session-event';
import { SessionsService } from '../sessions/sessions.service';
import { ChannelEvent } from '../voice/channel-event';
import { VoiceService } from '../voice/voice.service';
import { TopicRoute } from './batch-applier';

/**
 * Where each consumed topic's records go: the event class they are decoded and validated as, and
 * the service method that applies them. The whole table of the Kafka side, in one place.
 */
@Injectable()
export class EventRoutes {
  readonly byTopic: ReadonlyMap<string, TopicRoute>;

  constructor(config: AppConfig, sessions: SessionsService, voice: VoiceService) {
    const sessionEvents: TopicRoute<SessionEvent> = { decodeAs: SessionEvent, apply: (events) => sessions.applyAll(events) };
    const channelEvents: TopicRoute<ChannelEvent> = { decodeAs: ChannelEvent, apply: (events) => voice.applyAll(events) };
    this.byTopic = new Map<string, TopicRoute>([
      [config.SESSION_EVENTS_TOPIC, sessionEvents],
      [config.CHANNEL_EVENTS_TOPIC, channelEvents],
    ]);
  }
}
