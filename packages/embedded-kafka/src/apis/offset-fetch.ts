/** OffsetFetch (key 9), v0-3. A partition without a committed offset answers -1, as in Apache Kafka, also for an unknown group (unless configured otherwise). */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

export const offsetFetchApi: ApiDefinition = {
  key: 9,
  name: 'OffsetFetch',
  minVersion: 0,
  maxVersion: 3,
  handle(body, { apiVersion: v }, broker) {
    const groupId = body.string();
    const requested = body.nullableArray((r) => ({ name: r.string(), partitions: r.array((p) => p.int32()) }));
    // A null topic list (v2+) asks for everything the group has committed.
    const topics =
      requested?.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((partition) => ({ partition, committed: broker.groups.committed(groupId, t.name, partition) })),
      })) ?? broker.groups.allCommitted(groupId).map((t) => ({ name: t.topic, partitions: t.partitions }));

    const w = new Writer();
    if (v >= 3) w.int32(0); // throttle_time_ms
    if (v >= 2 && broker.unknownGroupOffsetFetch === 'GROUP_ID_NOT_FOUND' && !broker.groups.knows(groupId)) {
      // The other answer some brokers give (see EmbeddedKafkaOptions): no topics, the group-level error.
      w.array([], () => undefined);
      w.int16(ErrorCode.GROUP_ID_NOT_FOUND);
      return w;
    }
    w.array(topics, (tw, t) => {
      tw.string(t.name);
      tw.array(t.partitions, (pw, { partition, committed }) => {
        pw.int32(partition)
          .int64(committed?.offset ?? -1)
          .nullableString(committed?.metadata ?? '')
          .int16(ErrorCode.NONE);
      });
    });
    if (v >= 2) w.int16(ErrorCode.NONE);
    return w;
  },
};
