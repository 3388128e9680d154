import { Global, Module } from '@nestjs/common';
import { KafkaEventsServer } from './kafka-events.server';

/** The Kafka transport; main.ts connects it as the app's microservice. */
@Global()
@Module({ providers: [KafkaEventsServer], exports: [KafkaEventsServer] })
export class IngestModule {}
