import { Controller, UseFilters } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { CHANNEL_EVENTS, ConsumedEvent, EventBatchHandler } from '../ingest/event-patterns';
import { RethrowRpcExceptionFilter } from '../ingest/rethrow-rpc-exception.filter';
import { ApplyOutcome } from '../state-store/state-store';
import { ChannelEvent } from './channel-event';
import { VoiceService } from './voice.service';

/** Where signaling-server voice events enter: topic CHANNEL_EVENTS_TOPIC (default `channelEvent`). */
@Controller()
@UseFilters(RethrowRpcExceptionFilter)
export class VoiceController {
  constructor(private readonly voice: VoiceService) {}

  @EventBatchHandler(CHANNEL_EVENTS, ChannelEvent)
  apply(@Payload() events: ConsumedEvent<ChannelEvent>[]): Promise<ApplyOutcome[]> {
    return this.voice.applyAll(events);
  }
}
