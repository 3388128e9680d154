import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module';
import { RecoveryModule } from '../recovery/recovery.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { VoiceModule } from '../voice/voice.module';
import { EventRoutes } from './event-routes';
import { KafkaEventsServer } from './kafka-events.server';

/**
 * The Kafka transport; main.ts connects it as the app's microservice. It applies each topic's
 * records through the service EventRoutes names, and follows the recovery room's events (RecoveryEvents).
 */
@Module({
  imports: [StateStoreModule, RecoveryModule, SessionsModule, VoiceModule],
  providers: [EventRoutes, KafkaEventsServer],
  exports: [KafkaEventsServer],
})
export class IngestModule {}
