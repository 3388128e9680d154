import { Module } from '@nestjs/common';
import { StateRebuildModule } from '../state-rebuild/state-rebuild.module';
import { KafkaEventsServer } from './kafka-events.server';

/** The Kafka transport; main.ts connects it as the app's microservice. */
@Module({ imports: [StateRebuildModule], providers: [KafkaEventsServer], exports: [KafkaEventsServer] })
export class IngestModule {}
