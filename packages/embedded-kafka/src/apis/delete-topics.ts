/** DeleteTopics (key 20), v0-1. Also drops the topic's committed offsets. */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

export const deleteTopicsApi: ApiDefinition = {
  key: 20,
  name: 'DeleteTopics',
  minVersion: 0,
  maxVersion: 1,
  handle(body, { apiVersion: v }, broker) {
    const names = body.array((r) => r.string());
    body.int32(); // timeout_ms
    const w = new Writer();
    if (v >= 1) w.int32(0); // throttle_time_ms
    w.array(names, (tw, name) => {
      const deleted = broker.topics.delete(name);
      if (deleted) broker.groups.forgetTopic(name);
      tw.string(name).int16(deleted ? ErrorCode.NONE : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    });
    return w;
  },
};
