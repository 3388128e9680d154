import { Module } from '@nestjs/common';
import { SessionsModule } from '../sessions/sessions.module';
import { RecoveryModule } from '../recovery/recovery.module';
import { StateStoreModule } from '../state-store/state-store.module';
import { KafkaEventsServer } from './kafka-events.server';

/** The Kafka transport; main.ts connects it as the app's microservice. It follows the recovery room's events (RecoveryEvents). */
@Module({
  imports: [StateStoreModule, RecoveryModule, SessionsModule],
  providers: [KafkaEventsServer],
  exports: [KafkaEventsServer],
})
export class IngestModule {}
