import { Global, Module } from '@nestjs/common';
import { StateStoreModule } from '../state-store/state-store.module';
import { KafkaEventsServer } from './kafka-events.server';
import { RedisFailoverRewind, REWINDABLE_CONSUMER } from './partition-rewind';

/** The Kafka transport; main.ts connects it as the app's microservice. After a Redis failover it replays (partition-rewind.ts). */
@Global()
@Module({
  imports: [StateStoreModule],
  providers: [KafkaEventsServer, { provide: REWINDABLE_CONSUMER, useExisting: KafkaEventsServer }, RedisFailoverRewind],
  exports: [KafkaEventsServer],
})
export class IngestModule {}
