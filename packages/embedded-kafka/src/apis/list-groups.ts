/** ListGroups (key 16), v0-1. */
import { ApiDefinition } from '../broker-context';
import { ErrorCode } from '../error-codes';
import { Writer } from '../protocol';

export const listGroupsApi: ApiDefinition = {
  key: 16,
  name: 'ListGroups',
  minVersion: 0,
  maxVersion: 1,
  handle(_body, { apiVersion: v }, broker) {
    const w = new Writer();
    if (v >= 1) w.int32(0); // throttle_time_ms
    w.int16(ErrorCode.NONE);
    w.array(broker.groups.list(), (gw, g) => gw.string(g.groupId).string(g.protocolType));
    return w;
  },
};
