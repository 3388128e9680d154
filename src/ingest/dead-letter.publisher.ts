import { KafkaMessage, Producer } from 'kafkajs';

export interface DeadLetter {
  message: KafkaMessage;
  reason: string;
}

function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(value);
  return b;
}
function int64(value: string): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(value));
  return b;
}

/**
 * Sends records that cannot be applied to `<topic><suffix>` (Spring Kafka's `.DLT` convention, which
 * the rest of the platform reads), unchanged, with Spring's `kafka_dlt-*` headers saying why and
 * where from. Partition, offset and timestamp headers are big-endian binary, as Spring writes them.
 */
export class DeadLetterPublisher {
  constructor(
    private readonly producer: Producer,
    private readonly suffix: string,
    private readonly groupId: string,
  ) {}

  topicFor(topic: string): string {
    return topic + this.suffix;
  }

  async publish(topic: string, partition: number, letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.producer.send({
      topic: this.topicFor(topic),
      acks: -1,
      messages: letters.map(({ message, reason }) => ({
        key: message.key,
        value: message.value,
        headers: {
          ...message.headers,
          'kafka_dlt-exception-fqcn': 'InvalidEventError',
          'kafka_dlt-exception-message': reason,
          'kafka_dlt-original-topic': topic,
          'kafka_dlt-original-partition': int32(partition),
          'kafka_dlt-original-offset': int64(message.offset),
          'kafka_dlt-original-timestamp': int64(message.timestamp),
          'kafka_dlt-original-consumer-group': this.groupId,
        },
      })),
    });
  }
}
