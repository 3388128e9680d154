/** Heartbeat (key 12), v0. REBALANCE_IN_PROGRESS tells a member to rejoin. */
import { ApiDefinition } from '../broker-context';
import { Writer } from '../protocol';

export const heartbeatApi: ApiDefinition = {
  key: 12,
  name: 'Heartbeat',
  minVersion: 0,
  maxVersion: 0,
  handle(body, _header, broker) {
    const groupId = body.string();
    const generationId = body.int32();
    const memberId = body.string();
    return new Writer().int16(broker.groups.heartbeat(groupId, generationId, memberId));
  },
};
