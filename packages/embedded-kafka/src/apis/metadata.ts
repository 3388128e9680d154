/**
 * Metadata (key 3), v0-4. One broker (node 0) leads every partition.
 * Unknown topics are auto-created when the client allows it (always below v4) and the broker does
 * (autoCreateTopics, Kafka's auto.create.topics.enable).
 */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';
import { isValidTopicName } from '../topic-store';

export const metadataApi: ApiDefinition = {
  key: 3,
  name: 'Metadata',
  minVersion: 0,
  maxVersion: 4,
  handle(body, { apiVersion: v }, broker) {
    let requested = body.nullableArray((r) => r.string());
    const allowAutoCreate = v >= 4 ? body.bool() : true;
    // v0 has no null: an empty list means "all topics". From v1 empty means none.
    if (v === 0 && requested !== null && requested.length === 0) requested = null;
    const names = requested ?? broker.topics.names();

    const topics = names.map((name) => {
      let topic = broker.topics.get(name);
      let errorCode: number = ErrorCode.NONE;
      if (!topic) {
        if (!isValidTopicName(name)) errorCode = ErrorCode.INVALID_TOPIC_EXCEPTION;
        else if (allowAutoCreate && broker.autoCreateTopics) topic = broker.topics.create(name);
        else errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      }
      return { name, errorCode, partitions: topic?.partitions.length ?? 0 };
    });

    const w = new Writer();
    if (v >= 3) w.int32(0); // throttle_time_ms
    w.int32(1); // brokers
    w.int32(broker.nodeId).string(broker.advertisedHost).int32(broker.port);
    if (v >= 1) w.nullableString(null); // rack
    if (v >= 2) w.nullableString(broker.clusterId);
    if (v >= 1) w.int32(broker.nodeId); // controller_id
    w.array(topics, (tw, t) => {
      tw.int16(t.errorCode).string(t.name);
      if (v >= 1) tw.bool(false); // is_internal
      tw.int32(t.partitions);
      for (let i = 0; i < t.partitions; i++) {
        tw.int16(ErrorCode.NONE).int32(i).int32(broker.nodeId);
        tw.int32(1).int32(broker.nodeId); // replicas
        tw.int32(1).int32(broker.nodeId); // isr
      }
    });
    return w;
  },
};
