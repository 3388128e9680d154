import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module';
import { StateRebuildModule } from '../state-rebuild/state-rebuild.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { KafkaEventsServer } from './kafka-events.server';
import { RedisFailoverRewind, REWINDABLE_CONSUMER } from './partition-rewind';

/** The Kafka transport; main.ts connects it as the app's microservice. After a Redis failover it replays (partition-rewind.ts). */
@Module({
  imports: [StateStoreModule, StateRebuildModule, SessionsModule],
  providers: [KafkaEventsServer, { provide: REWINDABLE_CONSUMER, useExisting: KafkaEventsServer }, RedisFailoverRewind],
  exports: [KafkaEventsServer],
})
export class IngestModule {}
