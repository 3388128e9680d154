import { EventPattern } from '@nestjs/microservices';
import { ClassConstructor } from 'class-transformer';

/** Logical event streams; KafkaEventsServer maps the configured topic names onto them. */
export const SESSION_EVENTS = 'session-events';
export const CHANNEL_EVENTS = 'channel-events';

/** What an event handler receives: decoded, validated events of one partition, in order. */
export interface ConsumedEvent<T> {
  event: T;
  /** The Kafka record's timestamp (ms): when the producer sent it. */
  timestampMs: number;
  /** Where the record is in its topic, when it came from Kafka (the switch-over point compares it). */
  partition?: number;
  offset?: string;
}

export const DECODE_AS = 'decodeAs';

/**
 * Marks a controller method as the handler of an event stream. It is called with a batch
 * (ConsumedEvent<T>[]) of records that decoded into valid T; the rest were dead-lettered already.
 * It returns one ApplyOutcome per event.
 */
export const EventBatchHandler = (stream: string, decodeAs: ClassConstructor<object>) => EventPattern(stream, { [DECODE_AS]: decodeAs });
