import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module';
import { StateRebuildModule } from '../state-rebuild/state-rebuild.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { VoiceModule } from '../voice/voice.module';
import { EventRoutes } from './event-routes';
import { KafkaEventsServer } from './kafka-events.server';
import { RedisFailoverRewind, REWINDABLE_CONSUMER } from './partition-rewind';

/**
 * The Kafka transport; main.ts connects it as the app's microservice. It applies each topic's
 * records through the service EventRoutes names. After a Redis failover it replays (partition-rewind.ts).
 */
@Module({
  imports: [StateStoreModule, StateRebuildModule, SessionsModule, VoiceModule],
  providers: [EventRoutes, KafkaEventsServer, { provide: REWINDABLE_CONSUMER, useExisting: KafkaEventsServer }, RedisFailoverRewind],
  exports: [KafkaEventsServer],
})
export class IngestModule {}
