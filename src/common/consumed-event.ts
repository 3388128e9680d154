/**
 * An event as the services apply it: decoded and validated, with the record's timestamp and, when it
 * came from Kafka, its place in the topic. The Kafka transport and the HTTP session route both hand
 * events over in this shape.
 */
export interface ConsumedEvent<T> {
  event: T;
  /** The Kafka record's timestamp (ms): when the producer sent it. */
  timestampMs: number;
  /** Where the record is in its topic, when it came from Kafka (the switch-over point compares it). */
  partition?: number;
  offset?: string;
}
