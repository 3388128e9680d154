/**
 * ListOffsets (key 2), v0-2. Timestamp -1 = latest (high watermark),
 * -2 = earliest (log start offset, which retention moves forward).
 * Other timestamps: the first record at or after it, with its timestamp, or -1 when none (PartitionLog.offsetForTimestamp).
 */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

const LATEST = -1;
const EARLIEST = -2;

export const listOffsetsApi: ApiDefinition = {
  key: 2,
  name: 'ListOffsets',
  minVersion: 0,
  maxVersion: 2,
  handle(body, { apiVersion: v }, broker) {
    body.int32(); // replica_id
    if (v >= 2) body.int8(); // isolation_level
    const topics = body.array((r) => ({
      name: r.string(),
      partitions: r.array((p) => {
        const partition = p.int32();
        const timestamp = p.int64();
        if (v === 0) p.int32(); // max_num_offsets
        return { partition, timestamp };
      }),
    }));

    const w = new Writer();
    if (v >= 2) w.int32(0); // throttle_time_ms
    w.array(topics, (tw, t) => {
      tw.string(t.name);
      tw.array(t.partitions, (pw, { partition, timestamp }) => {
        const log = broker.topics.partition(t.name, partition);
        let offset = -1;
        let foundTimestamp = -1;
        if (log) {
          if (timestamp === LATEST) offset = log.highWatermark;
          else if (timestamp === EARLIEST) offset = log.logStartOffset;
          else ({ offset, timestamp: foundTimestamp } = log.offsetForTimestamp(timestamp) ?? { offset: -1, timestamp: -1 });
        }
        pw.int32(partition).int16(log ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        if (v === 0) {
          if (log && offset >= 0) pw.int32(1).int64(offset);
          else pw.int32(0);
        } else {
          pw.int64(foundTimestamp).int64(offset);
        }
      });
    });
    return w;
  },
};
