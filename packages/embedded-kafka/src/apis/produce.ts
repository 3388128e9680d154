/**
 * Produce (key 0), v3 only: v3 is the first version carrying RecordBatch v2,
 * which is the only format the log stores (no down/up-conversion).
 */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { InvalidBatchError, splitBatches } from '../record-batch';
import { isValidTopicName } from '../topic-store';
import { Writer } from '../protocol';

export const produceApi: ApiDefinition = {
  key: 0,
  name: 'Produce',
  minVersion: 3,
  maxVersion: 3,
  handle(body, _header, broker) {
    body.nullableString(); // transactional_id: transactions are not supported, plain batches are stored
    const acks = body.int16();
    body.int32(); // timeout_ms: a single in-memory node appends synchronously
    const topics = body.array((r) => ({
      name: r.string(),
      partitions: r.array((p) => ({ index: p.int32(), records: p.nullableBytes() })),
    }));

    const out = new Writer();
    out.array(topics, (w, topic) => {
      w.string(topic.name);
      let stored = broker.topics.get(topic.name);
      if (!stored && broker.autoCreateTopics && isValidTopicName(topic.name)) stored = broker.topics.create(topic.name);
      w.array(topic.partitions, (pw, { index, records }) => {
        let errorCode: number = ErrorCode.NONE;
        let baseOffset = -1;
        const log = stored?.partitions[index];
        if (!stored) errorCode = isValidTopicName(topic.name) ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.INVALID_TOPIC_EXCEPTION;
        else if (!log) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        else if (acks !== 0 && acks !== 1 && acks !== -1) errorCode = ErrorCode.INVALID_REQUIRED_ACKS;
        else {
          try {
            const batches = splitBatches(records ?? Buffer.alloc(0));
            if (batches.length > 0) {
              baseOffset = log.append(batches);
              broker.topics.notifyAppend(topic.name, index);
            }
          } catch (err) {
            if (!(err instanceof InvalidBatchError)) throw err;
            broker.logger.warn(`embedded-kafka: rejected produce to ${topic.name}/${index}: ${err.message}`);
            errorCode = err.errorCode;
          }
        }
        pw.int32(index).int16(errorCode).int64(baseOffset).int64(-1); // log_append_time: CreateTime topics
      });
    });
    out.int32(0); // throttle_time_ms
    return acks === 0 ? null : out;
  },
};
