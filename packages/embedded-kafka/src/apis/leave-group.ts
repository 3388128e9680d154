/** LeaveGroup (key 13), v0. The remaining members rebalance right away. */
import { ApiDefinition } from '../broker-context';
import { Writer } from '../protocol';

export const leaveGroupApi: ApiDefinition = {
  key: 13,
  name: 'LeaveGroup',
  minVersion: 0,
  maxVersion: 0,
  handle(body, _header, broker) {
    const groupId = body.string();
    const memberId = body.string();
    return new Writer().int16(broker.groups.leave(groupId, memberId));
  },
};
