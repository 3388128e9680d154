/** FindCoordinator (key 10), v0-1. This broker coordinates every group. */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

export const findCoordinatorApi: ApiDefinition = {
  key: 10,
  name: 'FindCoordinator',
  minVersion: 0,
  maxVersion: 1,
  handle(body, { apiVersion: v }, broker) {
    body.string(); // key (group id or transactional id)
    if (v >= 1) body.int8(); // key_type
    const w = new Writer();
    if (v >= 1) w.int32(0); // throttle_time_ms
    w.int16(ErrorCode.NONE);
    if (v >= 1) w.nullableString(null); // error_message
    w.int32(broker.nodeId).string(broker.advertisedHost).int32(broker.port);
    return w;
  },
};
