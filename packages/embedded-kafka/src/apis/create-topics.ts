/** CreateTopics (key 19), v0-2. Replication factor must be 1 or -1 (default): there is one node. */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';
import { isValidTopicName } from '../topic-store';

export const createTopicsApi: ApiDefinition = {
  key: 19,
  name: 'CreateTopics',
  minVersion: 0,
  maxVersion: 2,
  handle(body, { apiVersion: v }, broker) {
    const topics = body.array((r) => {
      const name = r.string();
      const numPartitions = r.int32();
      const replicationFactor = r.int16();
      const assignments = r.array((a) => ({ partition: a.int32(), brokers: a.array((b) => b.int32()) }));
      r.array((c) => ({ name: c.string(), value: c.nullableString() })); // configs: accepted, not applied
      return { name, numPartitions, replicationFactor, assignments };
    });
    body.int32(); // timeout_ms
    const validateOnly = v >= 1 ? body.bool() : false;

    const results = topics.map((t) => {
      const seen = topics.filter((o) => o.name === t.name).length;
      const partitions =
        t.assignments.length > 0 ? t.assignments.length : t.numPartitions === -1 ? broker.topics.defaultPartitions : t.numPartitions;
      let errorCode: number = ErrorCode.NONE;
      let message: string | null = null;
      if (seen > 1) [errorCode, message] = [ErrorCode.INVALID_REQUEST, 'topic listed more than once'];
      else if (!isValidTopicName(t.name)) [errorCode, message] = [ErrorCode.INVALID_TOPIC_EXCEPTION, `illegal topic name '${t.name}'`];
      else if (broker.topics.get(t.name)) [errorCode, message] = [ErrorCode.TOPIC_ALREADY_EXISTS, `topic '${t.name}' already exists`];
      else if (partitions <= 0) [errorCode, message] = [ErrorCode.INVALID_PARTITIONS, 'number of partitions must be positive'];
      else if (t.replicationFactor !== -1 && t.replicationFactor !== 1)
        [errorCode, message] = [ErrorCode.INVALID_REPLICATION_FACTOR, 'single-node broker: replication factor must be 1'];
      else if (!validateOnly) broker.topics.create(t.name, partitions);
      return { name: t.name, errorCode, message };
    });

    const w = new Writer();
    if (v >= 2) w.int32(0); // throttle_time_ms
    w.array(results, (tw, r) => {
      tw.string(r.name).int16(r.errorCode);
      if (v >= 1) tw.nullableString(r.message);
    });
    return w;
  },
};
